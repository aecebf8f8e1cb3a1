package aggregateprocessor

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// wait lets the clock reach the next flush and the flush finish.
func wait(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestCounterOutputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, tel := newTest(t, rules(Rule{
			Match: Match{MetricName: "req"}, Interval: 10 * time.Second, By: []string{},
			Outputs: []string{"total", "increase"}, StalenessInterval: 30 * time.Second,
		}))
		t0 := time.Now()
		A, B := a("s", "a"), a("s", "b")
		// A has no start time: its first sample is only a base. B started
		// after the processor: its first sample counts whole.
		consume(t, p, build(nil, "req", counter, pt{attrs: A, v: 10}, pt{attrs: B, v: 4, start: t0}))
		wait(5 * time.Second)
		consume(t, p, build(nil, "req", counter, pt{attrs: A, v: 15}))
		// An out-of-order sample is skipped and counted.
		consume(t, p, build(nil, "req", counter, pt{attrs: A, v: 100, ts: t0.Add(time.Second)}))
		wait(5 * time.Second)
		equalLines(t, "interval 1", s.take(), []string{"req:10s_total 9", "req:10s_increase 9"})
		if n := droppedCount(tel, ReasonOutOfOrder); n != 1 {
			t.Errorf("out_of_order drops = %v, want 1", n)
		}
		// A resets (goes down); B goes on.
		consume(t, p, build(nil, "req", counter, pt{attrs: A, v: 3}, pt{attrs: B, v: 6, start: t0}))
		wait(10 * time.Second)
		equalLines(t, "interval 2", s.take(), []string{"req:10s_total 14", "req:10s_increase 5"})
		// A gap: no samples; the group lives on, increase is 0.
		wait(10 * time.Second)
		equalLines(t, "interval 3 (gap)", s.take(), []string{"req:10s_total 14", "req:10s_increase 0"})
		// B restarts with a new start time and a larger value: a reset too.
		consume(t, p, build(nil, "req", counter, pt{attrs: A, v: 8}, pt{attrs: B, v: 7, start: time.Now()}))
		wait(10 * time.Second)
		equalLines(t, "interval 4", s.take(), []string{"req:10s_total 26", "req:10s_increase 12"})
	})
}

func TestIncreaseTemporalityAndStartTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(3 * time.Second) // start off a boundary: the first interval is short
		p, s, _ := newTest(t, rules(Rule{Match: Match{MetricName: "req"}, Interval: 10 * time.Second, Outputs: []string{"total", "increase"}}))
		created := time.Now()
		consume(t, p, build(nil, "req", deltaSum, pt{v: 2}))
		wait(7 * time.Second)
		consume(t, p, build(nil, "req", deltaSum, pt{v: 3}))
		wait(10 * time.Second)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.batches) != 2 {
			t.Fatalf("got %d flushes, want 2", len(s.batches))
		}
		type want struct {
			start, ts time.Time
			v         float64
			monotonic bool
		}
		for i, w := range [][2]want{
			{{created, created.Add(7 * time.Second), 2, true}, {created, created.Add(7 * time.Second), 2, false}},
			{{created, created.Add(17 * time.Second), 5, true}, {created.Add(7 * time.Second), created.Add(17 * time.Second), 3, false}},
		} {
			ms := s.batches[i].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			if ms.Len() != 2 {
				t.Fatalf("flush %d: %d metrics", i, ms.Len())
			}
			for j := range 2 {
				m := ms.At(j)
				if m.Type() != pmetric.MetricTypeSum || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
					t.Fatalf("flush %d %s: not a cumulative sum", i, m.Name())
				}
				dp := m.Sum().DataPoints().At(0)
				if dp.StartTimestamp().AsTime() != w[j].start.UTC() || dp.Timestamp().AsTime() != w[j].ts.UTC() ||
					dp.DoubleValue() != w[j].v || m.Sum().IsMonotonic() != w[j].monotonic {
					t.Errorf("flush %d %s: start %v ts %v value %v monotonic %v; want %+v", i, m.Name(),
						dp.StartTimestamp().AsTime(), dp.Timestamp().AsTime(), dp.DoubleValue(), m.Sum().IsMonotonic(), w[j])
				}
			}
		}
		if got := s.batches[1].ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Name(); got != ScopeName {
			t.Errorf("scope %q", got)
		}
	})
}

func TestGaugeOutputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, rules(Rule{
			Match: Match{MetricName: "te.*"}, Interval: 10 * time.Second, By: []string{"room"},
			Outputs: []string{"sum", "count_series", "count_samples", "last", "min", "max", "avg", "quantiles(0, 0.5, 0.9, 1)"},
		}))
		t0 := time.Now()
		consume(t, p, build(nil, "temp", gauge,
			pt{attrs: a("room", "a", "sensor", "1"), v: 10},
			pt{attrs: a("room", "a", "sensor", "2"), v: 20, ts: t0.Add(2 * time.Second)},
			pt{attrs: a("room", "b", "sensor", "1"), v: 5}))
		wait(5 * time.Second)
		consume(t, p, build(nil, "temp", gauge, pt{attrs: a("room", "a", "sensor", "1"), v: 30, ts: t0.Add(time.Second)}))
		wait(5 * time.Second)
		equalLines(t, "interval 1", s.take(), []string{
			`temp:10s_by_room_sum{room="a"} 60`, `temp:10s_by_room_sum{room="b"} 5`,
			`temp:10s_by_room_count_series{room="a"} 2`, `temp:10s_by_room_count_series{room="b"} 1`,
			`temp:10s_by_room_count_samples{room="a"} 3`, `temp:10s_by_room_count_samples{room="b"} 1`,
			// last is the latest timestamp (20 at t0+2s), not the last to arrive.
			`temp:10s_by_room_last{room="a"} 20`, `temp:10s_by_room_last{room="b"} 5`,
			`temp:10s_by_room_min{room="a"} 10`, `temp:10s_by_room_min{room="b"} 5`,
			`temp:10s_by_room_max{room="a"} 30`, `temp:10s_by_room_max{room="b"} 5`,
			`temp:10s_by_room_avg{room="a"} 20`, `temp:10s_by_room_avg{room="b"} 5`,
			`temp:10s_by_room_quantiles{quantile="0",room="a"} 10`, `temp:10s_by_room_quantiles{quantile="0",room="b"} 5`,
			`temp:10s_by_room_quantiles{quantile="0.5",room="a"} 20`, `temp:10s_by_room_quantiles{quantile="0.5",room="b"} 5`,
			`temp:10s_by_room_quantiles{quantile="0.9",room="a"} 28`, `temp:10s_by_room_quantiles{quantile="0.9",room="b"} 5`,
			`temp:10s_by_room_quantiles{quantile="1",room="a"} 30`, `temp:10s_by_room_quantiles{quantile="1",room="b"} 5`,
		})
		// No samples: gauge outputs are not emitted.
		wait(10 * time.Second)
		equalLines(t, "interval 2", s.take(), nil)
	})
}

func TestGroupingAndNodeIdentity(t *testing.T) {
	res := a("node.name", "edge-1", "node.site", "plant-7", "service.name", "api")
	for _, tc := range []struct {
		name string
		rule Rule
		want []string
	}{
		{"neither: over time only", Rule{}, []string{
			`rq:1m_sum{code="200",node.name="edge-1",node.site="plant-7",path="/a",service.name="api"} 3`,
			`rq:1m_sum{code="200",node.name="edge-1",node.site="plant-7",path="/b",service.name="api"} 4`,
			`rq:1m_sum{code="500",node.name="edge-1",node.site="plant-7",path="/a",service.name="api"} 5`,
		}},
		{"by a point key", Rule{By: []string{"code"}}, []string{
			`rq:1m_by_code_sum{code="200",node.name="edge-1",node.site="plant-7"} 7`,
			`rq:1m_by_code_sum{code="500",node.name="edge-1",node.site="plant-7"} 5`,
		}},
		{"by a resource key, sorted in the name", Rule{By: []string{"service.name", "code"}}, []string{
			`rq:1m_by_code_service.name_sum{code="200",node.name="edge-1",node.site="plant-7",service.name="api"} 7`,
			`rq:1m_by_code_service.name_sum{code="500",node.name="edge-1",node.site="plant-7",service.name="api"} 5`,
		}},
		{"by nothing", Rule{By: []string{}}, []string{
			`rq:1m_sum{node.name="edge-1",node.site="plant-7"} 12`,
		}},
		{"without", Rule{Without: []string{"path", "service.name"}}, []string{
			`rq:1m_without_path_service.name_sum{code="200",node.name="edge-1",node.site="plant-7"} 7`,
			`rq:1m_without_path_service.name_sum{code="500",node.name="edge-1",node.site="plant-7"} 5`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := tc.rule
				r.Match, r.Interval, r.Outputs = Match{MetricName: "rq"}, time.Minute, []string{"sum"}
				p, s, _ := newTest(t, rules(r))
				consume(t, p, build(res, "rq", gauge,
					pt{attrs: a("code", "200", "path", "/a"), v: 3},
					pt{attrs: a("code", "200", "path", "/b"), v: 4},
					pt{attrs: a("code", "500", "path", "/a"), v: 5}))
				wait(time.Minute)
				equalLines(t, "outputs", s.take(), tc.want)
			})
		})
	}
}

func TestMatchAndKeepInput(t *testing.T) {
	for _, keep := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			p, s, _ := newTest(t, rules(Rule{
				Match:    Match{MetricName: "m", Attributes: []AttributeMatch{{Key: "env", Value: "prod"}, {Key: "zone", Regex: "eu-.*"}}},
				Interval: time.Minute, By: []string{}, Outputs: []string{"count_samples"}, KeepInput: keep,
			}))
			// zone on the resource, env on the point.
			md := build(a("zone", "eu-west"), "m", gauge,
				pt{attrs: a("env", "prod"), v: 1},
				pt{attrs: a("env", "dev"), v: 2})
			other := build(nil, "other", gauge, pt{v: 3})
			other.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			consume(t, p, md)
			passed := []string{`m{env="dev",zone="eu-west"} 2`, `other 3`}
			if keep {
				passed = append(passed, `m{env="prod",zone="eu-west"} 1`)
			}
			equalLines(t, "passed through", s.take(), passed)
			wait(time.Minute)
			// by: [] keeps no attribute but node identity.
			equalLines(t, "aggregated", s.take(), []string{`m:1m_count_samples 1`})
		})
	}
}

func TestDedup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, rules(Rule{
			Match: Match{MetricName: "g"}, Interval: 10 * time.Second, DedupInterval: 5 * time.Second,
			Outputs: []string{"count_samples", "sum"},
		}))
		t0 := time.Now()
		// Two replicas send the same series; per 5s window only the latest
		// timestamp counts (the larger value on a tie).
		wait(time.Second)
		consume(t, p, build(nil, "g", gauge, pt{v: 1, ts: t0.Add(time.Second)}, pt{v: 2, ts: t0.Add(2 * time.Second)}))
		consume(t, p, build(nil, "g", gauge, pt{v: 9, ts: t0}, pt{v: 1.5, ts: t0.Add(2 * time.Second)}))
		wait(5 * time.Second)
		consume(t, p, build(nil, "g", gauge, pt{v: 3, ts: t0.Add(6 * time.Second)}, pt{v: 3, ts: t0.Add(6 * time.Second)}))
		wait(4 * time.Second)
		equalLines(t, "interval 1", s.take(), []string{"g:10s_count_samples 2", "g:10s_sum 5"})
	})
}

func TestStaleness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, tel := newTest(t, rules(Rule{Match: Match{MetricName: "c"}, Interval: 10 * time.Second, Outputs: []string{"total"}}))
		consume(t, p, build(nil, "c", counter, pt{v: 1}))
		wait(5 * time.Second)
		consume(t, p, build(nil, "c", counter, pt{v: 4}))
		wait(5 * time.Second)
		equalLines(t, "interval 1", s.take(), []string{"c:10s_total 3"})
		wait(10 * time.Second)
		equalLines(t, "interval 2: not stale yet", s.take(), []string{"c:10s_total 3"})
		wait(10 * time.Second)
		equalLines(t, "interval 3: stale after 2 intervals, forgotten", s.take(), nil)
		p.mu.Lock()
		n, b := p.nseries, p.bytes
		p.mu.Unlock()
		if n != 0 || b != 0 {
			t.Errorf("after staleness: %d series, %d bytes of state", n, b)
		}
		if got := gaugeValue(t, tel, "outpost_processor_aggregate_series"); got != 0 {
			t.Errorf("series gauge %v", got)
		}
		// It comes back: a new series, its first sample is a base again.
		consume(t, p, build(nil, "c", counter, pt{v: 10}))
		wait(10 * time.Second)
		equalLines(t, "interval 4", s.take(), []string{"c:10s_total 0"})
	})
}

func TestHistogramMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, tel := newTest(t, rules(Rule{Match: Match{MetricName: "lat"}, Interval: 10 * time.Second, By: []string{}, Outputs: []string{"histogram"}}))
		t0 := time.Now()
		hist := func(attrs map[string]string, start time.Time, bounds []float64, counts []uint64, sum float64) pmetric.Metrics {
			md := pmetric.NewMetrics()
			m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("lat")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := h.DataPoints().AppendEmpty()
			for k, v := range attrs {
				dp.Attributes().PutStr(k, v)
			}
			if !start.IsZero() {
				dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			}
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			dp.ExplicitBounds().FromRaw(bounds)
			dp.BucketCounts().FromRaw(counts)
			var n uint64
			for _, c := range counts {
				n += c
			}
			dp.SetCount(n)
			dp.SetSum(sum)
			return md
		}
		b := []float64{1, 5}
		consume(t, p, hist(a("s", "a"), time.Time{}, b, []uint64{1, 2, 3}, 10)) // base
		consume(t, p, hist(a("s", "b"), t0, b, []uint64{0, 1, 0}, 3))           // started after us: whole
		consume(t, p, hist(a("s", "c"), t0, []float64{1, 10}, []uint64{1, 0, 0}, 0.5))
		wait(5 * time.Second)
		consume(t, p, hist(a("s", "a"), time.Time{}, b, []uint64{2, 2, 5}, 20))
		wait(5 * time.Second)
		equalLines(t, "interval 1", s.take(), []string{"lat:10s_histogram count=4 sum=13 [1 5] [1 1 2]"})
		if n := droppedCount(tel, ReasonBoundsMismatch); n != 1 {
			t.Errorf("histogram_bounds_mismatch drops = %v, want 1", n)
		}
		consume(t, p, hist(a("s", "a"), time.Time{}, b, []uint64{0, 1, 0}, 2)) // reset
		wait(10 * time.Second)
		equalLines(t, "interval 2", s.take(), []string{"lat:10s_histogram count=5 sum=15 [1 5] [1 2 2]"})
	})
}

// expIndex is the bucket index of x > 0 at a scale, by the OpenTelemetry
// definition: the bucket (base^i, base^(i+1)] with base = 2^(2^-scale).
func expIndex(x float64, scale int32) int32 {
	return int32(math.Ceil(math.Log2(x)*math.Ldexp(1, int(scale)))) - 1
}

func TestExpDownscaleMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		x := math.Exp(rng.Float64()*40 - 20)
		s := int32(rng.IntN(8))
		k := int32(rng.IntN(int(s) + 1))
		i := expIndex(x, s)
		b := expBuckets{offset: i, counts: []uint64{1}}.downscale(k)
		if want := expIndex(x, s-k); b.offset != want {
			// Values on a bucket boundary may land either side through
			// rounding of Log2; only accept an off-by-one there.
			if math.Abs(math.Log2(x)*math.Ldexp(1, int(s))-math.Round(math.Log2(x)*math.Ldexp(1, int(s)))) > 1e-9 {
				t.Fatalf("x=%v scale %d: index %d downscaled by %d = %d, want %d", x, s, i, k, b.offset, want)
			}
		}
	}
}

func TestExpHistogramMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, rules(Rule{Match: Match{MetricName: "lat"}, Interval: 10 * time.Second, By: []string{}, Outputs: []string{"histogram"}}))
		exp := func(series string, scale, offset int32, counts []uint64, zero uint64) pmetric.Metrics {
			md := pmetric.NewMetrics()
			m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("lat")
			h := m.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			dp := h.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("s", series)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			dp.SetScale(scale)
			dp.SetZeroCount(zero)
			dp.Positive().SetOffset(offset)
			dp.Positive().BucketCounts().FromRaw(counts)
			n := zero
			for _, c := range counts {
				n += c
			}
			dp.SetCount(n)
			return md
		}
		// Scale 2, indexes -3..0 → at scale 1: -2, -1, -1, 0.
		consume(t, p, exp("a", 2, -3, []uint64{1, 1, 1, 1}, 1))
		wait(10 * time.Second)
		equalLines(t, "scale 2 alone", s.take(), []string{"lat:10s_histogram count=5 sum=0 scale=2 zero=1 pos=-3[1 1 1 1]"})
		// A coarser input downscales the running sum.
		consume(t, p, exp("b", 1, 0, []uint64{5, 0, 1}, 0))
		wait(10 * time.Second)
		equalLines(t, "merged at scale 1", s.take(), []string{"lat:10s_histogram count=11 sum=0 scale=1 zero=1 pos=-2[1 2 6 0 1]"})
		// A finer input is downscaled into it.
		consume(t, p, exp("a", 3, 8, []uint64{2}, 0)) // index 8 at scale 3 → 2 at scale 1
		wait(10 * time.Second)
		equalLines(t, "finer input", s.take(), []string{"lat:10s_histogram count=13 sum=0 scale=1 zero=1 pos=-2[1 2 6 0 3]"})
	})
}

func TestExpCumulativeIncrease(t *testing.T) {
	prev := &expHist{scale: 2, pos: expBuckets{offset: 0, counts: []uint64{1, 2}}, count: 3}
	cur := &expHist{scale: 1, pos: expBuckets{offset: 0, counts: []uint64{5, 1}}, count: 6}
	inc, ok := cur.increaseFrom(prev)
	if !ok || inc.scale != 1 || inc.count != 3 || inc.pos.offset != 0 || inc.pos.counts[0] != 2 || inc.pos.counts[1] != 1 {
		t.Fatalf("increase = %+v, %v", inc, ok)
	}
	if _, ok := prev.increaseFrom(cur); ok {
		t.Fatal("a histogram whose counts went down is not a continuation")
	}
}

func TestStateBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := rules(Rule{Match: Match{MetricName: "x"}, Interval: 10 * time.Second, By: []string{}, Outputs: []string{"count_series"}})
		first := seriesOverhead + groupOverhead + 1 // the group's name "x"
		cfg.MaxBytes = configsByteSize(first + 9*seriesOverhead)
		p, s, tel := newTest(t, cfg)
		var pts []pt
		for i := range 100 {
			pts = append(pts, pt{attrs: a("i", string(rune('A'+i%26))+string(rune('a'+i/26))), v: 1})
		}
		consume(t, p, build(nil, "x", gauge, pts...))
		wait(10 * time.Second)
		equalLines(t, "10 series fit", s.take(), []string{"x:10s_count_series 10"})
		if n := droppedCount(tel, ReasonStateFull); n != 90 {
			t.Errorf("state_full drops = %v, want 90", n)
		}
		if got := gaugeValue(t, tel, "outpost_processor_aggregate_state_bytes"); got != float64(cfg.MaxBytes) {
			t.Errorf("state bytes %v, want %d", got, cfg.MaxBytes)
		}
	})
}

func TestMemoryLimitReservation(t *testing.T) {
	cfg := rules(Rule{Match: Match{MetricName: "x"}, Interval: time.Second, Outputs: []string{"sum"}})
	cfg.MaxBytes = 1 << 20
	for _, tc := range []struct {
		limit int64
		ok    bool
	}{{1 << 19, false}, {4 << 20, true}} {
		l := memlimit.New(tc.limit, nil)
		p, err := newProcessor(pipeline.Settings{Memory: l}, cfg, &sink{})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Start(context.Background(), nil)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, memlimit.ErrLimit)) {
			t.Fatalf("limit %d: Start = %v", tc.limit, err)
		}
		if tc.ok && l.Reserved() != 1<<20 {
			t.Errorf("reserved %d, want max_bytes", l.Reserved())
		}
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if l.Reserved() != 0 {
			t.Errorf("after Shutdown: reserved %d", l.Reserved())
		}
	}
}

func TestRefusedFlushIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, tel := newTest(t, rules(Rule{Match: Match{MetricName: "g"}, Interval: 10 * time.Second, Outputs: []string{"sum"}}))
		refuse := true
		s.mu.Lock()
		s.fail = func() error {
			if refuse {
				return errors.New("queue full")
			}
			return nil
		}
		s.mu.Unlock()
		// What passes through is refused to the caller, synchronously.
		if err := p.ConsumeMetrics(context.Background(), build(nil, "other", gauge, pt{v: 0})); err == nil {
			t.Error("a refusal of the pass-through was not returned")
		}
		consume(t, p, build(nil, "g", gauge, pt{v: 1}))
		wait(10 * time.Second)
		equalLines(t, "refused", s.take(), nil)
		s.mu.Lock()
		refuse = false
		s.mu.Unlock()
		consume(t, p, build(nil, "g", gauge, pt{v: 2}))
		wait(10 * time.Second)
		s.mu.Lock()
		n := len(s.batches)
		s.mu.Unlock()
		if n != 2 {
			t.Errorf("%d batches after the retry, want 2 (the kept flush, then the new one)", n)
		}
		equalLines(t, "retried with the next", s.take(), []string{"g:10s_sum 1", "g:10s_sum 2"})
		if n := droppedCount(tel, ReasonFlushRefused); n != 0 {
			t.Errorf("flush_refused = %v", n)
		}
	})
}

func TestRefusedFlushesAreBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, tel := newTest(t, rules(Rule{Match: Match{MetricName: "g"}, Interval: 10 * time.Second, Outputs: []string{"sum", "max"}}))
		s.mu.Lock()
		s.fail = func() error { return errors.New("queue full") }
		s.mu.Unlock()
		for i := range 6 {
			consume(t, p, build(nil, "g", gauge, pt{v: float64(i)}))
			wait(10 * time.Second)
		}
		// 6 flushes of 2 points; 4 are kept, the 2 oldest dropped.
		if n := droppedCount(tel, ReasonFlushRefused); n != 4 {
			t.Errorf("flush_refused = %v, want 4", n)
		}
		s.mu.Lock()
		s.fail = func() error { return consumererror.NewPermanent(errors.New("bad data")) }
		s.mu.Unlock()
		consume(t, p, build(nil, "g", gauge, pt{v: 9}))
		wait(10 * time.Second)
		// The new flush makes 5 kept: the oldest goes (2 points), then the
		// 4 left are refused for good (8 points).
		if n := droppedCount(tel, ReasonFlushRefused); n != 4+2+8 {
			t.Errorf("flush_refused = %v, want 14", n)
		}
	})
}

func TestShutdownFlushesPartialInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{}
		p, err := newProcessor(pipeline.Settings{}, rules(Rule{Match: Match{MetricName: "g"}, Interval: time.Minute, Outputs: []string{"sum"}}), s)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		consume(t, p, build(nil, "g", gauge, pt{v: 4}))
		time.Sleep(20 * time.Second)
		end := time.Now()
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := p.ConsumeMetrics(context.Background(), build(nil, "g", gauge, pt{v: 1})); !errors.Is(err, errShutdown) || consumererror.IsPermanent(err) {
			t.Errorf("after Shutdown: %v, want a retryable error", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.batches) != 1 {
			t.Fatalf("%d batches", len(s.batches))
		}
		dp := s.batches[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0)
		if dp.DoubleValue() != 4 || dp.Timestamp().AsTime() != end.UTC() {
			t.Errorf("flushed %v at %v, want 4 at %v", dp.DoubleValue(), dp.Timestamp().AsTime(), end.UTC())
		}
	})
}

func TestShutdownReportsRefusal(t *testing.T) {
	s := &sink{fail: func() error { return errors.New("down") }}
	tel := newTel()
	p, err := newProcessor(pipeline.Settings{Telemetry: tel}, rules(Rule{Match: Match{MetricName: "g"}, Interval: time.Hour, Outputs: []string{"sum"}}), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	consume(t, p, build(nil, "g", gauge, pt{v: 4}))
	if err := p.Shutdown(context.Background()); err == nil {
		t.Fatal("Shutdown hid the refusal")
	}
	if n := droppedCount(tel, ReasonFlushRefused); n != 1 {
		t.Errorf("flush_refused = %v, want 1", n)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestExpHistogramBucketBound(t *testing.T) {
	h := &expHist{scale: 5, pos: expBuckets{offset: 0, counts: []uint64{1}}, count: 1}
	if !h.merge(&expHist{scale: 5, pos: expBuckets{offset: 1000, counts: []uint64{1}}, count: 1}) {
		t.Fatal("merge refused")
	}
	// 1001 buckets apart at scale 5; 126 at scale 2.
	if h.scale != 2 || h.count != 2 || len(h.pos.counts) > maxExpBuckets || h.pos.offset != 0 || h.pos.counts[len(h.pos.counts)-1] != 1 {
		t.Errorf("merged: scale %d, offset %d, %d buckets, count %d", h.scale, h.pos.offset, len(h.pos.counts), h.count)
	}
	// Indexes no float has: refused, h unchanged.
	before := *h
	if h.merge(&expHist{scale: -10, pos: expBuckets{offset: math.MaxInt32 - 1, counts: []uint64{1}}, count: 1}) {
		t.Fatal("an impossible bucket range was merged")
	}
	if h.scale != before.scale || h.count != before.count {
		t.Errorf("a refused merge changed the histogram: %+v", h)
	}
}

func TestStaleMarkersAndSeveralRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, rules(
			Rule{Match: Match{MetricName: "g"}, Interval: 10 * time.Second, By: []string{}, Outputs: []string{"count_samples"}, KeepInput: true},
			Rule{Match: Match{MetricName: "g|h"}, Interval: 20 * time.Second, Outputs: []string{"max"}},
		))
		md := build(nil, "g", gauge, pt{attrs: a("k", "1"), v: 1}, pt{attrs: a("k", "2"), v: 2})
		stale := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().AppendEmpty()
		stale.Attributes().PutStr("k", "3")
		stale.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		stale.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		nan := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().AppendEmpty()
		nan.SetDoubleValue(math.NaN())
		nan.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		consume(t, p, md)
		// Both rules took every point; the second does not keep its input.
		equalLines(t, "passed through", s.take(), nil)
		wait(10 * time.Second)
		equalLines(t, "10s rule: the stale marker and NaN are not samples", s.take(), []string{"g:10s_count_samples 2"})
		consume(t, p, build(nil, "h", gauge, pt{v: 7}))
		wait(10 * time.Second)
		equalLines(t, "20s rule, one interval per rule", s.take(), []string{
			`g:20s_max{k="1"} 1`, `g:20s_max{k="2"} 2`, `h:20s_max 7`,
		})
	})
}
