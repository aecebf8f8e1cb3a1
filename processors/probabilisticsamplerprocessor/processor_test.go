package probabilisticsamplerprocessor

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
)

// z999 is the two-sided 99.9 % quantile of the normal distribution.
const z999 = 3.2905

// TestBinomialBounds: over 10^6 random trace ids, the spans kept at each
// probability are within the 99.9 % binomial bounds of n×p, p being the
// probability of the threshold written (sampling_precision rounds the
// configured one), and so is the estimate from the adjusted counts.
func TestBinomialBounds(t *testing.T) {
	const n = 1_000_000
	for _, tc := range []struct {
		mode string
		pct  float32
	}{
		{ModeProportional, 1}, {ModeProportional, 10}, {ModeProportional, 33.3},
		{ModeProportional, 50}, {ModeProportional, 90}, {ModeHashSeed, 10},
	} {
		t.Run(fmt.Sprint(tc.mode, "/", tc.pct), func(t *testing.T) {
			e := newTracesEnv(t, config(tc.pct, func(c *Config) { c.Mode = tc.mode; c.HashSeed = 99 }))
			p := e.p.s.base.Probability()
			r := rand.New(rand.NewPCG(uint64(tc.pct*1000), 7))
			sp := ptrace.NewSpan()
			var sb strings.Builder
			kept, est := 0, 0.0
			for range n {
				sp.SetTraceID(randomTID(r))
				sp.TraceState().FromRaw("")
				if o, adj := e.p.span(sp, &sb, e.p.full); o.kept() {
					kept++
					est += adj
				}
			}
			sd := math.Sqrt(n * p * (1 - p))
			if d := math.Abs(float64(kept) - n*p); d > z999*sd {
				t.Errorf("kept %d of %d at p=%v: off by %.0f, bound %.0f", kept, n, p, d, z999*sd)
			}
			if d := math.Abs(est - n); d > z999*sd/p+1e-6 {
				t.Errorf("adjusted counts estimate %.0f items, off by %.0f, bound %.0f", est, d, z999*sd/p)
			}
			t.Logf("p=%.6f (th %s): kept %d, expected %.0f ± %.0f (99.9 %%); estimate %.0f", p, e.p.s.baseTV, kept, n*p, z999*sd, est)
		})
	}
}

// run passes a span through samplers in turn: whether the last kept it,
// and its tracestate then.
func run(sp ptrace.Span, stages ...*tracesProcessor) (bool, string) {
	var sb strings.Builder
	for _, s := range stages {
		if o, _ := s.span(sp, &sb, s.full); !o.kept() {
			return false, ""
		}
	}
	return true, sp.TraceState().AsRaw()
}

// TestComposition: sampling twice is sampling once at the combined
// probability — the same spans, the same threshold — proportional
// stages multiply, an equalizing stage never lowers the threshold a
// harder earlier stage set.
func TestComposition(t *testing.T) {
	stage := func(mode string, p float32) *tracesProcessor {
		return newTracesEnv(t, config(p, func(c *Config) { c.Mode = mode })).p
	}
	const P, E = ModeProportional, ModeEqualizing
	for _, tc := range []struct {
		name   string
		stages []*tracesProcessor
		once   *tracesProcessor
		th     string
	}{
		{"proportional 50 then proportional 50", []*tracesProcessor{stage(P, 50), stage(P, 50)}, stage(P, 25), "c"},
		{"proportional 50 then equalizing 25", []*tracesProcessor{stage(P, 50), stage(E, 25)}, stage(P, 25), "c"},
		{"equalizing 25 then equalizing 50", []*tracesProcessor{stage(E, 25), stage(E, 50)}, stage(P, 25), "c"},
		{"equalizing 25 then proportional 50", []*tracesProcessor{stage(E, 25), stage(P, 50)}, stage(P, 12.5), "e"},
		{"proportional 10 then proportional 10", []*tracesProcessor{stage(P, 10), stage(P, 10)}, stage(P, 1), "fd70a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			kept := 0
			for range 100_000 {
				tid := randomTID(r)
				a, b := ptrace.NewSpan(), ptrace.NewSpan()
				a.SetTraceID(tid)
				b.SetTraceID(tid)
				twice, ts := run(a, tc.stages...)
				once, _ := run(b, tc.once)
				if twice != once {
					t.Fatalf("trace %s: kept %v sampling twice, %v once", tid, twice, once)
				}
				if twice {
					kept++
					if ts != "ot=th:"+tc.th {
						t.Fatalf("trace %s: tracestate %q, want ot=th:%s", tid, ts, tc.th)
					}
				}
			}
			t.Logf("%d of 100000 kept, th %s", kept, tc.th)
		})
	}
}

// TestLogsFollowTraces: a log record with a trace id gets the decision
// and the threshold (and, in hash_seed mode, the randomness) of its
// trace's spans, with the same configuration, in every mode.
func TestLogsFollowTraces(t *testing.T) {
	for _, mode := range []string{ModeProportional, ModeEqualizing, ModeHashSeed} {
		t.Run(mode, func(t *testing.T) {
			c := config(20, func(c *Config) { c.Mode = mode; c.HashSeed = 1234 })
			te, le := newTracesEnv(t, c), newLogsEnv(t, c)
			r := rand.New(rand.NewPCG(3, 4))
			td, ld := ptrace.NewTraces(), plog.NewLogs()
			spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			const n = 10_000
			for range n {
				tid := randomTID(r)
				spans.AppendEmpty().SetTraceID(tid)
				lr := records.AppendEmpty()
				lr.SetTraceID(tid)
				lr.Body().SetStr("request served")
			}
			if err := te.p.ConsumeTraces(t.Context(), td); err != nil {
				t.Fatal(err)
			}
			if err := le.p.ConsumeLogs(t.Context(), ld); err != nil {
				t.Fatal(err)
			}
			gotSpans, gotRecords := te.sink.spans(), le.sink.records()
			if len(gotSpans) != len(gotRecords) || len(gotSpans) == 0 || len(gotSpans) == n {
				t.Fatalf("kept %d spans and %d records of %d", len(gotSpans), len(gotRecords), n)
			}
			for i, sp := range gotSpans {
				lr := gotRecords[i]
				if sp.TraceID() != lr.TraceID() {
					t.Fatalf("kept span %d of trace %s, record of trace %s", i, sp.TraceID(), lr.TraceID())
				}
				ts, _ := sampling.NewW3CTraceState(sp.TraceState().AsRaw())
				th, _ := lr.Attributes().Get(attrThreshold)
				if ts.OTelValue().TValue() != th.Str() {
					t.Fatalf("span th %q, record sampling.threshold %q", ts.OTelValue().TValue(), th.Str())
				}
				rv, _ := lr.Attributes().Get(attrRandomness)
				if ts.OTelValue().RValue() != rv.Str() {
					t.Fatalf("span rv %q, record sampling.randomness %q", ts.OTelValue().RValue(), rv.Str())
				}
			}
			t.Logf("%d of %d traces kept, spans and records alike", len(gotSpans), n)
		})
	}
}

// TestLogsWithoutTraceID: by default records without a trace id are
// kept, unchanged, and counted; with logs_without_trace_id: sample they
// are sampled by the hash of from_attribute, or of the body when the
// record lacks it, so that equal values share a decision.
func TestLogsWithoutTraceID(t *testing.T) {
	batch := func() plog.Logs {
		ld := plog.NewLogs()
		records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := range 4000 {
			lr := records.AppendEmpty()
			lr.Body().SetStr(fmt.Sprint("line ", i%500))
			if i%2 == 0 {
				lr.Attributes().PutStr("user", fmt.Sprint("u", i%100))
			}
		}
		return ld
	}
	e := newLogsEnv(t, config(10, nil))
	if err := e.p.ConsumeLogs(t.Context(), batch()); err != nil {
		t.Fatal(err)
	}
	kept, dropped, adj := counts(t, e.tel, "logs")
	if got := len(e.sink.records()); got != 4000 || kept["no_trace_id"] != 4000 || len(dropped) != 0 || adj != 0 {
		t.Fatalf("default: %d of 4000 kept; kept %v dropped %v adjusted %v", got, kept, dropped, adj)
	}
	for _, lr := range e.sink.records() {
		if _, ok := lr.Attributes().Get(attrThreshold); ok {
			t.Fatal("a record kept unsampled got a threshold")
		}
	}

	e = newLogsEnv(t, config(10, func(c *Config) { c.LogsWithoutTraceID = UntracedSample; c.FromAttribute = "user" }))
	if err := e.p.ConsumeLogs(t.Context(), batch()); err != nil {
		t.Fatal(err)
	}
	byKey := map[string]int{}
	for _, lr := range e.sink.records() {
		k := "body " + lr.Body().Str()
		if u, ok := lr.Attributes().Get("user"); ok {
			k = "user " + u.Str()
		}
		byKey[k]++
		if th, _ := lr.Attributes().Get(attrThreshold); th.Str() != "e666" {
			t.Fatalf("sampling.threshold %q, want e666", th.Str())
		}
		if _, ok := lr.Attributes().Get(attrRandomness); !ok {
			t.Fatal("a record sampled by hash has no sampling.randomness")
		}
	}
	for k, n := range byKey {
		// Records i = 0…3999: even ones have user u(i%100), 50 users of
		// 40 records; odd ones have only their body, line (i%500), 250
		// bodies of 8 records.
		if want := map[bool]int{true: 40, false: 8}[strings.HasPrefix(k, "user ")]; n != want {
			t.Errorf("%s: %d records kept, want all %d or none", k, n, want)
		}
	}
	kept, dropped, _ = counts(t, e.tel, "logs")
	if got := len(e.sink.records()); got == 0 || got > 1200 || kept["sampled"] != float64(got) || dropped["sampled_out"] != float64(4000-got) {
		t.Fatalf("sample: %d of 4000 kept; kept %v dropped %v", got, kept, dropped)
	}
}

// TestLogsHashRate: records sampled by the hash of their body at 10 %
// are kept within the binomial bounds (plus the 2^-14 granularity of the
// Collector's hash).
func TestLogsHashRate(t *testing.T) {
	const n = 100_000
	e := newLogsEnv(t, config(10, func(c *Config) { c.AttributeSource = SourceRecord }))
	ld := plog.NewLogs()
	records := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		records.AppendEmpty().Body().SetStr(fmt.Sprintf("GET /item/%d 200", i))
	}
	if err := e.p.ConsumeLogs(t.Context(), ld); err != nil {
		t.Fatal(err)
	}
	p := e.p.s.base.Probability()
	kept := len(e.sink.records())
	if d := math.Abs(float64(kept) - n*p); d > z999*math.Sqrt(n*p*(1-p))+n/float64(hashBuckets) {
		t.Errorf("kept %d of %d at p=%v", kept, n, p)
	}
	if e.p.s.mode != ModeHashSeed {
		t.Errorf("mode %s, want hash_seed (attribute_source record, as the Collector)", e.p.s.mode)
	}
}

// TestLogsPriorityAndErrors: sampling_priority 0 drops, a higher value
// raises the probability; unusable sampling attributes are counted by
// reason; the counts add up to the records received.
func TestLogsPriorityAndErrors(t *testing.T) {
	tid := mustTID("0102030405060708090a0b0c0d0e0f10") // randomness 0x0a0b0c0d0e0f10, about 0.039
	for _, tc := range []struct {
		name     string
		failOpen bool
		attrs    map[string]any
		kept     string // reason, "" = dropped
		dropped  string
		th       string
	}{
		{name: "sampled out", attrs: nil, dropped: "sampled_out"},
		{name: "priority 0", attrs: map[string]any{"prio": 0}, dropped: "sampling_priority"},
		{name: "priority 100", attrs: map[string]any{"prio": 100}, kept: "sampling_priority", th: "0"},
		{name: "priority 95", attrs: map[string]any{"prio": 95.0}, dropped: "sampled_out"},
		{name: "priority 97", attrs: map[string]any{"prio": 97}, kept: "sampling_priority", th: "07ae1"},
		{name: "priority as string ignored", attrs: map[string]any{"prio": "100"}, dropped: "sampled_out"},
		{name: "bad threshold", attrs: map[string]any{attrThreshold: "zz"}, dropped: "invalid_tracestate"},
		{name: "bad randomness", attrs: map[string]any{attrRandomness: "12"}, dropped: "invalid_tracestate"},
		{name: "bad randomness, fail open", failOpen: true, attrs: map[string]any{attrRandomness: "12"}, kept: "fail_open"},
		{name: "inconsistent", attrs: map[string]any{attrThreshold: "8"}, dropped: "inconsistent_threshold"},
		{name: "explicit randomness", attrs: map[string]any{attrRandomness: "ffffffffffffff"}, kept: "sampled", th: "fd70a"},
		{name: "priority keeps an arriving threshold", attrs: map[string]any{"prio": 100, attrThreshold: "8", attrRandomness: "90000000000000"}, kept: "sampling_priority", th: "8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLogsEnv(t, config(1, func(c *Config) { c.SamplingPriority = "prio"; c.FailClosed = !tc.failOpen }))
			if err := e.p.ConsumeLogs(t.Context(), oneRecord(tid, "x", tc.attrs)); err != nil {
				t.Fatal(err)
			}
			kept, dropped, _ := counts(t, e.tel, "logs")
			got := e.sink.records()
			if tc.kept == "" {
				if len(got) != 0 || dropped[tc.dropped] != 1 || len(kept) != 0 {
					t.Fatalf("kept %d (%v), dropped %v; want dropped[%s]", len(got), kept, dropped, tc.dropped)
				}
				return
			}
			if len(got) != 1 || kept[tc.kept] != 1 || len(dropped) != 0 {
				t.Fatalf("kept %d (%v), dropped %v; want kept[%s]", len(got), kept, dropped, tc.kept)
			}
			if th, _ := got[0].Attributes().Get(attrThreshold); tc.th != "" && th.Str() != tc.th {
				t.Errorf("sampling.threshold %q, want %q", th.Str(), tc.th)
			}
		})
	}
}

// TestCountsAddUp: a mixed request; every span is kept or dropped with a
// reason, a request left empty is not handed on.
func TestCountsAddUp(t *testing.T) {
	e := newTracesEnv(t, config(30, nil))
	r := rand.New(rand.NewPCG(5, 6))
	td := ptrace.NewTraces()
	for range 3 {
		rs := td.ResourceSpans().AppendEmpty()
		for range 2 {
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			for i := range 500 {
				sp := spans.AppendEmpty()
				sp.SetTraceID(randomTID(r))
				switch i % 50 {
				case 0:
					sp.Attributes().PutInt("sampling.priority", 0)
				case 1:
					sp.Attributes().PutInt("sampling.priority", 1)
				case 2:
					sp.TraceState().FromRaw("ot=th:zz")
				case 3:
					sp.SetTraceID(pcommon.TraceID{})
				}
			}
		}
	}
	if err := e.p.ConsumeTraces(t.Context(), td); err != nil {
		t.Fatal(err)
	}
	kept, dropped, _ := counts(t, e.tel, "traces")
	total := 0.0
	for _, v := range kept {
		total += v
	}
	for _, v := range dropped {
		total += v
	}
	if total != 3000 || kept["sampling_priority"] != 60 || dropped["sampling_priority"] != 60 ||
		dropped["invalid_tracestate"] != 60 || dropped["missing_randomness"] != 60 ||
		kept["sampled"] != float64(len(e.sink.spans())-60) {
		t.Fatalf("kept %v dropped %v (%d spans handed on), want 3000 in all", kept, dropped, len(e.sink.spans()))
	}
	calls := len(e.sink.got)
	if err := e.p.ConsumeTraces(t.Context(), oneSpan(mustTID("0102030405060708090a0b0c0d0e0f10"), "", nil)); err != nil {
		t.Fatal(err)
	}
	if len(e.sink.got) != calls {
		t.Error("an empty request was handed on")
	}
}

// FuzzSpanTraceState: any tracestate, trace id, priority and mode: no
// panic, and a kept span with a threshold has randomness at or above it
// (from its rv or its trace id).
func FuzzSpanTraceState(f *testing.F) {
	f.Add("ot=th:8;rv:9b8233f7e3a151", []byte{1, 2, 3}, int64(-1), uint8(0), float32(50))
	f.Add("congo=t61rcWkgMzE,ot=th:c", []byte{}, int64(0), uint8(1), float32(25))
	f.Add("ot=th:-1", []byte{0xff}, int64(1), uint8(2), float32(1))
	f.Add("ot=rv:abababababababab", []byte{9}, int64(2), uint8(0), float32(100))
	f.Fuzz(func(t *testing.T, ts string, id []byte, prio int64, mode uint8, p float32) {
		if math.IsNaN(float64(p)) || p < 0 || p > 0 && float64(p)/100 < sampling.MinSamplingProbability {
			return
		}
		c := config(p, func(c *Config) {
			c.Mode = []string{ModeProportional, ModeEqualizing, ModeHashSeed}[mode%3]
			c.FailClosed = mode&4 == 0
		})
		if c.Validate() != nil {
			return
		}
		sink := &traceSink{}
		proc, err := newTracesProcessor(pipeline.Settings{ID: pipeline.MustID(Type)}, c, sink) // no telemetry: fast
		if err != nil {
			t.Fatal(err)
		}
		var tid pcommon.TraceID
		copy(tid[:], id)
		attrs := map[string]any{}
		if prio >= 0 {
			attrs["sampling.priority"] = prio
		}
		if err := proc.ConsumeTraces(t.Context(), oneSpan(tid, ts, attrs)); err != nil {
			t.Fatal(err)
		}
		for _, sp := range sink.spans() {
			if sp.TraceState().AsRaw() == ts {
				continue // passed unchanged: fail open, or forced through an unusable one
			}
			w, err := sampling.NewW3CTraceState(sp.TraceState().AsRaw())
			if err != nil {
				continue // kept unchanged (fail open or forced)
			}
			th, hasTh := w.OTelValue().TValueThreshold()
			if !hasTh {
				continue
			}
			rnd, hasRV := w.OTelValue().RValueRandomness()
			if !hasRV {
				if tid.IsEmpty() {
					continue
				}
				rnd = sampling.TraceIDToRandomness(tid)
			}
			if !th.ShouldSample(rnd) && prio <= 0 {
				t.Fatalf("kept %q with randomness %s below its threshold", sp.TraceState().AsRaw(), rnd.RValue())
			}
		}
	})
}

// TestRandomFlag: randomness taken from trace ids without the W3C random
// flag is logged once per processor; with the flag, not at all.
func TestRandomFlag(t *testing.T) {
	for _, tc := range []struct {
		flags uint32
		want  int
	}{{0x1, 1}, {0x3, 0}} {
		var buf strings.Builder
		set := pipeline.Settings{ID: pipeline.MustID(Type), Logger: slog.New(slog.NewTextHandler(&buf, nil))}
		p, err := newTracesProcessor(set, config(100, nil), &traceSink{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			td := oneSpan(pcommon.TraceID{1, byte(i)}, "", nil)
			td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetFlags(tc.flags)
			if err := p.ConsumeTraces(t.Context(), td); err != nil {
				t.Fatal(err)
			}
		}
		if got := strings.Count(buf.String(), "W3C random flag"); got != tc.want {
			t.Errorf("flags %#x: %d warnings, want %d:\n%s", tc.flags, got, tc.want, buf.String())
		}
	}
}
