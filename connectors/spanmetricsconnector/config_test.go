package spanmetricsconnector

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // one prefix per expected error; none: valid
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "exponential", edit: func(c *Config) { c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 20} }},
		{name: "re-added default dimension", edit: func(c *Config) {
			c.ExcludeDimensions = []string{DimSpanName}
			c.Dimensions = []Dimension{{Name: DimSpanName, Default: str("x")}}
		}},
		{name: "bad unit", edit: func(c *Config) { c.Histogram.Unit = "us" }, want: []string{`histogram.unit: must be "ms" or "s"`}},
		{name: "both histograms", edit: func(c *Config) {
			c.Histogram.Explicit = &ExplicitHistogramConfig{Buckets: DefaultBuckets}
			c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 160}
		}, want: []string{"histogram: use explicit or exponential"}},
		{name: "no buckets", edit: func(c *Config) { c.Histogram.Explicit = &ExplicitHistogramConfig{} }, want: []string{"histogram.explicit.buckets: must have 1 to 200"}},
		{name: "unordered buckets", edit: func(c *Config) {
			c.Histogram.Explicit = &ExplicitHistogramConfig{Buckets: []time.Duration{time.Second, time.Millisecond}}
		}, want: []string{"histogram.explicit.buckets[1]: bounds must be"}},
		{name: "max_size", edit: func(c *Config) { c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 1} }, want: []string{"histogram.exponential.max_size:"}},
		{name: "dimension twice", edit: func(c *Config) { c.Dimensions = []Dimension{{Name: "a"}, {Name: "a"}} }, want: []string{`dimensions[1].name: "a" is named twice`}},
		{name: "empty dimension", edit: func(c *Config) { c.Dimensions = []Dimension{{}} }, want: []string{"dimensions[0].name: must not be empty"}},
		{name: "default dimension", edit: func(c *Config) { c.Dimensions = []Dimension{{Name: DimSpanKind}} }, want: []string{`dimensions[0].name: "span.kind" is a default`}},
		{name: "bad exclude", edit: func(c *Config) { c.ExcludeDimensions = []string{"http.method"} }, want: []string{`exclude_dimensions[0]: "http.method"`}},
		{name: "temporality", edit: func(c *Config) { c.AggregationTemporality = "DELTA" }, want: []string{"aggregation_temporality: must be"}},
		{name: "zero interval", edit: func(c *Config) { c.MetricsFlushInterval = 0 }, want: []string{"metrics_flush_interval: must be > 0"}},
		{name: "negative expiration", edit: func(c *Config) { c.MetricsExpiration = -time.Second }, want: []string{"metrics_expiration:"}},
		{name: "empty key attribute", edit: func(c *Config) { c.ResourceMetricsKeyAttributes = []string{""} }, want: []string{"resource_metrics_key_attributes[0]:"}},
		{name: "zero resources", edit: func(c *Config) { c.ResourceMetricsCacheSize = 0 }, want: []string{"resource_metrics_cache_size:"}},
		{name: "negative limit", edit: func(c *Config) { c.AggregationCardinalityLimit = -1 }, want: []string{"aggregation_cardinality_limit:"}},
		{name: "zero max_series", edit: func(c *Config) { c.MaxSeries = 0 }, want: []string{"max_series:"}},
		{name: "exemplars", edit: func(c *Config) { c.Exemplars.MaxPerDataPoint = 0 }, want: []string{"exemplars.max_per_data_point:"}},
		{name: "events without dimensions", edit: func(c *Config) { c.Events.Enabled = true }, want: []string{"events.dimensions: must name"}},
		{
			name: "every problem",
			edit: func(c *Config) { *c = Config{} },
			want: []string{"histogram.unit:", "aggregation_temporality:", "metrics_flush_interval:", "resource_metrics_cache_size:", "max_series:", "exemplars.max_per_data_point:"},
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
	get := "GET"
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Histogram: HistogramConfig{Unit: "s", Explicit: &ExplicitHistogramConfig{
			Buckets: []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond}}},
		Dimensions:                   []Dimension{{Name: "http.method", Default: &get}, {Name: "http.status_code"}},
		ExcludeDimensions:            []string{"status.code"},
		AggregationTemporality:       TemporalityDelta,
		Namespace:                    "span.metrics",
		MetricsFlushInterval:         30 * time.Second,
		MetricsExpiration:            5 * time.Minute,
		ResourceMetricsKeyAttributes: []string{"service.name", "telemetry.sdk.language"},
		ResourceMetricsCacheSize:     1600,
		AggregationCardinalityLimit:  500,
		MaxSeries:                    4000,
		Exemplars:                    ExemplarsConfig{Enabled: true, MaxPerDataPoint: 3},
		Events:                       EventsConfig{Enabled: true, Dimensions: []Dimension{{Name: "exception.type"}}},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if got := cfg.bounds(); !reflect.DeepEqual(got, []float64{0.01, 0.1, 0.25}) {
		t.Errorf("bounds in seconds = %v", got)
	}

	// Naming the exponential section gives it its defaults.
	cfg, err = decode(t, "exponential.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Histogram.Exponential; e == nil || e.MaxSize != DefaultExponentialMaxSize || cfg.histogramKind() != histExponential {
		t.Errorf("exponential section = %+v", e)
	}
	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "dimensions_cache_size") {
		t.Errorf("unknown key: %v, want an error naming dimensions_cache_size", err)
	}
}

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "spanmetrics" || !f.Supports(pipeline.SignalTraces, pipeline.SignalMetrics) || f.Supports(pipeline.SignalTraces, pipeline.SignalTraces) {
		t.Fatalf("factory %q: traces → metrics only expected", f.Type)
	}
	set := pipeline.Settings{ID: pipeline.MustID("spanmetrics")}
	for name, tc := range map[string]struct {
		cfg  pipeline.Config
		next pipeline.Consumers
		want string
	}{
		"wrong config": {otherConfig{}, pipeline.Consumers{Metrics: &sink{}}, "config is"},
		"invalid":      {&Config{}, pipeline.Consumers{Metrics: &sink{}}, "histogram.unit:"},
		"no metrics":   {createDefaultConfig(), pipeline.Consumers{}, "no metrics pipeline"},
	} {
		_, err := f.Create(context.Background(), set, tc.cfg, tc.next)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	c, err := f.Create(context.Background(), set, f.CreateDefaultConfig(), pipeline.Consumers{Metrics: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(consumer.Traces); !ok {
		t.Error("the connector does not take traces")
	}
}
