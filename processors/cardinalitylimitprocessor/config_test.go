package cardinalitylimitprocessor

import (
	"context"
	"os"
	"path/filepath"
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
		want []string
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "max equals limit", edit: func(c *Config) { c.MaxSeries = c.Limit }},
		{name: "zero limit", edit: func(c *Config) { c.Limit = 0 }, want: []string{"limit: must be ≥ 1 (got 0)"}},
		{name: "zero expiry", edit: func(c *Config) { c.ExpireAfter = 0 }, want: []string{"expire_after: must be > 0"}},
		{name: "max below limit", edit: func(c *Config) { c.MaxSeries = c.Limit - 1 }, want: []string{"max_series: must be ≥ limit (got 1999, limit 2000)"}},
		{name: "every problem", edit: func(c *Config) { *c = Config{} }, want: []string{"limit:", "expire_after:", "max_series:"}},
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
	if want := (Config{Limit: 1000, ExpireAfter: 10 * time.Minute, MaxSeries: 20000}); *cfg != want {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "cardinality_limit") {
		t.Errorf("unknown key: %v", err)
	}
}

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "cardinality_limit" || !f.Supports(pipeline.SignalMetrics) || f.Supports(pipeline.SignalLogs) {
		t.Fatalf("factory %q: metrics only expected", f.Type)
	}
	set := pipeline.Settings{ID: pipeline.MustID("cardinality_limit")}
	if _, err := f.CreateMetrics(context.Background(), set, otherConfig{}, &sink{}); err == nil || !strings.Contains(err.Error(), "unexpected config type") {
		t.Errorf("wrong config: %v", err)
	}
	if _, err := f.CreateMetrics(context.Background(), set, &Config{}, &sink{}); err == nil || !strings.Contains(err.Error(), "limit:") {
		t.Errorf("invalid: %v", err)
	}
	if _, err := f.CreateMetrics(context.Background(), set, f.CreateDefaultConfig(), nil); err == nil || !strings.Contains(err.Error(), "nil next") {
		t.Errorf("nil next: %v", err)
	}
	p, err := f.CreateMetrics(context.Background(), set, f.CreateDefaultConfig(), &sink{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !p.Capabilities().MutatesData {
		t.Error("MutatesData false")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
