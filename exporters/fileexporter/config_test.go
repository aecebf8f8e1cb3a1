package fileexporter

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

// decode decodes YAML strictly onto the factory's defaults, enabling the
// rotation section with its defaults when it is named, as the config loader
// does for configs.Defaulter.
func decode(t *testing.T, src []byte) (*Config, error) {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, configs.Decode("test.yaml", src, cfg)
}

func TestConfigDefaults(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	if cfg.Format != "json" || cfg.FlushInterval != time.Second || cfg.FSync || cfg.Rotation != nil || cfg.Path != "" {
		t.Fatalf("defaults = %+v", *cfg)
	}
	if err := cfg.Validate(); err == nil || err.Error() != "path: required" {
		t.Fatalf("defaults without a path: %v", err)
	}
}

func TestConfigDecode(t *testing.T) {
	src, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := decode(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Path:          "/var/lib/outpost/export/telemetry.jsonl",
		Format:        "json",
		FlushInterval: 200 * time.Millisecond,
		FSync:         true,
	}
	got := *cfg
	got.Rotation = nil
	if got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	if cfg.Rotation == nil || *cfg.Rotation != (Rotation{MaxSize: 10 << 20, MaxBackups: 5}) {
		t.Fatalf("rotation = %+v, want 10MiB and the default 5 backups", cfg.Rotation)
	}

	cfg, err = decode(t, []byte("path: x\nrotation: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.Rotation != (Rotation{MaxSize: 100 << 20, MaxBackups: 5}) {
		t.Fatalf("rotation: {} = %+v", *cfg.Rotation)
	}

	for _, bad := range []string{
		"path: x\nflush: 1s\n",
		"path: x\nrotation:\n  max_files: 3\n",
		"path: x\nrotation:\n  max_size: lots\n",
		"path: x\nflush_interval: soon\n",
	} {
		if _, err := decode(t, []byte(bad)); err == nil {
			t.Errorf("decoded %q without error", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(name, src string, want ...string) {
		t.Run(name, func(t *testing.T) {
			cfg, err := decode(t, []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if len(want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(want) {
				t.Fatalf("got errors %q, want %d", lines, len(want))
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
	f("ok", "path: /tmp/x.jsonl\nflush_interval: 0s\nrotation: {max_backups: 0}\n")
	f("no path", "format: json\n", "path: required")
	f("format", "path: x\nformat: proto\n", `format: unsupported value "proto"`)
	f("negative interval", "path: x\nflush_interval: -1s\n", "flush_interval: must not be negative")
	f("rotation", "path: x\nrotation: {max_size: 0, max_backups: -1}\n",
		"rotation.max_size: must be positive", "rotation.max_backups: must not be negative")
	f("all", "format: text\nflush_interval: -1ms\nrotation: {max_size: 0B}\n",
		"path:", "format:", "flush_interval:", "rotation.max_size:")
}
