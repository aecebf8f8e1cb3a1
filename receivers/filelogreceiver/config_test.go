package filelogreceiver

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
)

func TestConfigDecodeAndValidate(t *testing.T) {
	cfg := createDefaultConfig()
	if err := configs.Decode("testdata/config.yaml", mustRead(t, "testdata/config.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.StartAt != StartAtBeginning || cfg.Parser.Type != ParserRegex || cfg.Multiline.LineStartPattern == "" || !cfg.IncludeFileName {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Include = nil }, "include: at least one glob"},
		{func(c *Config) { c.Include = []string{"/a/[x"} }, "include[0]: invalid glob"},
		{func(c *Config) { c.StartAt = "middle" }, "start_at: must be beginning or end"},
		{func(c *Config) { c.PollInterval = 0 }, "poll_interval: must be > 0"},
		{func(c *Config) { c.FingerprintSize = 4 }, "fingerprint_size: must be between"},
		{func(c *Config) { c.MaxLogSize = 0 }, "max_log_size: must be between"},
		{func(c *Config) { c.MaxConcurrentFiles = 0 }, "max_concurrent_files: must be ≥ 1"},
		{func(c *Config) { c.MaxBatchSize = 0 }, "max_batch_size: must be between"},
		{func(c *Config) { c.Encoding = "ebcdic" }, "encoding: unknown encoding"},
		{func(c *Config) { c.Multiline = MultilineConfig{LineStartPattern: "a", LineEndPattern: "b"} }, "set only one of"},
		{func(c *Config) { c.Multiline.LineEndPattern = "(" }, "multiline.line_end_pattern"},
		{func(c *Config) { c.Compression = "zip" }, "compression: must be gzip or auto"},
		{func(c *Config) { c.Parser = &ParserConfig{Type: "xml"} }, "parser: type: must be json, regex or logfmt"},
		{func(c *Config) { c.Parser = &ParserConfig{Type: ParserRegex, Regex: "(a)"} }, "has no named group"},
		{func(c *Config) {
			c.Parser = &ParserConfig{Type: ParserJSON, Timestamp: &TimestampConfig{ParseFrom: "t", LayoutType: LayoutEpoch, Layout: "days"}}
		}, "epoch layout must be"},
		{func(c *Config) {
			c.Parser = &ParserConfig{Type: ParserJSON, Severity: &SeverityConfig{ParseFrom: "l", Mapping: map[string]string{"x": "loud"}}}
		}, "is not an OpenTelemetry severity"},
	}
	for _, c := range cases {
		cfg := createDefaultConfig()
		cfg.Include = []string{"/var/log/*.log"}
		c.edit(cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate() = %v, want an error containing %q", err, c.want)
		}
	}
}

// fmtRaw prints a raw attribute map with sorted keys.
func fmtRaw(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%#v;", k, m[k])
	}
	return b.String()
}
