package tailsamplingprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

// Default values of the configuration.
const (
	DefaultDecisionWait     = 10 * time.Second
	DefaultNumTraces        = 10000
	DefaultMaxBytes         = 32 << 20
	DefaultSampledCache     = 50000
	DefaultNonSampledCache  = 50000
	DefaultRegexCacheSize   = 128
	DefaultHashSalt         = "default-hash-seed"
	maxPolicyDepth          = 4
	maxTraceStateValueBytes = 256
)

// Policy types, the Collector's names.
const (
	AlwaysSample     = "always_sample"
	Probabilistic    = "probabilistic"
	StatusCode       = "status_code"
	Latency          = "latency"
	StringAttribute  = "string_attribute"
	NumericAttribute = "numeric_attribute"
	BooleanAttribute = "boolean_attribute"
	SpanCount        = "span_count"
	TraceState       = "trace_state"
	RateLimiting     = "rate_limiting"
	BytesLimiting    = "bytes_limiting"
	And              = "and"
	Not              = "not"
	Composite        = "composite"
)

// Config is the tail_sampling processor's configuration. The keys are the
// OpenTelemetry Collector contrib tail_sampling processor's, less
// expected_new_traces_per_sec, sample_on_first_match,
// drop_pending_traces_on_shutdown and the ottl_condition and drop
// policies, plus max_bytes.
type Config struct {
	// DecisionWait is how long after the first span of a trace arrives
	// its policies are evaluated (> 0).
	DecisionWait time.Duration `yaml:"decision_wait"`
	// NumTraces bounds the traces held awaiting a decision (≥ 1). When a
	// new trace would pass it, the oldest held trace is decided early.
	NumTraces int `yaml:"num_traces"`
	// MaxBytes bounds the estimated bytes of the spans held awaiting a
	// decision (> 0); they are also charged to memory_limit. When a span
	// would pass either, the oldest held traces are decided early.
	MaxBytes configs.ByteSize `yaml:"max_bytes"`
	// DecisionCache sizes the caches of decided trace IDs that make late
	// spans follow their trace's decision.
	DecisionCache DecisionCacheConfig `yaml:"decision_cache"`
	// Policies decide; a trace is sampled when one of them samples it
	// (see the package documentation for inverted matches). At least one.
	Policies []PolicyConfig `yaml:"policies"`
}

// DecisionCacheConfig sizes the decision caches, in trace IDs (≥ 0; 0
// disables a cache). Each entry costs about 48 bytes.
type DecisionCacheConfig struct {
	SampledCacheSize    int `yaml:"sampled_cache_size"`
	NonSampledCacheSize int `yaml:"non_sampled_cache_size"`
}

// PolicyConfig is one policy: a name, a type and the block of that type
// (and no other block).
type PolicyConfig struct {
	Name             string                  `yaml:"name"`
	Type             string                  `yaml:"type"`
	Probabilistic    *ProbabilisticConfig    `yaml:"probabilistic"`
	StatusCode       *StatusCodeConfig       `yaml:"status_code"`
	Latency          *LatencyConfig          `yaml:"latency"`
	StringAttribute  *StringAttributeConfig  `yaml:"string_attribute"`
	NumericAttribute *NumericAttributeConfig `yaml:"numeric_attribute"`
	BooleanAttribute *BooleanAttributeConfig `yaml:"boolean_attribute"`
	SpanCount        *SpanCountConfig        `yaml:"span_count"`
	TraceState       *TraceStateConfig       `yaml:"trace_state"`
	RateLimiting     *RateLimitingConfig     `yaml:"rate_limiting"`
	BytesLimiting    *BytesLimitingConfig    `yaml:"bytes_limiting"`
	And              *AndConfig              `yaml:"and"`
	Not              *NotConfig              `yaml:"not"`
	Composite        *CompositeConfig        `yaml:"composite"`
}

// ProbabilisticConfig samples sampling_percentage % of trace IDs by an
// FNV-1a hash of hash_salt and the trace ID, as the Collector does (so the
// two keep the same traces with the same salt).
type ProbabilisticConfig struct {
	HashSalt           string  `yaml:"hash_salt"`
	SamplingPercentage float64 `yaml:"sampling_percentage"` // 0–100; ≥ 100 keeps all
}

// StatusCodeConfig samples traces with a span whose status code is one of
// status_codes (OK, ERROR, UNSET).
type StatusCodeConfig struct {
	StatusCodes []string `yaml:"status_codes"`
}

// LatencyConfig samples traces whose duration (latest span end less
// earliest span start) is ≥ threshold_ms, or, with upper_threshold_ms set,
// in (threshold_ms, upper_threshold_ms].
type LatencyConfig struct {
	ThresholdMs      int64 `yaml:"threshold_ms"`
	UpperThresholdMs int64 `yaml:"upper_threshold_ms"`
}

// StringAttributeConfig samples traces where a resource or span has the
// string attribute key equal to one of values (or matching one, as
// regular expressions, with enabled_regex_matching; results are cached
// for cache_max_size values). invert_match samples traces where none does.
type StringAttributeConfig struct {
	Key                  string   `yaml:"key"`
	Values               []string `yaml:"values"`
	EnabledRegexMatching bool     `yaml:"enabled_regex_matching"`
	CacheMaxSize         int      `yaml:"cache_max_size"`
	InvertMatch          bool     `yaml:"invert_match"`
}

// NumericAttributeConfig samples traces where a resource or span has the
// numeric (int or double) attribute key in [min_value, max_value] (an
// absent bound is open).
type NumericAttributeConfig struct {
	Key         string   `yaml:"key"`
	MinValue    *float64 `yaml:"min_value"`
	MaxValue    *float64 `yaml:"max_value"`
	InvertMatch bool     `yaml:"invert_match"`
}

// BooleanAttributeConfig samples traces where a resource or span has the
// bool attribute key equal to value.
type BooleanAttributeConfig struct {
	Key         string `yaml:"key"`
	Value       bool   `yaml:"value"`
	InvertMatch bool   `yaml:"invert_match"`
}

// SpanCountConfig samples traces with at least min_spans spans and, when
// max_spans > 0, at most max_spans.
type SpanCountConfig struct {
	MinSpans int64 `yaml:"min_spans"`
	MaxSpans int64 `yaml:"max_spans"`
}

// TraceStateConfig samples traces with a span whose W3C tracestate has the
// entry key with one of values.
type TraceStateConfig struct {
	Key    string   `yaml:"key"`
	Values []string `yaml:"values"`
}

// RateLimitingConfig samples whole traces while a token bucket of
// spans_per_second (burst twice that) has tokens for all their spans.
type RateLimitingConfig struct {
	SpansPerSecond int64 `yaml:"spans_per_second"`
}

// BytesLimitingConfig samples whole traces while a token bucket of
// bytes_per_second (burst burst_capacity, default twice the rate) has
// tokens for their estimated size.
type BytesLimitingConfig struct {
	BytesPerSecond int64 `yaml:"bytes_per_second"`
	BurstCapacity  int64 `yaml:"burst_capacity"`
}

// AndConfig samples when every sub-policy samples.
type AndConfig struct {
	SubPolicies []PolicyConfig `yaml:"and_sub_policy"`
}

// NotConfig inverts its sub-policy's decision.
type NotConfig struct {
	SubPolicy *PolicyConfig `yaml:"not_sub_policy"`
}

// CompositeConfig evaluates its sub-policies in policy_order; the first
// that samples a trace samples it if its share of max_total_spans_per_second
// (rate_allocation percent, per second) still has room for the trace's
// spans, else the trace is not sampled.
type CompositeConfig struct {
	MaxTotalSpansPerSecond int64                  `yaml:"max_total_spans_per_second"`
	PolicyOrder            []string               `yaml:"policy_order"`
	SubPolicies            []PolicyConfig         `yaml:"composite_sub_policy"`
	RateAllocation         []RateAllocationConfig `yaml:"rate_allocation"`
}

// RateAllocationConfig gives a composite sub-policy percent % of
// max_total_spans_per_second (0: an equal share of it).
type RateAllocationConfig struct {
	Policy  string `yaml:"policy"`
	Percent int64  `yaml:"percent"`
}

func createDefaultConfig() *Config {
	return &Config{
		DecisionWait: DefaultDecisionWait,
		NumTraces:    DefaultNumTraces,
		MaxBytes:     DefaultMaxBytes,
		DecisionCache: DecisionCacheConfig{
			SampledCacheSize:    DefaultSampledCache,
			NonSampledCacheSize: DefaultNonSampledCache,
		},
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.DecisionWait <= 0 {
		errs = append(errs, fmt.Errorf("decision_wait: must be > 0 (got %s)", c.DecisionWait))
	}
	if c.NumTraces < 1 {
		errs = append(errs, fmt.Errorf("num_traces: must be ≥ 1 (got %d)", c.NumTraces))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be > 0 (got %s)", c.MaxBytes))
	}
	if c.DecisionCache.SampledCacheSize < 0 {
		errs = append(errs, fmt.Errorf("decision_cache.sampled_cache_size: must be ≥ 0 (got %d)", c.DecisionCache.SampledCacheSize))
	}
	if c.DecisionCache.NonSampledCacheSize < 0 {
		errs = append(errs, fmt.Errorf("decision_cache.non_sampled_cache_size: must be ≥ 0 (got %d)", c.DecisionCache.NonSampledCacheSize))
	}
	if len(c.Policies) == 0 {
		errs = append(errs, errors.New("policies: at least one policy is required"))
	}
	errs = append(errs, validatePolicies(c.Policies, "policies", 0)...)
	return errors.Join(errs...)
}

func validatePolicies(ps []PolicyConfig, path string, depth int) []error {
	var errs []error
	names := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		at := fmt.Sprintf("%s[%d]", path, i)
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: must not be empty", at))
		} else if names[p.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", at, p.Name))
		}
		names[p.Name] = true
		errs = append(errs, p.validate(at, depth)...)
	}
	return errs
}

// block is a policy's type block: its key and whether it is given.
type block struct {
	name string
	set  bool
}

// blocks lists the type blocks of a policy, in the order of the keys.
func (p *PolicyConfig) blocks() []block {
	return []block{
		{Probabilistic, p.Probabilistic != nil}, {StatusCode, p.StatusCode != nil}, {Latency, p.Latency != nil},
		{StringAttribute, p.StringAttribute != nil}, {NumericAttribute, p.NumericAttribute != nil},
		{BooleanAttribute, p.BooleanAttribute != nil}, {SpanCount, p.SpanCount != nil}, {TraceState, p.TraceState != nil},
		{RateLimiting, p.RateLimiting != nil}, {BytesLimiting, p.BytesLimiting != nil}, {And, p.And != nil},
		{Not, p.Not != nil}, {Composite, p.Composite != nil},
	}
}

func (p *PolicyConfig) validate(at string, depth int) []error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(at+"."+format, args...))
	}
	if depth >= maxPolicyDepth {
		add("type: policies nest at most %d deep", maxPolicyDepth)
		return errs
	}
	for _, b := range p.blocks() {
		if b.set && b.name != p.Type {
			add("%s: block given for a policy of type %q", b.name, p.Type)
		}
	}
	need := func(set bool) bool {
		if !set {
			add("%s: required for a policy of type %q", p.Type, p.Type)
		}
		return set
	}
	switch p.Type {
	case AlwaysSample:
	case Probabilistic:
		if need(p.Probabilistic != nil) && (p.Probabilistic.SamplingPercentage < 0 || p.Probabilistic.SamplingPercentage != p.Probabilistic.SamplingPercentage) {
			add("probabilistic.sampling_percentage: must be ≥ 0 (got %v)", p.Probabilistic.SamplingPercentage)
		}
	case StatusCode:
		if need(p.StatusCode != nil) {
			if len(p.StatusCode.StatusCodes) == 0 {
				add("status_code.status_codes: must not be empty")
			}
			for j, s := range p.StatusCode.StatusCodes {
				if _, ok := statusCodes[s]; !ok {
					add("status_code.status_codes[%d]: %q is not OK, ERROR or UNSET", j, s)
				}
			}
		}
	case Latency:
		if need(p.Latency != nil) {
			l := p.Latency
			if l.ThresholdMs < 0 {
				add("latency.threshold_ms: must be ≥ 0 (got %d)", l.ThresholdMs)
			}
			if l.UpperThresholdMs != 0 && l.UpperThresholdMs <= l.ThresholdMs {
				add("latency.upper_threshold_ms: must be 0 or > threshold_ms (got %d ≤ %d)", l.UpperThresholdMs, l.ThresholdMs)
			}
		}
	case StringAttribute:
		if need(p.StringAttribute != nil) {
			s := p.StringAttribute
			if s.Key == "" {
				add("string_attribute.key: must not be empty")
			}
			if len(s.Values) == 0 {
				add("string_attribute.values: must not be empty")
			}
			if s.CacheMaxSize < 0 {
				add("string_attribute.cache_max_size: must be ≥ 0 (got %d)", s.CacheMaxSize)
			}
			if s.EnabledRegexMatching {
				for j, v := range s.Values {
					if _, err := regexp.Compile(v); err != nil {
						add("string_attribute.values[%d]: %w", j, err)
					}
				}
			}
		}
	case NumericAttribute:
		if need(p.NumericAttribute != nil) {
			n := p.NumericAttribute
			if n.Key == "" {
				add("numeric_attribute.key: must not be empty")
			}
			if n.MinValue == nil && n.MaxValue == nil {
				add("numeric_attribute: min_value or max_value is required")
			}
			if n.MinValue != nil && n.MaxValue != nil && *n.MaxValue < *n.MinValue {
				add("numeric_attribute.max_value: must be ≥ min_value (got %v < %v)", *n.MaxValue, *n.MinValue)
			}
		}
	case BooleanAttribute:
		if need(p.BooleanAttribute != nil) && p.BooleanAttribute.Key == "" {
			add("boolean_attribute.key: must not be empty")
		}
	case SpanCount:
		if need(p.SpanCount != nil) {
			s := p.SpanCount
			if s.MinSpans < 1 {
				add("span_count.min_spans: must be ≥ 1 (got %d)", s.MinSpans)
			}
			if s.MaxSpans != 0 && s.MaxSpans < s.MinSpans {
				add("span_count.max_spans: must be 0 or ≥ min_spans (got %d < %d)", s.MaxSpans, s.MinSpans)
			}
		}
	case TraceState:
		if need(p.TraceState != nil) {
			ts := p.TraceState
			if ts.Key == "" {
				add("trace_state.key: must not be empty")
			}
			if len(ts.Values) == 0 {
				add("trace_state.values: must not be empty")
			}
			for j, v := range ts.Values {
				if len(ts.Key)+len(v)+1 > maxTraceStateValueBytes {
					add("trace_state.values[%d]: key=value longer than %d bytes", j, maxTraceStateValueBytes)
				}
			}
		}
	case RateLimiting:
		if need(p.RateLimiting != nil) && p.RateLimiting.SpansPerSecond <= 0 {
			add("rate_limiting.spans_per_second: must be > 0 (got %d)", p.RateLimiting.SpansPerSecond)
		}
	case BytesLimiting:
		if need(p.BytesLimiting != nil) {
			b := p.BytesLimiting
			if b.BytesPerSecond <= 0 {
				add("bytes_limiting.bytes_per_second: must be > 0 (got %d)", b.BytesPerSecond)
			}
			if b.BurstCapacity < 0 {
				add("bytes_limiting.burst_capacity: must be ≥ 0 (got %d)", b.BurstCapacity)
			}
		}
	case And:
		if need(p.And != nil) {
			if len(p.And.SubPolicies) == 0 {
				add("and.and_sub_policy: must not be empty")
			}
			errs = append(errs, validatePolicies(p.And.SubPolicies, at+".and.and_sub_policy", depth+1)...)
		}
	case Not:
		if need(p.Not != nil) {
			if p.Not.SubPolicy == nil {
				add("not.not_sub_policy: required")
			} else {
				sub, subAt := p.Not.SubPolicy, at+".not.not_sub_policy"
				if sub.Name == "" {
					errs = append(errs, fmt.Errorf("%s.name: must not be empty", subAt))
				}
				errs = append(errs, sub.validate(subAt, depth+1)...)
			}
		}
	case Composite:
		if need(p.Composite != nil) {
			errs = append(errs, p.Composite.validate(at+".composite", depth)...)
		}
	case "":
		add("type: must not be empty")
	default:
		add("type: unknown policy type %q (known: always_sample, probabilistic, status_code, latency, string_attribute, numeric_attribute, boolean_attribute, span_count, trace_state, rate_limiting, bytes_limiting, and, not, composite)", p.Type)
	}
	return errs
}

func (c *CompositeConfig) validate(at string, depth int) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+"."+format, args...)) }
	if c.MaxTotalSpansPerSecond <= 0 {
		add("max_total_spans_per_second: must be > 0 (got %d)", c.MaxTotalSpansPerSecond)
	}
	if len(c.SubPolicies) == 0 {
		add("composite_sub_policy: must not be empty")
	}
	subs := map[string]bool{}
	for i := range c.SubPolicies {
		if c.SubPolicies[i].Type == Composite {
			add("composite_sub_policy[%d].type: a composite policy cannot hold another", i)
		}
		subs[c.SubPolicies[i].Name] = true
	}
	errs = append(errs, validatePolicies(c.SubPolicies, at+".composite_sub_policy", depth+1)...)
	ordered := map[string]bool{}
	for i, n := range c.PolicyOrder {
		switch {
		case !subs[n]:
			add("policy_order[%d]: %q names no composite_sub_policy", i, n)
		case ordered[n]:
			add("policy_order[%d]: %q is listed twice", i, n)
		}
		ordered[n] = true
	}
	allocated := map[string]bool{}
	var total int64
	for i, r := range c.RateAllocation {
		switch {
		case !subs[r.Policy]:
			add("rate_allocation[%d].policy: %q names no composite_sub_policy", i, r.Policy)
		case allocated[r.Policy]:
			add("rate_allocation[%d].policy: %q is listed twice", i, r.Policy)
		}
		if r.Percent < 0 || r.Percent > 100 {
			add("rate_allocation[%d].percent: must be 0–100 (got %d)", i, r.Percent)
		}
		allocated[r.Policy] = true
		total += r.Percent
	}
	if total > 100 {
		add("rate_allocation: percents add up to %d, more than 100", total)
	}
	for i := range c.SubPolicies {
		n := c.SubPolicies[i].Name
		if !ordered[n] {
			add("policy_order: does not list composite_sub_policy %q", n)
		}
		if !allocated[n] {
			add("rate_allocation: does not list composite_sub_policy %q (it would never sample)", n)
		}
	}
	return errs
}
