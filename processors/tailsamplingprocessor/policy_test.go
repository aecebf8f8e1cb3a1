package tailsamplingprocessor

import (
	"math"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// held builds the trace the processor would hold from these spans (all of
// one trace ID, the first one's).
func held(res map[string]any, specs ...spanSpec) *trace {
	td := request(res, specs...)
	rs := td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	g := newGroup(rs, ss)
	t := &trace{id: traceID(specs[0].trace), wire: g.wire}
	for _, s := range ss.Spans().All() {
		_, w := spanBytes(s)
		t.wire += w
		t.spans = append(t.spans, heldSpan{g: g, span: s})
	}
	return t
}

func ptr(f float64) *float64 { return &f }

func TestPolicies(t *testing.T) {
	ok := spanSpec{name: "ok", dur: 10 * time.Millisecond}
	errSpan := spanSpec{name: "err", status: ptrace.StatusCodeError, dur: time.Millisecond}
	with := func(s spanSpec, attrs map[string]any) spanSpec { s.attrs = attrs; return s }
	for _, tc := range []struct {
		name   string
		policy PolicyConfig
		res    map[string]any
		spans  []spanSpec
		want   decision
	}{
		{"always", policy("a", AlwaysSample, nil), nil, []spanSpec{ok}, sampled},
		{"probabilistic 100", policy("p", Probabilistic, func(p *PolicyConfig) { p.Probabilistic = &ProbabilisticConfig{SamplingPercentage: 100} }), nil, []spanSpec{ok}, sampled},
		{"probabilistic 0", policy("p", Probabilistic, func(p *PolicyConfig) { p.Probabilistic = &ProbabilisticConfig{} }), nil, []spanSpec{ok}, notSampled},
		{"status error hit", errorsPolicy(), nil, []spanSpec{ok, errSpan}, sampled},
		{"status error miss", errorsPolicy(), nil, []spanSpec{ok}, notSampled},
		{"status unset", policy("s", StatusCode, func(p *PolicyConfig) { p.StatusCode = &StatusCodeConfig{StatusCodes: []string{"UNSET"}} }), nil, []spanSpec{ok}, sampled},
		{"latency over", policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 10} }), nil, []spanSpec{ok}, sampled},
		{"latency under", policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 11} }), nil, []spanSpec{ok}, notSampled},
		{"latency spans whole trace", policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 10} }), nil, []spanSpec{errSpan, {name: "b", dur: 10 * time.Millisecond}}, sampled},
		{"latency upper in", policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 5, UpperThresholdMs: 10} }), nil, []spanSpec{ok}, sampled},
		{"latency upper out", policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 1, UpperThresholdMs: 9} }), nil, []spanSpec{ok}, notSampled},
		{"latency lower bound exclusive with upper", policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 10, UpperThresholdMs: 20} }), nil, []spanSpec{ok}, notSampled},
		{"string span", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"a", "b"}}
		}), nil, []spanSpec{with(ok, map[string]any{"k": "b"})}, sampled},
		{"string resource", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"a"}}
		}), map[string]any{"k": "a"}, []spanSpec{ok}, sampled},
		{"string not a string", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"1"}}
		}), nil, []spanSpec{with(ok, map[string]any{"k": 1})}, notSampled},
		{"string regex", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"^/api/.*"}, EnabledRegexMatching: true, CacheMaxSize: 1}
		}), nil, []spanSpec{with(ok, map[string]any{"k": "/health"}), with(ok, map[string]any{"k": "/api/x"})}, sampled},
		{"string regex miss", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"^/api/.*"}, EnabledRegexMatching: true}
		}), nil, []spanSpec{with(ok, map[string]any{"k": "/health"})}, notSampled},
		{"string invert hit", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"/health"}, InvertMatch: true}
		}), nil, []spanSpec{with(ok, map[string]any{"k": "/health"})}, invertNotSampled},
		{"string invert miss", policy("s", StringAttribute, func(p *PolicyConfig) {
			p.StringAttribute = &StringAttributeConfig{Key: "k", Values: []string{"/health"}, InvertMatch: true}
		}), nil, []spanSpec{ok}, invertSampled},
		{"numeric in", policy("n", NumericAttribute, func(p *PolicyConfig) {
			p.NumericAttribute = &NumericAttributeConfig{Key: "code", MinValue: ptr(500), MaxValue: ptr(599)}
		}), nil, []spanSpec{with(ok, map[string]any{"code": 503})}, sampled},
		{"numeric double", policy("n", NumericAttribute, func(p *PolicyConfig) {
			p.NumericAttribute = &NumericAttributeConfig{Key: "x", MinValue: ptr(0.5)}
		}), nil, []spanSpec{with(ok, map[string]any{"x": 0.75})}, sampled},
		{"numeric out", policy("n", NumericAttribute, func(p *PolicyConfig) {
			p.NumericAttribute = &NumericAttributeConfig{Key: "code", MinValue: ptr(500), MaxValue: ptr(599)}
		}), nil, []spanSpec{with(ok, map[string]any{"code": 200})}, notSampled},
		{"numeric invert", policy("n", NumericAttribute, func(p *PolicyConfig) {
			p.NumericAttribute = &NumericAttributeConfig{Key: "code", MaxValue: ptr(299), InvertMatch: true}
		}), nil, []spanSpec{with(ok, map[string]any{"code": 200})}, invertNotSampled},
		{"boolean", policy("b", BooleanAttribute, func(p *PolicyConfig) {
			p.BooleanAttribute = &BooleanAttributeConfig{Key: "debug", Value: true}
		}), nil, []spanSpec{ok, with(ok, map[string]any{"debug": true})}, sampled},
		{"boolean other value", policy("b", BooleanAttribute, func(p *PolicyConfig) {
			p.BooleanAttribute = &BooleanAttributeConfig{Key: "debug", Value: true}
		}), nil, []spanSpec{with(ok, map[string]any{"debug": false})}, notSampled},
		{"boolean invert", policy("b", BooleanAttribute, func(p *PolicyConfig) {
			p.BooleanAttribute = &BooleanAttributeConfig{Key: "debug", Value: true, InvertMatch: true}
		}), nil, []spanSpec{ok}, invertSampled},
		{"span count in", policy("c", SpanCount, func(p *PolicyConfig) { p.SpanCount = &SpanCountConfig{MinSpans: 2, MaxSpans: 3} }), nil, []spanSpec{ok, ok}, sampled},
		{"span count over", policy("c", SpanCount, func(p *PolicyConfig) { p.SpanCount = &SpanCountConfig{MinSpans: 1, MaxSpans: 1} }), nil, []spanSpec{ok, ok}, notSampled},
		{"span count no max", policy("c", SpanCount, func(p *PolicyConfig) { p.SpanCount = &SpanCountConfig{MinSpans: 2} }), nil, []spanSpec{ok, ok, ok}, sampled},
		{"trace state", policy("t", TraceState, func(p *PolicyConfig) {
			p.TraceState = &TraceStateConfig{Key: "ot", Values: []string{"th:8"}}
		}), nil, []spanSpec{{name: "a", state: "vendor=x, ot=th:8"}}, sampled},
		{"trace state other value", policy("t", TraceState, func(p *PolicyConfig) {
			p.TraceState = &TraceStateConfig{Key: "ot", Values: []string{"th:8"}}
		}), nil, []spanSpec{{name: "a", state: "ot=th:c"}}, notSampled},
		{"and both", policy("a", And, func(p *PolicyConfig) {
			p.And = &AndConfig{SubPolicies: []PolicyConfig{errorsPolicy(), policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 1} })}}
		}), nil, []spanSpec{errSpan}, sampled},
		{"and one", policy("a", And, func(p *PolicyConfig) {
			p.And = &AndConfig{SubPolicies: []PolicyConfig{errorsPolicy(), policy("l", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 2} })}}
		}), nil, []spanSpec{errSpan}, notSampled},
		{"not", policy("n", Not, func(p *PolicyConfig) { s := errorsPolicy(); p.Not = &NotConfig{SubPolicy: &s} }), nil, []spanSpec{ok}, sampled},
		{"not error", policy("n", Not, func(p *PolicyConfig) { s := errorsPolicy(); p.Not = &NotConfig{SubPolicy: &s} }), nil, []spanSpec{errSpan}, notSampled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configWith(tc.policy)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			for i := range tc.spans {
				tc.spans[i].trace = 7
			}
			if got := newEvaluator(&cfg.Policies[0]).evaluate(held(tc.res, tc.spans...)); got != tc.want {
				t.Errorf("decision %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCombine(t *testing.T) {
	for _, tc := range []struct {
		in   []decision
		want bool
	}{
		{nil, false},
		{[]decision{notSampled}, false},
		{[]decision{notSampled, sampled}, true},
		{[]decision{sampled, invertNotSampled}, false}, // an inverted match vetoes
		{[]decision{invertSampled}, true},
		{[]decision{invertSampled, notSampled}, false},
		{[]decision{invertSampled, sampled, notSampled}, true},
	} {
		if got := combine(tc.in); got != tc.want {
			t.Errorf("combine(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestProbabilisticRate checks the sampled share of 10⁵ trace IDs against
// binomial bounds (z = 4, about 99.994 %), and that a salt changes which.
func TestProbabilisticRate(t *testing.T) {
	const n = 100000
	for _, pct := range []float64{1, 10, 33.3, 50} {
		e := newProbabilistic(&ProbabilisticConfig{SamplingPercentage: pct})
		other := newProbabilistic(&ProbabilisticConfig{SamplingPercentage: pct, HashSalt: "other"})
		kept, same := 0, 0
		for i := range uint64(n) {
			tr := &trace{id: traceID(i)}
			d := e.evaluate(tr)
			if d == sampled {
				kept++
			}
			if d == other.evaluate(tr) {
				same++
			}
		}
		p := pct / 100
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(kept)-n*p) > 4*sd {
			t.Errorf("%v%%: kept %d of %d, want %v ± %.0f", pct, kept, n, n*p, 4*sd)
		}
		if same == n {
			t.Errorf("%v%%: another salt keeps the same traces", pct)
		}
		t.Logf("sampling_percentage %v: kept %d of %d (expected %.0f ± %.0f)", pct, kept, n, n*p, 4*sd)
	}
}

func TestRateLimiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEvaluator(&PolicyConfig{Type: RateLimiting, RateLimiting: &RateLimitingConfig{SpansPerSecond: 10}})
		three := held(nil, spanSpec{trace: 1}, spanSpec{trace: 1}, spanSpec{trace: 1})
		got := []decision{}
		for range 8 {
			got = append(got, e.evaluate(three)) // burst of 20: 6 traces of 3
		}
		want := []decision{sampled, sampled, sampled, sampled, sampled, sampled, notSampled, notSampled}
		if !equal(got, want) {
			t.Fatalf("burst: %v, want %v", got, want)
		}
		time.Sleep(300 * time.Millisecond) // +3 tokens: one more trace
		first := e.evaluate(three)
		second := e.evaluate(three)
		if first != sampled || second != notSampled {
			t.Fatalf("after 300ms (3 tokens): %d then %d, want sampled then not", first, second)
		}
	})
}

func TestBytesLimiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := held(nil, spanSpec{trace: 1, name: "x"})
		size := tr.wire
		e := newEvaluator(&PolicyConfig{Type: BytesLimiting, BytesLimiting: &BytesLimitingConfig{BytesPerSecond: size, BurstCapacity: 2 * size}})
		if got := []decision{e.evaluate(tr), e.evaluate(tr), e.evaluate(tr)}; !equal(got, []decision{sampled, sampled, notSampled}) {
			t.Fatalf("burst of two traces: %v", got)
		}
		time.Sleep(time.Second)
		if got := []decision{e.evaluate(tr), e.evaluate(tr)}; !equal(got, []decision{sampled, notSampled}) {
			t.Fatalf("refill of one trace per second: %v", got)
		}
	})
}

func TestComposite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := configWith(policy("c", Composite, func(p *PolicyConfig) {
			p.Composite = &CompositeConfig{
				MaxTotalSpansPerSecond: 10,
				PolicyOrder:            []string{"errors", "all"},
				SubPolicies:            []PolicyConfig{errorsPolicy(), policy("all", AlwaysSample, nil)},
				RateAllocation:         []RateAllocationConfig{{Policy: "errors", Percent: 60}, {Policy: "all", Percent: 40}},
			}
		}))
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		e := newEvaluator(&cfg.Policies[0])
		errTrace := held(nil, spanSpec{trace: 1, status: ptrace.StatusCodeError}, spanSpec{trace: 1})
		okTrace := held(nil, spanSpec{trace: 2}, spanSpec{trace: 2})
		// errors get 6 spans a second (3 traces of 2), the rest 4 (2 traces).
		var got []decision
		for range 4 {
			got = append(got, e.evaluate(errTrace))
		}
		for range 3 {
			got = append(got, e.evaluate(okTrace))
		}
		want := []decision{sampled, sampled, sampled, notSampled, sampled, sampled, notSampled}
		if !equal(got, want) {
			t.Fatalf("first second: %v, want %v", got, want)
		}
		time.Sleep(time.Second)
		if e.evaluate(errTrace) != sampled || e.evaluate(okTrace) != sampled {
			t.Fatal("allocation not renewed in the next second")
		}
	})
}

func equal(a, b []decision) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTraceStateValue(t *testing.T) {
	for _, tc := range []struct {
		raw, key, want string
		ok             bool
	}{
		{"a=1,b=2", "b", "2", true},
		{" a=1 ,\tb=2\t", "a", "1", true},
		{"a=1,,b", "b", "", false},
		{"ot=th:8;rv:0011", "ot", "th:8;rv:0011", true},
		{"", "a", "", false},
		{"a", "a", "", false},
	} {
		got, ok := traceStateValue(tc.raw, tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("traceStateValue(%q, %q) = %q, %v; want %q, %v", tc.raw, tc.key, got, ok, tc.want, tc.ok)
		}
	}
}
