package journaldreceiver

import (
	"bufio"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
)

func newTestReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 16) }

func TestConfig(t *testing.T) {
	mod := func(f func(*Config)) *Config { c := createDefaultConfig(); f(c); return c }
	for _, c := range []struct {
		name string
		cfg  *Config
		want string
	}{
		{"defaults", createDefaultConfig(), ""},
		{"both sources", mod(func(c *Config) { c.Directory, c.Files = "/d", []string{"/f"} }), "directory, files: set at most one"},
		{"priority", mod(func(c *Config) { c.Priority = "loud" }), "priority: want one of"},
		{"start_at", mod(func(c *Config) { c.StartAt = "middle" }), "start_at: want beginning or end"},
		{"no journalctl", mod(func(c *Config) { c.JournalctlPath = "" }), "journalctl_path: required"},
		{"bad match", mod(func(c *Config) { c.Matches = []map[string]string{{"unit": "x"}} }), "matches[0]: invalid field name"},
		{"empty match", mod(func(c *Config) { c.Matches = []map[string]string{{}} }), "matches[0]: empty"},
		{"empty unit", mod(func(c *Config) { c.Units = []string{""} }), "units[0]: empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	c := createDefaultConfig()
	c.Files = []string{"/j/a.journal"}
	c.Units = []string{"plc.service"}
	c.Identifiers = []string{"gw"}
	c.Priority = "warning"
	c.Matches = []map[string]string{{"_SYSTEMD_UNIT": "a.service", "_PID": "1"}, {"_COMM": "gw"}}
	got, err := c.args("")
	if err != nil {
		t.Fatal(err)
	}
	want := "--output=json --follow --no-pager --all --quiet --priority=warning --file=/j/a.journal --unit=plc.service --identifier=gw --lines=0 _PID=1 _SYSTEMD_UNIT=a.service + _COMM=gw"
	if strings.Join(got, " ") != want {
		t.Fatalf("args\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	c.StartAt = StartAtBeginning
	if got, _ := c.args(""); !strings.Contains(strings.Join(got, " "), "--no-tail") {
		t.Fatalf("beginning: %v", got)
	}
	if got, _ := c.args("s=1;i=2"); !strings.Contains(strings.Join(got, " "), "--after-cursor=s=1;i=2 --no-tail") {
		t.Fatalf("cursor: %v", got)
	}
}

// TestConfigFile decodes every key strictly.
func TestConfigFile(t *testing.T) {
	data, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	if err := configs.Decode("testdata/config.yaml", data, cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Directory != "/var/log/journal" || len(cfg.Units) != 2 || cfg.Identifiers[0] != "gw" || cfg.Priority != "notice" ||
		len(cfg.Matches) != 2 || cfg.Matches[0]["_TRANSPORT"] != "stdout" || cfg.StartAt != StartAtBeginning || cfg.JournalctlPath != "/usr/bin/journalctl" {
		t.Fatalf("decoded %+v", cfg)
	}
}
