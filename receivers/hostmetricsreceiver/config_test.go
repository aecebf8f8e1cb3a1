package hostmetricsreceiver

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

func decode(t *testing.T, src string) *Config {
	t.Helper()
	cfg := createDefaultConfig()
	if err := configs.Decode("test.yaml", []byte(src), cfg); err != nil {
		t.Fatalf("decode %q: %v", src, err)
	}
	return cfg
}

func TestConfigDefaults(t *testing.T) {
	cfg := decode(t, "scrapers:\n  cpu: {}\n  memory:\n  filesystem: {}\n")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.CollectionInterval != DefaultCollectionInterval || cfg.InitialDelay != DefaultInitialDelay {
		t.Errorf("intervals %s %s", cfg.CollectionInterval, cfg.InitialDelay)
	}
	if cfg.Scrapers.CPU == nil || cfg.Scrapers.Memory == nil || cfg.Scrapers.Disk != nil {
		t.Errorf("scrapers %+v", cfg.Scrapers)
	}
	fs := cfg.Scrapers.Filesystem
	if fs.StatfsTimeout != DefaultStatfsTimeout || fs.ExcludeFSTypes.MatchType != MatchStrict {
		t.Errorf("filesystem defaults %+v", fs)
	}
	for _, typ := range []string{"nfs", "nfs4", "cifs", "fuse.sshfs"} {
		if !newFilesystemScraper(fs, "").fsTypes.exclude.match(typ) {
			t.Errorf("%s not excluded by default", typ)
		}
	}
	// Setting exclude_fs_types replaces the default list.
	cfg = decode(t, "scrapers: {filesystem: {exclude_fs_types: {fs_types: [tmpfs], match_type: strict}, statfs_timeout: 500ms}}")
	fs = cfg.Scrapers.Filesystem
	if len(fs.ExcludeFSTypes.FSTypes) != 1 || fs.StatfsTimeout != 500*time.Millisecond {
		t.Errorf("filesystem %+v", fs)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{"collection_interval: 0s", []string{"collection_interval: must be > 0", "scrapers: must name at least one"}},
		{"root_path: hostfs\nscrapers: {cpu: {}}", []string{"root_path: must be an absolute path"}},
		{"scrapers: {cpu: {metrics: {system.cpu.utilisation: {enabled: true}}}}", []string{"scrapers.cpu.metrics.system.cpu.utilisation: not a metric of this scraper"}},
		{"scrapers: {network: {include: {interfaces: [eth0]}}}", []string{"scrapers.network.include.match_type: required"}},
		{"scrapers: {disk: {exclude: {devices: ['(loop'], match_type: regexp}}}", []string{"scrapers.disk.exclude.devices[0]: invalid regular expression"}},
		{"scrapers: {filesystem: {exclude_mount_points: {mount_points: [/x], match_type: glob}, statfs_timeout: 0s}}",
			[]string{"scrapers.filesystem.exclude_mount_points.match_type: must be strict or regexp", "scrapers.filesystem.statfs_timeout: must be > 0"}},
	} {
		err := decode(t, tc.src).Validate()
		if err == nil {
			t.Errorf("%q: no error", tc.src)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %q", tc.src, err, w)
			}
		}
	}
	// Unknown keys are refused by the strict decoder.
	cfg := createDefaultConfig()
	if err := configs.Decode("t.yaml", []byte("scrapers: {cpu: {percpu: true}}"), cfg); err == nil {
		t.Error("unknown key accepted")
	}
}

// docExample returns the YAML example of a receiver's section in
// docs/configuration.md, as the receiver's own section (dedented).
func docExample(t *testing.T, heading, typ string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/configuration.md has no %q", heading)
	}
	s = s[i:]
	start := strings.Index(s, "```yaml\n")
	end := strings.Index(s[start+8:], "```")
	block := s[start+8 : start+8+end]
	prefix := "receivers:\n  " + typ + ":\n"
	if !strings.HasPrefix(block, prefix) {
		t.Fatalf("example does not start with %q", prefix)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimPrefix(block, prefix), "\n") {
		out = append(out, strings.TrimPrefix(line, "    "))
	}
	return strings.Join(out, "\n")
}

// TestDocExample: the example in docs/configuration.md decodes and is
// valid.
func TestDocExample(t *testing.T) {
	cfg := decode(t, docExample(t, "### `hostmetrics`", Type))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.RootPath != "/hostfs" || cfg.Scrapers.Processes == nil || cfg.Scrapers.Filesystem.StatfsTimeout != DefaultStatfsTimeout {
		t.Errorf("decoded %+v", cfg)
	}
}

func configsDecode(src string, cfg *Config) error {
	return configs.Decode("bench.yaml", []byte(src), cfg)
}
