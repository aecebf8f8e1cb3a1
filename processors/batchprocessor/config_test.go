package batchprocessor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // substrings, one per expected error; none: valid
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "max equals size", edit: func(c *Config) { c.SendBatchMaxSize = c.SendBatchSize }},
		{name: "zero timeout", edit: func(c *Config) { c.Timeout = 0 }},
		{name: "max in flight 64", edit: func(c *Config) { c.MaxInFlight = 64 }},
		{
			name: "zero size",
			edit: func(c *Config) { c.SendBatchSize = 0 },
			want: []string{"send_batch_size: must be > 0 (got 0)"},
		},
		{
			name: "max below size",
			edit: func(c *Config) { c.SendBatchSize, c.SendBatchMaxSize = 100, 99 },
			want: []string{"send_batch_max_size: must be 0 or ≥ send_batch_size (got 99, send_batch_size 100)"},
		},
		{
			name: "negative max",
			edit: func(c *Config) { c.SendBatchMaxSize = -1 },
			want: []string{"send_batch_max_size: must be 0 or ≥ send_batch_size"},
		},
		{
			name: "negative timeout",
			edit: func(c *Config) { c.Timeout = -time.Second },
			want: []string{"timeout: must be ≥ 0 (got -1s)"},
		},
		{
			name: "no flush slot",
			edit: func(c *Config) { c.MaxInFlight = 0 },
			want: []string{"max_in_flight: must be between 1 and 64 (got 0)"},
		},
		{
			name: "too many flush slots",
			edit: func(c *Config) { c.MaxInFlight = 65 },
			want: []string{"max_in_flight: must be between 1 and 64 (got 65)"},
		},
		{
			name: "every problem reported",
			edit: func(c *Config) { *c = Config{SendBatchSize: -1, SendBatchMaxSize: -2, Timeout: -1} },
			want: []string{"send_batch_size:", "send_batch_max_size:", "timeout:", "max_in_flight:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			tc.edit(cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("Validate: %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// decode decodes a testdata file strictly onto the factory's defaults, as
// the configs package does.
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
	want := Config{SendBatchSize: 1000, SendBatchMaxSize: 1500, Timeout: time.Second, FlushWhenIdle: false, MaxInFlight: 4}
	if *cfg != want {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}

	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "max_batch_size") {
		t.Errorf("unknown key: %v, want an error naming max_batch_size", err)
	}
}

func TestDefaults(t *testing.T) {
	want := Config{SendBatchSize: 8192, SendBatchMaxSize: 0, Timeout: 200 * time.Millisecond, FlushWhenIdle: true, MaxInFlight: 2}
	if got := *createDefaultConfig(); got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}

func ExampleConfig_Validate() {
	cfg := &Config{SendBatchSize: 8192, SendBatchMaxSize: 100, Timeout: time.Second}
	fmt.Println(cfg.Validate())
	// Output:
	// send_batch_max_size: must be 0 or ≥ send_batch_size (got 100, send_batch_size 8192)
	// max_in_flight: must be between 1 and 64 (got 0)
}
