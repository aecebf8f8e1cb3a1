package probabilisticsamplerprocessor

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
)

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
	want := Config{SamplingPercentage: pct(15.3), HashSeed: 22, Mode: ModeEqualizing, SamplingPrecision: 6,
		FailClosed: false, AttributeSource: SourceRecord, FromAttribute: "request.id", SamplingPriority: "priority",
		LogsWithoutTraceID: UntracedSample}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "sampler_mode") {
		t.Errorf("unknown key: %v, want an error naming sampler_mode", err)
	}
}

func TestDefaults(t *testing.T) {
	c := createDefaultConfig()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sampling_percentage: required") {
		t.Errorf("defaults validate: %v, want sampling_percentage required", err)
	}
	c.SamplingPercentage = pct(10)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit       func(*Config)
		traces     string
		logs       string
		failClosed bool
	}{
		{func(*Config) {}, ModeProportional, ModeProportional, true},
		{func(c *Config) { c.HashSeed = 1 }, ModeHashSeed, ModeHashSeed, true},
		{func(c *Config) { c.AttributeSource = SourceRecord }, ModeProportional, ModeHashSeed, true},
		{func(c *Config) { c.HashSeed = 1; c.Mode = ModeEqualizing }, ModeEqualizing, ModeEqualizing, true},
	} {
		c := config(10, tc.edit)
		if c.mode(false) != tc.traces || c.mode(true) != tc.logs || c.FailClosed != tc.failClosed {
			t.Errorf("%+v: modes %s/%s, want %s/%s", c, c.mode(false), c.mode(true), tc.traces, tc.logs)
		}
	}
	if c := createDefaultConfig(); c.SamplingPrecision != 4 || c.AttributeSource != "traceID" || c.LogsWithoutTraceID != "keep" {
		t.Errorf("defaults %+v", c)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{name: "valid", edit: func(*Config) {}},
		{name: "zero", edit: func(c *Config) { c.SamplingPercentage = pct(0) }},
		{name: "above 100", edit: func(c *Config) { c.SamplingPercentage = pct(250) }},
		{name: "negative", edit: func(c *Config) { c.SamplingPercentage = pct(-1) }, want: []string{"sampling_percentage: must be ≥ 0"}},
		{name: "too small", edit: func(c *Config) { c.SamplingPercentage = pct(1e-16) }, want: []string{"sampling_percentage: 1e-16 is below"}},
		{name: "infinite", edit: func(c *Config) { c.SamplingPercentage = pct(float32(math.Inf(1))) }, want: []string{"sampling_percentage: invalid"}},
		{name: "mode", edit: func(c *Config) { c.Mode = "downsample" }, want: []string{`mode: "downsample"`}},
		{name: "precision 0", edit: func(c *Config) { c.SamplingPrecision = 0 }, want: []string{"sampling_precision: must be 1 to 14"}},
		{name: "precision 15", edit: func(c *Config) { c.SamplingPrecision = 15 }, want: []string{"sampling_precision: must be 1 to 14"}},
		{name: "source", edit: func(c *Config) { c.AttributeSource = "traceid" }, want: []string{`attribute_source: "traceid"`}},
		{name: "untraced", edit: func(c *Config) { c.LogsWithoutTraceID = "drop" }, want: []string{`logs_without_trace_id: "drop"`}},
		{name: "every problem", edit: func(c *Config) { *c = Config{} },
			want: []string{"sampling_percentage:", "sampling_precision:", "attribute_source:", "logs_without_trace_id:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(10, tc.edit)
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

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "probabilistic_sampler" || !f.Supports(pipeline.SignalTraces) || !f.Supports(pipeline.SignalLogs) || f.Supports(pipeline.SignalMetrics) {
		t.Fatalf("factory %q: traces and logs expected", f.Type)
	}
	set := pipeline.Settings{ID: pipeline.MustID("probabilistic_sampler")}
	ctx := context.Background()
	if _, err := f.CreateTraces(ctx, set, otherConfig{}, &traceSink{}); err == nil || !strings.Contains(err.Error(), "unexpected config type") {
		t.Errorf("wrong config: %v", err)
	}
	if _, err := f.CreateLogs(ctx, set, f.CreateDefaultConfig(), &logSink{}); err == nil || !strings.Contains(err.Error(), "sampling_percentage") {
		t.Errorf("invalid config: %v", err)
	}
	if _, err := f.CreateTraces(ctx, set, config(10, nil), nil); err == nil || !strings.Contains(err.Error(), "nil next") {
		t.Errorf("nil next: %v", err)
	}
	tp, err := f.CreateTraces(ctx, set, config(10, nil), &traceSink{})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := f.CreateLogs(ctx, set, config(10, nil), &logSink{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []pipeline.Component{tp, lp} {
		if err := c.Start(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !tp.Capabilities().MutatesData || !lp.Capabilities().MutatesData {
		t.Error("MutatesData false")
	}
}
