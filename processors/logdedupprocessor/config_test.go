package logdedupprocessor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // one prefix per expected error; none: valid
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "nested fields", edit: func(c *Config) { c.ExcludeFields = []string{"body.a.b", `attributes.a\.b.c`} }},
		{name: "zero interval", edit: func(c *Config) { c.Interval = 0 }, want: []string{"interval: must be > 0"}},
		{name: "empty count attribute", edit: func(c *Config) { c.LogCountAttribute = "" }, want: []string{"log_count_attribute:"}},
		{name: "bad timezone", edit: func(c *Config) { c.Timezone = "Mars/Olympus" }, want: []string{"timezone:"}},
		{name: "whole body", edit: func(c *Config) { c.ExcludeFields = []string{"body"} }, want: []string{`exclude_fields[0]: "body": names no field`}},
		{name: "bad root", edit: func(c *Config) { c.ExcludeFields = []string{"resource.x"} }, want: []string{`exclude_fields[0]: "resource.x": must start with`}},
		{name: "empty key", edit: func(c *Config) { c.ExcludeFields = []string{"body.a..b"} }, want: []string{"exclude_fields[0]:"}},
		{name: "zero max bytes", edit: func(c *Config) { c.MaxBytes = 0 }, want: []string{"max_bytes: must be > 0"}},
		{
			name: "every problem",
			edit: func(c *Config) { *c = Config{Timezone: "UTC", ExcludeFields: []string{"x"}} },
			want: []string{"interval:", "log_count_attribute:", "exclude_fields[0]:", "max_bytes:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig()
			tc.edit(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("nil, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d errors, want %d: %v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParseField(t *testing.T) {
	for in, want := range map[string]fieldPath{
		"body.ts":               {body: true, keys: []string{"ts"}},
		`attributes.host\.name`: {keys: []string{"host.name"}},
		`attributes.src.ip`:     {keys: []string{"src", "ip"}},
		`body.a\.b.c\.d`:        {body: true, keys: []string{"a.b", "c.d"}},
	} {
		got, err := parseField(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseField(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func decode(t *testing.T, name string) (*Config, error) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, configs.Decode(name, raw, cfg)
}

func TestDecodeConfig(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Interval: time.Minute, LogCountAttribute: "dedup_count", Timezone: "UTC",
		ExcludeFields: []string{"body.timestamp", `attributes.host\.name`}, MaxBytes: 4 << 20}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "conditions") {
		t.Errorf("unknown key: %v, want an error naming conditions", err)
	}
}

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "log_dedup" || !f.Supports(pipeline.SignalLogs) || f.Supports(pipeline.SignalMetrics) || f.Supports(pipeline.SignalTraces) {
		t.Fatalf("factory %q: logs only expected", f.Type)
	}
	set := pipeline.Settings{ID: pipeline.MustID("log_dedup")}
	for name, tc := range map[string]struct {
		cfg  pipeline.Config
		next *sink
		want string
	}{
		"wrong config": {otherConfig{}, &sink{}, "unexpected config type"},
		"invalid":      {&Config{}, &sink{}, "interval:"},
		"nil next":     {createDefaultConfig(), nil, "nil next consumer"},
	} {
		var err error
		if tc.next == nil {
			_, err = f.CreateLogs(context.Background(), set, tc.cfg, nil)
		} else {
			_, err = f.CreateLogs(context.Background(), set, tc.cfg, tc.next)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	p, err := f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), &sink{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Capabilities().MutatesData {
		t.Error("MutatesData false")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// FuzzParseField: any exclude_fields string parses to a path of non-empty
// keys under body or attributes, or is refused; it never panics.
func FuzzParseField(f *testing.F) {
	for _, s := range []string{"body.ts", `attributes.a\.b.c`, "body", "x.y", `attributes.\`, "attributes..a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseField(s)
		if err != nil {
			return
		}
		if len(p.keys) == 0 || !strings.HasPrefix(s, "body.") && !strings.HasPrefix(s, "attributes.") {
			t.Fatalf("parseField(%q) = %+v, accepted", s, p)
		}
		for _, k := range p.keys {
			if k == "" {
				t.Fatalf("parseField(%q): empty key accepted", s)
			}
		}
	})
}
