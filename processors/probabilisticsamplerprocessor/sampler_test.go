package probabilisticsamplerprocessor

import (
	"math"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestSpecThresholdTable: the specification's table of 1-in-N
// probabilities (tracestate-probability-sampling.md, "Converting
// floating-point probability to threshold value"): the th value at
// precision 3, 4 and 5 and the exact adjusted count at precision 4, from
// sampling_percentage 100/N as a float32.
func TestSpecThresholdTable(t *testing.T) {
	for _, tc := range []struct {
		n   float64
		th  [3]string // precision 3, 4, 5
		adj float64   // precision 4
	}{
		{1, [3]string{"0", "0", "0"}, 1},
		{2, [3]string{"8", "8", "8"}, 2},
		{3, [3]string{"aab", "aaab", "aaaab"}, 3.00004577706569},
		{4, [3]string{"c", "c", "c"}, 4},
		{5, [3]string{"ccd", "cccd", "ccccd"}, 5.0000762951094835},
		{8, [3]string{"e", "e", "e"}, 8},
		{10, [3]string{"e66", "e666", "e6666"}, 9.99938968568813},
		{16, [3]string{"f", "f", "f"}, 16},
		{100, [3]string{"fd71", "fd70a", "fd70a4"}, 99.99771123402633},
		{1000, [3]string{"ffbe7", "ffbe77", "ffbe76d"}, 1000.012874769029},
		{10000, [3]string{"fff972", "fff9724", "fff97247"}, 9999.830725674266},
		{100000, [3]string{"ffff584", "ffff583a", "ffff583a5"}, 99999.238556461},
		{1000000, [3]string{"ffffef4", "ffffef39", "ffffef391"}, 999992.38556461},
	} {
		for i, prec := range []int{3, 4, 5} {
			for _, mode := range []string{ModeProportional, ModeEqualizing} {
				c := config(float32(100/tc.n), func(c *Config) { c.SamplingPrecision = prec; c.Mode = mode })
				s := newSampler(c, false)
				if s.baseTV != tc.th[i] {
					t.Errorf("1-in-%v precision %d %s: th %q, want %q", tc.n, prec, mode, s.baseTV, tc.th[i])
				}
				if prec == 4 {
					if got := s.base.AdjustedCount(); math.Abs(got-tc.adj)/tc.adj > 1e-12 {
						t.Errorf("1-in-%v: adjusted count %v, want %v", tc.n, got, tc.adj)
					}
				}
			}
		}
	}
}

// TestHashSeedCompatibility: hash_seed mode decides as the Collector's
// (examples from its TestHashingFunction: seed, trace id, sampled at 50 %)
// and writes its thresholds (14-bit rounding: 10 % is e668, not e666).
func TestHashSeedCompatibility(t *testing.T) {
	for _, tc := range []struct {
		seed    uint32
		tid     string
		sampled bool
	}{
		{653, "474a03c76d75951a4b4c537ced8f1122", true},
		{563, "53a518291e91307e43cd8467bb06f986", true},
		{904, "4e40762d3ee97a1c0932e4fa584f89a8", false},
		{561, "2a8aa76c18d08e1e8be935541f9318c7", false},
		{757, "9e3d0f9481dc422cb613ea550897ae71", false},
		{172, "84a1ce7bcea3e66194e72b4aa2694e31", true},
		{546, "e3a345cc8dbb6f014bfa1edad3981820", true},
		{790, "7629ecbea89398bfd9752a2f51c2c137", true},
		{147, "a8a5c3bb9205883fae17ead6675b2450", false},
		{666, "3ee60b013303bcfda06be89071b90bd1", true},
		{35, "855f493c5b5b1e2fcbc9993f8061eac8", false},
		{460, "60c3b9a2dde734d71ba5cca7eb164bce", true},
	} {
		e := newTracesEnv(t, config(50, func(c *Config) { c.HashSeed = tc.seed }))
		if err := e.p.ConsumeTraces(t.Context(), oneSpan(mustTID(tc.tid), "", nil)); err != nil {
			t.Fatal(err)
		}
		if got := len(e.sink.spans()) == 1; got != tc.sampled {
			t.Errorf("seed %d trace %s: sampled %v, want %v", tc.seed, tc.tid, got, tc.sampled)
		}
	}
	for _, tc := range []struct {
		pct float32
		tv  string
	}{{100, "0"}, {75, "4"}, {50, "8"}, {25, "c"}, {10, "e668"}, {100.0 / 3, "aaac"}} {
		s := newSampler(config(tc.pct, func(c *Config) { c.Mode = ModeHashSeed }), false)
		if s.baseTV != tc.tv {
			t.Errorf("hash_seed %v%%: th %q, want %q", tc.pct, s.baseTV, tc.tv)
		}
	}
	// The empty input's hash (seed 0) is the Collector's: bucket 0x3515.
	if got := fnvBytes(seedHash(0), nil) & hashMask; got != 0x3515 {
		t.Errorf("hash of nothing: %#x, want 0x3515", got)
	}
}

// TestTraceStateVectors: the outbound tracestate, exactly, for arriving
// tracestates, in both consistent modes: the examples of the
// specification (tracestate-probability-sampling.md: downstream
// equalizing and proportional samplers) and of the Collector's processor.
// pkg/sampling writes rv before th and the ot entry first.
func TestTraceStateVectors(t *testing.T) {
	const rnd8 = "fefefefefefefefefe80000000000000" // randomness 0x80000000000000
	const always = "111111111111111111ffffffffffffff"
	type want struct {
		ts  string // "" = dropped
		adj float64
	}
	both := func(ts string, adj float64) map[string]want {
		return map[string]want{ModeEqualizing: {ts, adj}, ModeProportional: {ts, adj}}
	}
	for _, tc := range []struct {
		name     string
		pct      float32
		prec     int // 0: default
		failOpen bool
		tid      string
		ts       string
		attrs    map[string]any
		want     map[string]want
		reason   string // drop reason, when dropped
	}{
		{name: "100 percent", pct: 100, tid: rnd8, want: both("ot=th:0", 1)},
		{name: "above 100 is 100", pct: 200, tid: rnd8, want: both("ot=th:0", 1)},
		{name: "50 percent, randomness at the threshold", pct: 50, tid: rnd8, want: both("ot=th:8", 2)},
		{name: "49 percent", pct: 49, tid: rnd8, want: both("", 0), reason: "sampled_out"},
		{name: "25 percent kept", pct: 25, tid: "ddddddddddddddddddc0000000000000", want: both("ot=th:c", 4)},
		{name: "25 percent dropped", pct: 25, tid: "ddddddddddddddddddb0000000000000", want: both("", 0), reason: "sampled_out"},
		{name: "1 percent precision 4", pct: 1, prec: 4, tid: "a0a0a0a0a0a0a0a0a0fe000000000000", want: both("ot=th:fd70a", 99.99771123402633)},
		{name: "README: rv 9b8233f7e3a151 at 50 percent", pct: 50, tid: rnd8, ts: "ot=th:0;rv:9b8233f7e3a151",
			want: both("ot=rv:9b8233f7e3a151;th:8", 2)},
		{name: "explicit rv at full precision", pct: 1, prec: 14, tid: rnd8, ts: "ot=rv:fd70a3d70a3d71",
			want: both("ot=rv:fd70a3d70a3d71;th:fd70a3d70a3d71", 100)},
		{name: "explicit rv one below", pct: 1, prec: 14, tid: rnd8, ts: "ot=rv:fd70a3d70a3d70", want: both("", 0), reason: "sampled_out"},
		{name: "explicit rv, precision 3 rounds up", pct: 1, prec: 3, tid: rnd8, ts: "ot=rv:fd70a3d70a3d71", want: both("", 0), reason: "sampled_out"},
		{name: "arriving 50 at 25", pct: 25, tid: always, ts: "ot=th:8",
			want: map[string]want{ModeEqualizing: {"ot=th:c", 4}, ModeProportional: {"ot=th:e", 8}}},
		{name: "arriving 50 at 50", pct: 50, tid: rnd8, ts: "ot=rv:c0000000000000;th:8",
			want: map[string]want{ModeEqualizing: {"ot=rv:c0000000000000;th:8", 2}, ModeProportional: {"ot=rv:c0000000000000;th:c", 4}}},
		{name: "arriving th with trailing zeros", pct: 50, tid: rnd8, ts: "ot=rv:90000000000000;th:80000000000000",
			want: map[string]want{ModeEqualizing: {"ot=rv:90000000000000;th:8", 2}, ModeProportional: {"", 0}}, reason: "sampled_out"},
		{name: "arriving 50 at 40 precision 6", pct: 40, prec: 6, tid: "a0a0a0a0a0a0a0a0a0d0000000000000", ts: "ot=th:8",
			want: map[string]want{ModeEqualizing: {"ot=th:99999a", 2.5}, ModeProportional: {"ot=th:cccccd", 5}}},
		{name: "equalizing keeps a higher arriving threshold", pct: 50, tid: always, ts: "ot=th:e",
			want: map[string]want{ModeEqualizing: {"ot=th:e", 8}, ModeProportional: {"ot=th:f", 16}}},
		{name: "other vendors kept, ot first", pct: 50, tid: always, ts: "congo=t61rcWkgMzE,ot=th:8",
			want: map[string]want{ModeEqualizing: {"ot=th:8,congo=t61rcWkgMzE", 2}, ModeProportional: {"ot=th:c,congo=t61rcWkgMzE", 4}}},
		{name: "other ot keys kept", pct: 50, tid: always, ts: "ot=th:8;xx:yy",
			want: map[string]want{ModeEqualizing: {"ot=th:8;xx:yy", 2}, ModeProportional: {"ot=th:c;xx:yy", 4}}},
		{name: "probability underflow", pct: 0x1p-4, tid: always, ts: "ot=th:fffffffffffff8",
			want: map[string]want{ModeEqualizing: {"ot=th:fffffffffffff8", 1 << 53}, ModeProportional: {"", 0}}, reason: "sampled_out"},
		{name: "inconsistent threshold erased, fail open", pct: 100, failOpen: true, tid: rnd8, ts: "ot=rv:40000000000000;th:8",
			want: both("ot=rv:40000000000000;th:0", 1)},
		{name: "inconsistent threshold, fail closed", pct: 100, tid: rnd8, ts: "ot=rv:40000000000000;th:8", want: both("", 0), reason: "inconsistent_threshold"},
		{name: "inconsistent with the trace id", pct: 100, tid: "ffffffffffffffffff70000000000000", ts: "ot=th:8", want: both("", 0), reason: "inconsistent_threshold"},
		{name: "rv too long", pct: 100, tid: rnd8, ts: "ot=rv:abababababababab", want: both("", 0), reason: "invalid_tracestate"},
		{name: "th too long", pct: 100, tid: rnd8, ts: "ot=th:abababababababab", want: both("", 0), reason: "invalid_tracestate"},
		{name: "th syntax", pct: 100, tid: rnd8, ts: "ot=th:-1", want: both("", 0), reason: "invalid_tracestate"},
		{name: "invalid tracestate, fail open: unchanged", pct: 100, failOpen: true, tid: rnd8, ts: "ot=th:-1", want: both("ot=th:-1", 0)},
		{name: "no trace id", pct: 100, tid: "00000000000000000000000000000000", want: both("", 0), reason: "missing_randomness"},
		{name: "no trace id, fail open: unchanged", pct: 50, failOpen: true, tid: "00000000000000000000000000000000", want: both("", 0)},
		{name: "no trace id, with rv", pct: 50, tid: "00000000000000000000000000000000", ts: "ot=rv:80000000000000", want: both("ot=rv:80000000000000;th:8", 2)},
		{name: "priority keeps", pct: 1, tid: rnd8, attrs: map[string]any{"sampling.priority": 2}, want: both("ot=th:0", 1)},
		{name: "priority as string", pct: 0, tid: rnd8, attrs: map[string]any{"sampling.priority": "1"}, want: both("ot=th:0", 1)},
		{name: "priority keeps an arriving threshold", pct: 1, tid: always, ts: "ot=th:8", attrs: map[string]any{"sampling.priority": 1.5}, want: both("ot=th:8", 2)},
		{name: "priority 0 drops", pct: 100, tid: rnd8, attrs: map[string]any{"sampling.priority": 0}, want: both("", 0), reason: "sampling_priority"},
		{name: "negative priority is none", pct: 100, tid: rnd8, attrs: map[string]any{"sampling.priority": -1}, want: both("ot=th:0", 1)},
		{name: "0 percent", pct: 0, tid: always, want: both("", 0), reason: "sampled_out"},
	} {
		for _, mode := range []string{ModeEqualizing, ModeProportional} {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				c := config(tc.pct, func(c *Config) {
					c.Mode = mode
					c.FailClosed = !tc.failOpen
					if tc.prec != 0 {
						c.SamplingPrecision = tc.prec
					}
				})
				e := newTracesEnv(t, c)
				if err := e.p.ConsumeTraces(t.Context(), oneSpan(mustTID(tc.tid), tc.ts, tc.attrs)); err != nil {
					t.Fatal(err)
				}
				w := tc.want[mode]
				spans := e.sink.spans()
				kept, dropped, adj := counts(t, e.tel, "traces")
				if w.ts == "" && !(tc.failOpen && tc.reason == "") {
					if len(spans) != 0 {
						t.Fatalf("kept with tracestate %q, want dropped", spans[0].TraceState().AsRaw())
					}
					if dropped[tc.reason] != 1 || len(kept) != 0 {
						t.Errorf("counted kept %v dropped %v, want dropped[%s] = 1", kept, dropped, tc.reason)
					}
					return
				}
				if len(spans) != 1 {
					t.Fatalf("dropped (%v), want kept with %q", dropped, w.ts)
				}
				if got := spans[0].TraceState().AsRaw(); got != w.ts {
					t.Errorf("tracestate %q, want %q", got, w.ts)
				}
				if math.Abs(adj-w.adj) > 1e-6*w.adj { // thresholds of 6 digits or fewer are not exact
					t.Errorf("adjusted count %v, want %v", adj, w.adj)
				}
				if len(dropped) != 0 || len(kept) != 1 {
					t.Errorf("counted kept %v dropped %v, want one kept", kept, dropped)
				}
			})
		}
	}
}

// TestHashSeedTraceState: hash_seed mode writes the randomness it
// derived as rv, with its threshold; an arriving consistent-sampling
// tracestate is an error there.
func TestHashSeedTraceState(t *testing.T) {
	e := newTracesEnv(t, config(25, func(c *Config) { c.HashSeed = 4312 }))
	for i := range 200 {
		tid := pcommon.TraceID{15: byte(i), 14: byte(i * 7), 0: 1}
		if err := e.p.ConsumeTraces(t.Context(), oneSpan(tid, "", nil)); err != nil {
			t.Fatal(err)
		}
	}
	spans := e.sink.spans()
	if len(spans) < 20 || len(spans) > 80 {
		t.Fatalf("kept %d of 200 at 25%%", len(spans))
	}
	for _, sp := range spans {
		ts, err := sampling.NewW3CTraceState(sp.TraceState().AsRaw())
		if err != nil {
			t.Fatal(err)
		}
		th, okT := ts.OTelValue().TValueThreshold()
		rv, okR := ts.OTelValue().RValueRandomness()
		if !okT || !okR || ts.OTelValue().TValue() != "c" || !th.ShouldSample(rv) {
			t.Fatalf("tracestate %q: want rv and th:c with rv ≥ th", sp.TraceState().AsRaw())
		}
		tid := sp.TraceID()
		want := hashRandomness(fnvBytes(seedHash(4312), tid[:]))
		if rv != want {
			t.Fatalf("rv %s, want %s", rv.RValue(), want.RValue())
		}
	}
	for _, ts := range []string{"ot=th:8", "ot=rv:80000000000000"} {
		e := newTracesEnv(t, config(100, func(c *Config) { c.Mode = ModeHashSeed }))
		if err := e.p.ConsumeTraces(t.Context(), oneSpan(mustTID("0102030405060708090a0b0c0d0e0f10"), ts, nil)); err != nil {
			t.Fatal(err)
		}
		if _, dropped, _ := counts(t, e.tel, "traces"); len(e.sink.spans()) != 0 || dropped["threshold_in_use"] != 1 {
			t.Errorf("%s in hash_seed mode: kept %d, dropped %v", ts, len(e.sink.spans()), dropped)
		}
	}
}
