package tailsamplingprocessor

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
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.DecisionWait != 5*time.Second || cfg.NumTraces != 2000 || cfg.MaxBytes != 8<<20 ||
		cfg.DecisionCache != (DecisionCacheConfig{SampledCacheSize: 1000, NonSampledCacheSize: 500}) {
		t.Errorf("decoded %+v", cfg)
	}
	types := map[string]bool{}
	for _, p := range cfg.Policies {
		types[p.Type] = true
	}
	for _, typ := range []string{AlwaysSample, Probabilistic, StatusCode, Latency, StringAttribute, NumericAttribute,
		BooleanAttribute, SpanCount, TraceState, RateLimiting, BytesLimiting, And, Not, Composite} {
		if !types[typ] {
			t.Errorf("testdata has no %s policy", typ)
		}
	}
	c := cfg.Policies[13].Composite
	if c.MaxTotalSpansPerSecond != 1000 || c.RateAllocation[0] != (RateAllocationConfig{Policy: "errs", Percent: 75}) ||
		*cfg.Policies[5].NumericAttribute.MaxValue != 599 || cfg.Policies[12].Not.SubPolicy.StatusCode.StatusCodes[0] != "OK" {
		t.Errorf("nested blocks decoded wrong: %+v", cfg.Policies)
	}
	// Every policy builds and evaluates.
	p, err := newProcessor(pipeline.Settings{}, cfg, &sink{})
	if err != nil {
		t.Fatal(err)
	}
	consume(t, p, request(nil, spanSpec{trace: 1, name: "x"}))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"unknown_key.yaml": `unknown key "sample_on_first_match"`,
		"drop_policy.yaml": `unknown key "drop"`,
	} {
		if _, err := decode(t, file); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	sub := func(name, typ string) PolicyConfig { return policy(name, typ, nil) }
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // one prefix per expected error; none: valid
	}{
		{name: "one policy", edit: func(c *Config) {}},
		{name: "no policies", edit: func(c *Config) { c.Policies = nil }, want: []string{"policies: at least one"}},
		{name: "bounds", edit: func(c *Config) {
			c.DecisionWait, c.NumTraces, c.MaxBytes = 0, 0, 0
			c.DecisionCache = DecisionCacheConfig{-1, -1}
		}, want: []string{"decision_wait:", "num_traces:", "max_bytes:", "decision_cache.sampled_cache_size:", "decision_cache.non_sampled_cache_size:"}},
		{name: "unknown type", edit: func(c *Config) { c.Policies[0].Type = "ottl_condition" }, want: []string{`policies[0].type: unknown policy type "ottl_condition"`}},
		{name: "no name, twice", edit: func(c *Config) {
			c.Policies = []PolicyConfig{sub("", AlwaysSample), sub("a", AlwaysSample), sub("a", AlwaysSample)}
		}, want: []string{"policies[0].name: must not be empty", `policies[2].name: "a" is used twice`}},
		{name: "missing block", edit: func(c *Config) { c.Policies[0] = sub("l", Latency) }, want: []string{"policies[0].latency: required"}},
		{name: "foreign block", edit: func(c *Config) { c.Policies[0].Latency = &LatencyConfig{} }, want: []string{`policies[0].latency: block given for a policy of type "always_sample"`}},
		{name: "bad leaves", edit: func(c *Config) {
			c.Policies = []PolicyConfig{
				policy("p", Probabilistic, func(p *PolicyConfig) { p.Probabilistic = &ProbabilisticConfig{SamplingPercentage: -1} }),
				policy("s", StatusCode, func(p *PolicyConfig) { p.StatusCode = &StatusCodeConfig{StatusCodes: []string{"BAD"}} }),
				policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 10, UpperThresholdMs: 5} }),
				policy("r", StringAttribute, func(p *PolicyConfig) {
					p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"("}, EnabledRegexMatching: true}
				}),
				policy("n", NumericAttribute, func(p *PolicyConfig) { p.NumericAttribute = &NumericAttributeConfig{Key: "k"} }),
				policy("b", BooleanAttribute, func(p *PolicyConfig) { p.BooleanAttribute = &BooleanAttributeConfig{} }),
				policy("c", SpanCount, func(p *PolicyConfig) { p.SpanCount = &SpanCountConfig{MinSpans: 3, MaxSpans: 2} }),
				policy("t", TraceState, func(p *PolicyConfig) { p.TraceState = &TraceStateConfig{Key: "k"} }),
				policy("rl", RateLimiting, func(p *PolicyConfig) { p.RateLimiting = &RateLimitingConfig{} }),
				policy("bl", BytesLimiting, func(p *PolicyConfig) { p.BytesLimiting = &BytesLimitingConfig{} }),
			}
		}, want: []string{
			"policies[0].probabilistic.sampling_percentage:", "policies[1].status_code.status_codes[0]:",
			"policies[2].latency.upper_threshold_ms:", "policies[3].string_attribute.values[0]:",
			"policies[4].numeric_attribute: min_value or max_value", "policies[5].boolean_attribute.key:",
			"policies[6].span_count.max_spans:", "policies[7].trace_state.values:",
			"policies[8].rate_limiting.spans_per_second:", "policies[9].bytes_limiting.bytes_per_second:",
		}},
		{name: "nested", edit: func(c *Config) {
			c.Policies = []PolicyConfig{
				policy("a", And, func(p *PolicyConfig) { p.And = &AndConfig{SubPolicies: []PolicyConfig{sub("x", "")}} }),
				policy("n", Not, func(p *PolicyConfig) { p.Not = &NotConfig{} }),
			}
		}, want: []string{"policies[0].and.and_sub_policy[0].type: must not be empty", "policies[1].not.not_sub_policy: required"}},
		{name: "composite", edit: func(c *Config) {
			c.Policies = []PolicyConfig{policy("c", Composite, func(p *PolicyConfig) {
				p.Composite = &CompositeConfig{
					MaxTotalSpansPerSecond: 0,
					PolicyOrder:            []string{"a", "zz"},
					SubPolicies:            []PolicyConfig{sub("a", AlwaysSample), sub("b", AlwaysSample)},
					RateAllocation:         []RateAllocationConfig{{Policy: "a", Percent: 101}},
				}
			})}
		}, want: []string{
			"policies[0].composite.max_total_spans_per_second:", `policies[0].composite.policy_order[1]: "zz"`,
			"policies[0].composite.rate_allocation[0].percent:", "policies[0].composite.rate_allocation: percents add up to 101",
			`policies[0].composite.policy_order: does not list composite_sub_policy "b"`,
			`policies[0].composite.rate_allocation: does not list composite_sub_policy "b"`,
		}},
		{name: "too deep", edit: func(c *Config) {
			p := sub("leaf", AlwaysSample)
			for range maxPolicyDepth {
				inner := p
				p = policy("n", Not, func(q *PolicyConfig) { q.Not = &NotConfig{SubPolicy: &inner} })
			}
			c.Policies = []PolicyConfig{p}
		}, want: []string{"policies[0].not.not_sub_policy.not.not_sub_policy.not.not_sub_policy.not.not_sub_policy.type: policies nest at most"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := configWith(sub("a", AlwaysSample))
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

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "tail_sampling" || !f.Supports(pipeline.SignalTraces) || f.Supports(pipeline.SignalMetrics) || f.Supports(pipeline.SignalLogs) {
		t.Fatalf("factory %q: traces only expected", f.Type)
	}
	set := pipeline.Settings{ID: pipeline.MustID("tail_sampling")}
	for name, tc := range map[string]struct {
		cfg  pipeline.Config
		nilN bool
		want string
	}{
		"wrong config": {cfg: otherConfig{}, want: "unexpected config type"},
		"invalid":      {cfg: createDefaultConfig(), want: "policies: at least one"},
		"nil next":     {cfg: configWith(policy("a", AlwaysSample, nil)), nilN: true, want: "nil next consumer"},
	} {
		var err error
		if tc.nilN {
			_, err = f.CreateTraces(context.Background(), set, tc.cfg, nil)
		} else {
			_, err = f.CreateTraces(context.Background(), set, tc.cfg, &sink{})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	p, err := f.CreateTraces(context.Background(), set, configWith(policy("a", AlwaysSample, nil)), &sink{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Capabilities().MutatesData {
		t.Error("MutatesData false")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
