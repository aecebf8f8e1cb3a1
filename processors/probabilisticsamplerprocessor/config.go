package probabilisticsamplerprocessor

import (
	"errors"
	"fmt"
	"math"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
)

// Modes (the `mode` key). "" chooses as the Collector does: hash_seed when
// hash_seed is set (or, for logs, when attribute_source is record),
// proportional otherwise.
const (
	ModeProportional = "proportional"
	ModeEqualizing   = "equalizing"
	ModeHashSeed     = "hash_seed"
)

// Attribute sources of log records (the `attribute_source` key).
const (
	SourceTraceID = "traceID"
	SourceRecord  = "record"
)

// What happens to log records without a trace id (the
// `logs_without_trace_id` key).
const (
	UntracedKeep   = "keep"
	UntracedSample = "sample"
)

// Default values of the configuration.
const (
	DefaultSamplingPrecision = 4
	DefaultFailClosed        = true
)

// Config is the probabilistic sampler's configuration. The keys and their
// meaning are the OpenTelemetry Collector contrib probabilisticsampler's,
// except where a field says otherwise.
type Config struct {
	// SamplingPercentage is the percentage of items kept, in [0, 100]
	// (a float32, as the Collector's, so that both compute the same
	// thresholds); above 100 counts as 100, 0 keeps only items a
	// sampling priority forces through. Required: unlike the Collector,
	// whose default 0 drops everything, there is no default.
	SamplingPercentage *float32 `yaml:"sampling_percentage"`
	// HashSeed seeds the FNV-1a hash of the hash_seed mode, and of log
	// records hashed by attribute or body in every mode. Outposts (and
	// Collectors) of one tier must share it to decide alike.
	HashSeed uint32 `yaml:"hash_seed"`
	// Mode is proportional, equalizing, hash_seed or "" (see the Mode
	// constants).
	Mode string `yaml:"mode"`
	// SamplingPrecision is the number of hex digits of the thresholds
	// written (1–14).
	SamplingPrecision int `yaml:"sampling_precision"`
	// FailClosed drops items whose sampling information is unusable (a
	// tracestate or sampling attribute that does not parse, an arriving
	// threshold its own randomness contradicts, a span without trace id,
	// a consistent-sampling tracestate in hash_seed mode); false keeps
	// them. Each drop is counted by reason.
	FailClosed bool `yaml:"fail_closed"`
	// AttributeSource (logs) is traceID or record: where a log record's
	// randomness comes from.
	AttributeSource string `yaml:"attribute_source"`
	// FromAttribute (logs) names the record attribute whose value is
	// hashed when attribute_source is record, or, with
	// logs_without_trace_id: sample, for records without a trace id. A
	// record without the attribute (or when it is "") has its body
	// hashed instead.
	FromAttribute string `yaml:"from_attribute"`
	// SamplingPriority (logs) names a record attribute holding a
	// percentage (int or double): 0 drops the record, a higher value
	// raises its sampling percentage to at least that value.
	SamplingPriority string `yaml:"sampling_priority"`
	// LogsWithoutTraceID (outpost's own key; logs, attribute_source
	// traceID): keep (default) passes records without a trace id
	// unsampled; sample samples them by the hash of from_attribute or of
	// the body. The Collector drops them under its default fail_closed.
	LogsWithoutTraceID string `yaml:"logs_without_trace_id"`
	// Adaptive (outpost's own key; traces only) ties the probability to
	// an exporter's backlog and the uplink budget's wait: it falls below
	// sampling_percentage while the uplink falls behind and climbs back
	// when it catches up. nil (the default): the probability is fixed.
	Adaptive *AdaptiveConfig `yaml:"adaptive"`
}

func createDefaultConfig() *Config {
	return &Config{
		SamplingPrecision:  DefaultSamplingPrecision,
		FailClosed:         DefaultFailClosed,
		AttributeSource:    SourceTraceID,
		LogsWithoutTraceID: UntracedKeep,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch p := c.SamplingPercentage; {
	case p == nil:
		errs = append(errs, errors.New("sampling_percentage: required (0 to 100)"))
	case math.IsNaN(float64(*p)) || math.IsInf(float64(*p), 0):
		errs = append(errs, fmt.Errorf("sampling_percentage: invalid (%v)", *p))
	case *p < 0:
		errs = append(errs, fmt.Errorf("sampling_percentage: must be ≥ 0 (got %v)", *p))
	case *p > 0 && float64(*p)/100 < sampling.MinSamplingProbability:
		errs = append(errs, fmt.Errorf("sampling_percentage: %v is below the smallest probability, 2^-56", *p))
	}
	switch c.Mode {
	case "", ModeProportional, ModeEqualizing, ModeHashSeed:
	default:
		errs = append(errs, fmt.Errorf("mode: %q: want proportional, equalizing or hash_seed", c.Mode))
	}
	if c.SamplingPrecision < 1 || c.SamplingPrecision > sampling.NumHexDigits {
		errs = append(errs, fmt.Errorf("sampling_precision: must be 1 to 14 (got %d)", c.SamplingPrecision))
	}
	switch c.AttributeSource {
	case SourceTraceID, SourceRecord:
	default:
		errs = append(errs, fmt.Errorf("attribute_source: %q: want traceID or record", c.AttributeSource))
	}
	switch c.LogsWithoutTraceID {
	case UntracedKeep, UntracedSample:
	default:
		errs = append(errs, fmt.Errorf("logs_without_trace_id: %q: want keep or sample", c.LogsWithoutTraceID))
	}
	if c.Adaptive != nil && c.SamplingPercentage != nil {
		if err := c.Adaptive.validate(*c.SamplingPercentage); err != nil {
			errs = append(errs, fmt.Errorf("adaptive: %w", err))
		}
	}
	return errors.Join(errs...)
}

// mode is the mode in effect for a signal: the configured one, or the
// Collector's choice when mode is "".
func (c *Config) mode(logs bool) string {
	if c.Mode != "" {
		return c.Mode
	}
	if c.HashSeed != 0 || (logs && c.AttributeSource == SourceRecord) {
		return ModeHashSeed
	}
	return ModeProportional
}
