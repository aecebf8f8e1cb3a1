package spanmetricsconnector

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Default values of the configuration (the Collector contrib connector's,
// except where outpost bounds what the Collector leaves unbounded).
const (
	DefaultNamespace                = "traces.span.metrics"
	DefaultFlushInterval            = 60 * time.Second
	DefaultExponentialMaxSize       = 160
	DefaultResourceMetricsCacheSize = 1000
	DefaultMaxSeries                = 20000
	DefaultExemplarsPerDataPoint    = 5
	maxExemplarsPerDataPoint        = 1000
	maxExplicitBuckets              = 200
	minExponentialMaxSize           = 2
	maxExponentialMaxSize           = 16384
)

// Aggregation temporalities, as written in configuration.
const (
	TemporalityCumulative = "AGGREGATION_TEMPORALITY_CUMULATIVE"
	TemporalityDelta      = "AGGREGATION_TEMPORALITY_DELTA"
)

// Histogram units.
const (
	UnitMilliseconds = "ms"
	UnitSeconds      = "s"
)

// The dimensions every calls and duration series has, unless excluded.
const (
	DimServiceName = "service.name"
	DimSpanName    = "span.name"
	DimSpanKind    = "span.kind"
	DimStatusCode  = "status.code"
)

var defaultDimensions = []string{DimServiceName, DimSpanName, DimSpanKind, DimStatusCode}

// DefaultBuckets are the explicit histogram's default bucket bounds.
var DefaultBuckets = []time.Duration{
	2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	400 * time.Millisecond, 800 * time.Millisecond, time.Second, 1400 * time.Millisecond,
	2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
}

// Config is the spanmetrics connector's configuration. The keys are the
// OpenTelemetry Collector contrib spanmetrics connector's, less
// dimensions_cache_size (deprecated there; outpost keeps no such cache),
// calls_dimensions, histogram.dimensions, include_instrumentation_scope,
// add_resource_attributes and delta_temporality, plus max_series.
type Config struct {
	// Histogram configures the duration metric.
	Histogram HistogramConfig `yaml:"histogram"`
	// Dimensions are added to the default ones (service.name, span.name,
	// span.kind, status.code): each is looked up in the span's attributes,
	// then in its resource's; a span that has neither gets Default, or
	// no such dimension when Default is not set.
	Dimensions []Dimension `yaml:"dimensions"`
	// ExcludeDimensions removes default dimensions (any of service.name,
	// span.name, span.kind, status.code).
	ExcludeDimensions []string `yaml:"exclude_dimensions"`
	// AggregationTemporality is AGGREGATION_TEMPORALITY_CUMULATIVE (totals
	// since the series started) or AGGREGATION_TEMPORALITY_DELTA (what
	// arrived since the previous flush).
	AggregationTemporality string `yaml:"aggregation_temporality"`
	// Namespace prefixes the metric names with "<namespace>."; empty: no
	// prefix (calls, duration, events).
	Namespace string `yaml:"namespace"`
	// MetricsFlushInterval is how often the metrics are sent on (> 0).
	MetricsFlushInterval time.Duration `yaml:"metrics_flush_interval"`
	// MetricsExpiration removes a series that got no span for this long
	// (it is no longer sent); 0 keeps series for as long as the connector
	// runs (bounded by the limits below).
	MetricsExpiration time.Duration `yaml:"metrics_expiration"`
	// ResourceMetricsKeyAttributes names the resource attributes that
	// identify a resource (all of them when empty): spans whose resources
	// agree on these share series, under the attributes of the first
	// resource seen.
	ResourceMetricsKeyAttributes []string `yaml:"resource_metrics_key_attributes"`
	// ResourceMetricsCacheSize is the most resources tracked at once
	// (> 0). Spans of a further resource are counted in the overflow
	// resource's overflow series (see the package documentation).
	ResourceMetricsCacheSize int `yaml:"resource_metrics_cache_size"`
	// AggregationCardinalityLimit is the most series of one metric per
	// resource, the overflow series not included; spans of further
	// dimension sets are counted in that resource's overflow series
	// (otel.metric.overflow=true). 0: no per-resource limit (max_series
	// still holds).
	AggregationCardinalityLimit int `yaml:"aggregation_cardinality_limit"`
	// MaxSeries is the most series of all resources together (> 0),
	// overflow series not included: the bound on the connector's state.
	MaxSeries int `yaml:"max_series"`
	// Exemplars configures exemplars on the duration metric.
	Exemplars ExemplarsConfig `yaml:"exemplars"`
	// Events configures the events metric.
	Events EventsConfig `yaml:"events"`
}

// HistogramConfig configures the duration metric: an explicit histogram
// (the default) or an exponential one, in milliseconds or seconds.
type HistogramConfig struct {
	// Disable turns the duration metric off.
	Disable bool `yaml:"disable"`
	// Unit is "ms" (default) or "s".
	Unit string `yaml:"unit"`
	// Explicit selects an explicit-bucket histogram (the default when
	// neither is set).
	Explicit *ExplicitHistogramConfig `yaml:"explicit"`
	// Exponential selects an exponential (base-2) histogram.
	Exponential *ExponentialHistogramConfig `yaml:"exponential"`
}

// ExplicitHistogramConfig gives the bucket bounds as durations.
type ExplicitHistogramConfig struct {
	// Buckets are the upper bounds, increasing (1 to 200 of them); a
	// bucket holds the durations greater than the previous bound and up
	// to its own, and one more bucket those above the last.
	Buckets []time.Duration `yaml:"buckets"`
}

// SetDefaults gives the default buckets to an `explicit:` section.
func (c *ExplicitHistogramConfig) SetDefaults() { c.Buckets = slices.Clone(DefaultBuckets) }

// ExponentialHistogramConfig bounds an exponential histogram.
type ExponentialHistogramConfig struct {
	// MaxSize is the most buckets of the histogram (2 to 16384); the scale
	// is lowered as needed to keep the durations within it.
	MaxSize int32 `yaml:"max_size"`
}

// SetDefaults gives the default max_size to an `exponential:` section.
func (c *ExponentialHistogramConfig) SetDefaults() { c.MaxSize = DefaultExponentialMaxSize }

// Dimension is an attribute added to the series' attributes.
type Dimension struct {
	// Name is the attribute's key (also the dimension's name).
	Name string `yaml:"name"`
	// Default is the value for a span without the attribute; nil: the
	// dimension is left out for such spans.
	Default *string `yaml:"default"`
}

// ExemplarsConfig configures exemplars (trace_id, span_id, duration) on
// the duration metric's points, or on the calls metric's when the
// histogram is disabled.
type ExemplarsConfig struct {
	Enabled bool `yaml:"enabled"`
	// MaxPerDataPoint is the most exemplars a point carries per flush
	// (1 to 1000; the most recent spans are kept).
	MaxPerDataPoint int `yaml:"max_per_data_point"`
}

// EventsConfig configures the events metric: the span events counted by
// the series' dimensions and the event attributes in Dimensions.
type EventsConfig struct {
	Enabled bool `yaml:"enabled"`
	// Dimensions are event attributes (at least one when enabled).
	Dimensions []Dimension `yaml:"dimensions"`
}

func createDefaultConfig() *Config {
	return &Config{
		Histogram:                HistogramConfig{Unit: UnitMilliseconds},
		AggregationTemporality:   TemporalityCumulative,
		Namespace:                DefaultNamespace,
		MetricsFlushInterval:     DefaultFlushInterval,
		ResourceMetricsCacheSize: DefaultResourceMetricsCacheSize,
		MaxSeries:                DefaultMaxSeries,
		Exemplars:                ExemplarsConfig{MaxPerDataPoint: DefaultExemplarsPerDataPoint},
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	h := c.Histogram
	if h.Unit != UnitMilliseconds && h.Unit != UnitSeconds {
		errs = append(errs, fmt.Errorf("histogram.unit: must be %q or %q (got %q)", UnitMilliseconds, UnitSeconds, h.Unit))
	}
	if h.Explicit != nil && h.Exponential != nil {
		errs = append(errs, errors.New("histogram: use explicit or exponential, not both"))
	}
	if e := h.Explicit; e != nil {
		if len(e.Buckets) == 0 || len(e.Buckets) > maxExplicitBuckets {
			errs = append(errs, fmt.Errorf("histogram.explicit.buckets: must have 1 to %d bounds (got %d)", maxExplicitBuckets, len(e.Buckets)))
		}
		for i, b := range e.Buckets {
			if b < 0 || (i > 0 && b <= e.Buckets[i-1]) {
				errs = append(errs, fmt.Errorf("histogram.explicit.buckets[%d]: bounds must be ≥ 0 and increasing (got %s)", i, b))
				break
			}
		}
	}
	if e := h.Exponential; e != nil && (e.MaxSize < minExponentialMaxSize || e.MaxSize > maxExponentialMaxSize) {
		errs = append(errs, fmt.Errorf("histogram.exponential.max_size: must be between %d and %d (got %d)", minExponentialMaxSize, maxExponentialMaxSize, e.MaxSize))
	}
	errs = append(errs, checkDimensions("dimensions", c.Dimensions)...)
	for i, d := range c.ExcludeDimensions {
		if !slices.Contains(defaultDimensions, d) {
			errs = append(errs, fmt.Errorf("exclude_dimensions[%d]: %q is not a default dimension (%v)", i, d, defaultDimensions))
		}
	}
	for i, d := range c.Dimensions {
		if slices.Contains(defaultDimensions, d.Name) && !slices.Contains(c.ExcludeDimensions, d.Name) {
			errs = append(errs, fmt.Errorf("dimensions[%d].name: %q is a default dimension already", i, d.Name))
		}
	}
	if c.AggregationTemporality != TemporalityCumulative && c.AggregationTemporality != TemporalityDelta {
		errs = append(errs, fmt.Errorf("aggregation_temporality: must be %s or %s (got %q)", TemporalityCumulative, TemporalityDelta, c.AggregationTemporality))
	}
	if c.MetricsFlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval: must be > 0 (got %s)", c.MetricsFlushInterval))
	}
	if c.MetricsExpiration < 0 {
		errs = append(errs, fmt.Errorf("metrics_expiration: must be ≥ 0 (got %s)", c.MetricsExpiration))
	}
	for i, k := range c.ResourceMetricsKeyAttributes {
		if k == "" {
			errs = append(errs, fmt.Errorf("resource_metrics_key_attributes[%d]: must not be empty", i))
		}
	}
	if c.ResourceMetricsCacheSize <= 0 {
		errs = append(errs, fmt.Errorf("resource_metrics_cache_size: must be > 0 (got %d)", c.ResourceMetricsCacheSize))
	}
	if c.AggregationCardinalityLimit < 0 {
		errs = append(errs, fmt.Errorf("aggregation_cardinality_limit: must be ≥ 0 (got %d)", c.AggregationCardinalityLimit))
	}
	if c.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf("max_series: must be > 0 (got %d)", c.MaxSeries))
	}
	if c.Exemplars.MaxPerDataPoint < 1 || c.Exemplars.MaxPerDataPoint > maxExemplarsPerDataPoint {
		errs = append(errs, fmt.Errorf("exemplars.max_per_data_point: must be between 1 and %d (got %d)", maxExemplarsPerDataPoint, c.Exemplars.MaxPerDataPoint))
	}
	if c.Events.Enabled && len(c.Events.Dimensions) == 0 {
		errs = append(errs, errors.New("events.dimensions: must name at least one event attribute when events are enabled"))
	}
	errs = append(errs, checkDimensions("events.dimensions", c.Events.Dimensions)...)
	return errors.Join(errs...)
}

func checkDimensions(path string, dims []Dimension) []error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range dims {
		switch {
		case d.Name == "":
			errs = append(errs, fmt.Errorf("%s[%d].name: must not be empty", path, i))
		case seen[d.Name]:
			errs = append(errs, fmt.Errorf("%s[%d].name: %q is named twice", path, i, d.Name))
		}
		seen[d.Name] = true
	}
	return errs
}

// histogramKind is what the duration metric is.
type histogramKind int

const (
	histNone histogramKind = iota
	histExplicit
	histExponential
)

func (c *Config) histogramKind() histogramKind {
	switch {
	case c.Histogram.Disable:
		return histNone
	case c.Histogram.Exponential != nil:
		return histExponential
	}
	return histExplicit
}

// bounds returns the explicit bucket bounds in the configured unit.
func (c *Config) bounds() []float64 {
	buckets := DefaultBuckets
	if c.Histogram.Explicit != nil {
		buckets = c.Histogram.Explicit.Buckets
	}
	out := make([]float64, len(buckets))
	for i, b := range buckets {
		out[i] = c.inUnit(b)
	}
	return out
}

// inUnit converts d to the histogram's unit.
func (c *Config) inUnit(d time.Duration) float64 {
	if c.Histogram.Unit == UnitSeconds {
		return d.Seconds()
	}
	return float64(d) / float64(time.Millisecond)
}

// metricName prefixes name with the namespace.
func (c *Config) metricName(name string) string {
	if c.Namespace == "" {
		return name
	}
	return c.Namespace + "." + name
}
