package cardinalitylimitprocessor

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Test100kSeriesIntoLimit1000: 100,000 distinct series of one delta
// counter into a limit of 1000 leave as exactly 1000 series and one
// overflow series, and the values add up to what was sent.
func Test100kSeriesIntoLimit1000(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1000; c.MaxSeries = 200000 })
	const n, perBatch = 100000, 10000
	var sent int64
	seen := map[string]bool{}
	overflowPoints := 0
	var atSink int64
	for b := range n / perBatch {
		var pts []pt
		for i := range perBatch {
			id := b*perBatch + i
			pts = append(pts, pt{id: fmt.Sprint(id), v: int64(id%7 + 1), start: 1, time: 2})
			sent += int64(id%7 + 1)
		}
		e.consume(t, numbers(kindDeltaSum, pts...))
		dps := e.sink.last().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
		for _, dp := range dps.All() {
			id := pointID(dp.Attributes())
			atSink += dp.IntValue()
			if id == "overflow" {
				overflowPoints++
				continue
			}
			seen[id] = true
		}
	}
	if len(seen) != 1000 {
		t.Errorf("%d distinct series at the sink, want exactly 1000", len(seen))
	}
	if overflowPoints != n/perBatch {
		t.Errorf("%d overflow points, want one per request (%d)", overflowPoints, n/perBatch)
	}
	if atSink != sent {
		t.Errorf("values at the sink add up to %d, sent %d", atSink, sent)
	}
	if got := e.metric(t, "outpost_processor_cardinality_overflow_points_total", map[string]string{"reason": "limit"}); got != n-1000 {
		t.Errorf("overflowed points counted %v, want %d", got, n-1000)
	}
	if got := e.metric(t, "outpost_processor_cardinality_series", nil); got != 1001 {
		t.Errorf("series tracked %v, want 1001 (delta series that overflow are not tracked)", got)
	}
	t.Logf("100000 series, limit 1000: %d series + 1 overflow at the sink; %d = %d", len(seen), atSink, sent)
}

// Test100kCumulativeSeriesIntoLimit1000: the same with a cumulative
// counter sent twice: 1000 series pass unchanged, and the overflow
// series' value is exactly the sum of the other 99,000 series' increases.
func Test100kCumulativeSeriesIntoLimit1000(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1000; c.MaxSeries = 100001 })
	const n = 100000
	var admittedSum, overflowIncrease int64
	for round := range 2 {
		pts := make([]pt, n)
		for i := range n {
			v := int64(1000 + i)
			if round == 1 {
				v += int64(i%5 + 1)
				if i >= 1000 {
					overflowIncrease += int64(i%5 + 1)
				} else {
					admittedSum += v
				}
			}
			pts[i] = pt{id: fmt.Sprint(i), v: v, start: 1, time: pcommon.Timestamp(100 + round)}
		}
		e.consume(t, numbers(kindCumSum, pts...))
	}
	got := points(e.sink.last())
	if len(got) != 1001 {
		t.Errorf("%d series at the sink, want exactly 1000 + overflow", len(got))
	}
	var sum int64
	for id, v := range got {
		if id != "overflow" {
			sum += v
		}
	}
	if sum != admittedSum || got["overflow"] != overflowIncrease {
		t.Errorf("admitted sum %d (want %d), overflow %d (want the increases %d)", sum, admittedSum, got["overflow"], overflowIncrease)
	}
	if got := e.metric(t, "outpost_processor_cardinality_series", nil); got != 100001 {
		t.Errorf("series tracked %v, want 100001", got)
	}
	t.Logf("100000 cumulative series, limit 1000: %d at the sink; overflow %d = sum of increases %d", len(got), got["overflow"], overflowIncrease)
}

// TestCumulativeOverflowAddsIncreases: overflowed cumulative series add
// their increases into one monotonic cumulative overflow series; resets
// count from zero; a series first seen after the overflow series started
// counts whole.
func TestCumulativeOverflowAddsIncreases(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 2 })
	// Round 1 at t=100: a and b are admitted; c and d give baselines.
	e.consume(t, numbers(kindCumSum,
		pt{"a", 10, 1, 100}, pt{"b", 20, 1, 100}, pt{"c", 30, 1, 100}, pt{"d", 40, 1, 100}))
	if got := points(e.sink.last()); got["a"] != 10 || got["b"] != 20 || got["overflow"] != 0 || len(got) != 3 {
		t.Fatalf("round 1: %v, want a=10 b=20 overflow=0", got)
	}
	// Round 2: c +5, d +1; e new, started after the overflow series (t=100): counts whole.
	e.consume(t, numbers(kindCumSum,
		pt{"a", 11, 1, 200}, pt{"b", 25, 1, 200}, pt{"c", 35, 1, 200}, pt{"d", 41, 1, 200}, pt{"e", 7, 150, 200}))
	if got := points(e.sink.last()); got["a"] != 11 || got["b"] != 25 || got["overflow"] != 13 {
		t.Fatalf("round 2: %v, want a=11 b=25 overflow=5+1+7", got)
	}
	// Round 3: d resets (new start, value 2); c restarts without a new
	// start time (value drops): both count from zero.
	e.consume(t, numbers(kindCumSum, pt{"c", 4, 1, 300}, pt{"d", 2, 250, 300}, pt{"e", 9, 150, 300}))
	out := e.sink.last()
	if got := points(out); got["overflow"] != 13+4+2+2 || len(got) != 1 {
		t.Fatalf("round 3: %v, want overflow=21", got)
	}
	dp := out.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	if dp.StartTimestamp() != 100 || dp.Timestamp() != 300 {
		t.Errorf("overflow start %d time %d, want 100 and 300", dp.StartTimestamp(), dp.Timestamp())
	}
	// An overflowed series stays in overflow even when room frees up: it
	// would otherwise count its total twice.
	if got := e.metric(t, "outpost_processor_cardinality_series", nil); got != 2+3+1 {
		t.Errorf("series tracked %v, want 6 (a, b, c, d, e and the overflow)", got)
	}
}

func TestGaugeOverflowKeepsLatest(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1 })
	e.consume(t, numbers(kindGauge, pt{"a", 1, 0, 10}, pt{"b", 5, 0, 30}, pt{"c", 7, 0, 20}, pt{"d", 9, 0, 30}))
	got := points(e.sink.last())
	if got["a"] != 1 || got["overflow"] != 9 || len(got) != 2 {
		t.Errorf("got %v, want a=1 and overflow = the latest (d=9, the last at t=30)", got)
	}
}

func TestDoubleValues(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1 })
	md, m := newMetric(kindDeltaSum, "bytes")
	for i, v := range []float64{0.5, 1.25, 2.25} {
		dp := m.Sum().DataPoints().AppendEmpty()
		dp.Attributes().PutInt("i", int64(i))
		dp.SetDoubleValue(v)
	}
	e.consume(t, md)
	dps := e.sink.last().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	if dps.Len() != 2 || dps.At(1).ValueType() != pmetric.NumberDataPointValueTypeDouble || dps.At(1).DoubleValue() != 3.5 {
		t.Errorf("overflow point: %d points, last %v", dps.Len(), dps.At(dps.Len()-1).DoubleValue())
	}
}

func histogram(m pmetric.Metric, id string, start, ts pcommon.Timestamp, bounds []float64, counts []uint64, sum float64) {
	dp := m.Histogram().DataPoints().AppendEmpty()
	dp.Attributes().PutStr("id", id)
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	var n uint64
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	dp.SetSum(sum)
	dp.SetMin(0.1)
	dp.SetMax(sum)
}

func overflowHistogram(t *testing.T, md pmetric.Metrics) pmetric.HistogramDataPoint {
	t.Helper()
	for _, dp := range md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Histogram().DataPoints().All() {
		if pointID(dp.Attributes()) == "overflow" {
			return dp
		}
	}
	t.Fatal("no overflow point")
	return pmetric.HistogramDataPoint{}
}

func TestHistogramOverflowMerges(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1 })
	md, m := newMetric(kindDeltaHist, "latency")
	histogram(m, "a", 1, 2, []float64{1, 5}, []uint64{1, 1, 1}, 10)
	histogram(m, "b", 1, 2, []float64{1, 5}, []uint64{2, 0, 3}, 20)
	histogram(m, "c", 1, 3, []float64{0.5, 2, 5, 10}, []uint64{1, 1, 1, 1, 1}, 30) // other bounds: re-bucketed
	e.consume(t, md)
	dp := overflowHistogram(t, e.sink.last())
	// a is admitted; b and c overflow. c's buckets (≤0.5, ≤2, ≤5, ≤10,
	// +Inf) go to the overflow buckets (≤1, ≤5, +Inf) that hold their upper
	// bounds: ≤1, ≤5, ≤5, +Inf, +Inf.
	if got, want := dp.BucketCounts().AsRaw(), []uint64{2 + 1, 0 + 1 + 1, 3 + 1 + 1}; !slices.Equal(got, want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	if dp.Count() != 10 || dp.Sum() != 50 || dp.Min() != 0.1 || dp.Max() != 30 || dp.Timestamp() != 3 {
		t.Errorf("count %d sum %v min %v max %v time %d", dp.Count(), dp.Sum(), dp.Min(), dp.Max(), dp.Timestamp())
	}

	// Cumulative: increases add up.
	e = newEnv(t, func(c *Config) { c.Limit = 1 })
	md, m = newMetric(kindCumHist, "latency")
	histogram(m, "a", 1, 100, []float64{1}, []uint64{1, 1}, 3)
	histogram(m, "b", 1, 100, []float64{1}, []uint64{5, 5}, 30)
	e.consume(t, md)
	md, m = newMetric(kindCumHist, "latency")
	histogram(m, "b", 1, 200, []float64{1}, []uint64{7, 6}, 40)
	e.consume(t, md)
	dp = overflowHistogram(t, e.sink.last())
	if got := dp.BucketCounts().AsRaw(); dp.Count() != 3 || dp.Sum() != 10 || !slices.Equal(got, []uint64{2, 1}) || dp.HasMin() {
		t.Errorf("cumulative overflow: count %d sum %v buckets %v hasMin %v; want 3, 10, [2 1], no min", dp.Count(), dp.Sum(), got, dp.HasMin())
	}
}

func TestExponentialHistogramOverflowMerges(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1 })
	md, m := newMetric(kindDeltaExp, "latency")
	add := func(id string, scale, offset int32, counts []uint64, zero uint64) {
		dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
		dp.Attributes().PutStr("id", id)
		dp.SetScale(scale)
		dp.Positive().SetOffset(offset)
		dp.Positive().BucketCounts().FromRaw(counts)
		dp.SetZeroCount(zero)
		n := zero
		for _, c := range counts {
			n += c
		}
		dp.SetCount(n)
		dp.SetSum(float64(n))
	}
	add("a", 3, 0, []uint64{1}, 0)
	add("b", 2, 4, []uint64{1, 2, 3}, 1)    // indexes 4,5,6 at scale 2
	add("c", 3, 8, []uint64{1, 1, 1, 1}, 2) // indexes 8..11 at scale 3 = 4,4,5,5 at scale 2
	e.consume(t, md)
	var dp pmetric.ExponentialHistogramDataPoint
	for _, p := range e.sink.last().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).ExponentialHistogram().DataPoints().All() {
		if pointID(p.Attributes()) == "overflow" {
			dp = p
		}
	}
	if dp.Scale() != 2 || dp.Positive().Offset() != 4 || !slices.Equal(dp.Positive().BucketCounts().AsRaw(), []uint64{3, 4, 3}) {
		t.Errorf("scale %d offset %d buckets %v, want 2, 4, [3 4 3]", dp.Scale(), dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw())
	}
	if dp.Count() != 13 || dp.ZeroCount() != 3 || dp.Sum() != 13 {
		t.Errorf("count %d zero %d sum %v, want 13, 3, 13", dp.Count(), dp.ZeroCount(), dp.Sum())
	}
}

func TestExpDownscaleNegativeIndexes(t *testing.T) {
	b := expBuckets{offset: -3, counts: []uint64{1, 2, 3, 4}} // indexes -3..0
	got := b.downscale(1)                                     // -2,-1,-1,0
	if got.offset != -2 || !slices.Equal(got.counts, []uint64{1, 5, 4}) {
		t.Errorf("downscale: %+v", got)
	}
	cur := &expPoint{scale: 1, pos: expBuckets{offset: 0, counts: []uint64{2, 2}}, count: 4}
	prev := &expPoint{scale: 2, pos: expBuckets{offset: 0, counts: []uint64{1, 1}}, count: 2}
	d, ok := expDelta(cur, prev)
	if !ok || d.scale != 1 || d.count != 2 || !slices.Equal(d.pos.counts, []uint64{0, 2}) {
		t.Errorf("delta: %+v %v", d, ok)
	}
}

func TestSummaryOverflow(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1 })
	round := func(ts pcommon.Timestamp, counts ...uint64) {
		md, m := newMetric(kindSummary, "rpc")
		for i, c := range counts {
			dp := m.Summary().DataPoints().AppendEmpty()
			dp.Attributes().PutInt("i", int64(i))
			dp.SetStartTimestamp(1)
			dp.SetTimestamp(ts)
			dp.SetCount(c)
			dp.SetSum(float64(c) * 2)
			q := dp.QuantileValues().AppendEmpty()
			q.SetQuantile(0.5)
			q.SetValue(1)
		}
		e.consume(t, md)
	}
	round(10, 5, 10, 20)
	round(20, 6, 15, 21)
	dps := e.sink.last().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Summary().DataPoints()
	o := dps.At(dps.Len() - 1)
	if dps.Len() != 2 || o.Count() != 6 || o.Sum() != 12 || o.QuantileValues().Len() != 0 {
		t.Errorf("overflow summary: count %d sum %v quantiles %d; want 6, 12, 0", o.Count(), o.Sum(), o.QuantileValues().Len())
	}
}

// TestStreamsAreSeparate: the limit is per resource, scope and metric.
func TestStreamsAreSeparate(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 1 })
	md := numbers(kindDeltaSum, pt{"a", 1, 0, 1}, pt{"b", 1, 0, 1})
	other := md.ResourceMetrics().AppendEmpty()
	md.ResourceMetrics().At(0).CopyTo(other)
	other.Resource().Attributes().PutStr("service.name", "svc2")
	m2 := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).CopyTo(m2)
	m2.SetName("other")
	e.consume(t, md)
	out := e.sink.last()
	if n := out.DataPointCount(); n != 6 {
		t.Errorf("%d points, want 3 streams × (1 + overflow)", n)
	}
	if got := e.metric(t, "outpost_processor_cardinality_overflow_points_total", nil); got != 3 {
		t.Errorf("overflowed %v, want 3", got)
	}
}

// TestIdleSeriesExpire: series not seen for expire_after are forgotten
// and free their room; an overflowed cumulative series stays in overflow
// until it is idle that long too.
func TestIdleSeriesExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Limit = 2; c.ExpireAfter = time.Minute })
		e.consume(t, numbers(kindCumSum, pt{"a", 1, 1, 10}, pt{"b", 1, 1, 10}, pt{"c", 1, 1, 10}))
		if got := points(e.sink.last()); len(got) != 3 || got["overflow"] != 0 {
			t.Fatalf("%v: want a, b and the overflow", got)
		}
		time.Sleep(30 * time.Second)
		e.consume(t, numbers(kindCumSum, pt{"a", 2, 1, 20}, pt{"c", 3, 1, 20})) // keeps a and c alive
		time.Sleep(30 * time.Second)
		// b has been idle a minute: it is forgotten, and d takes its room;
		// c stays in overflow.
		e.consume(t, numbers(kindCumSum, pt{"c", 4, 1, 30}, pt{"d", 1, 1, 30}))
		if got := points(e.sink.last()); got["d"] != 1 || got["overflow"] != 3 || len(got) != 2 {
			t.Fatalf("after b expired: %v, want d=1 and overflow=3 (c's increases)", got)
		}
		if got := e.metric(t, "outpost_processor_cardinality_series", nil); got != 4 {
			t.Errorf("tracked %v, want 4 (a, c, d, overflow)", got)
		}
		time.Sleep(2 * time.Minute)
		// Everything expired: e and f are admitted, nothing overflows.
		e.consume(t, numbers(kindCumSum, pt{"e", 1, 1, 40}, pt{"f", 1, 1, 40}))
		if got := points(e.sink.last()); len(got) != 2 || got["e"] != 1 || got["f"] != 1 {
			t.Fatalf("after everything expired: %v", got)
		}
		if got := e.metric(t, "outpost_processor_cardinality_series", nil); got != 2 {
			t.Errorf("tracked %v, want 2", got)
		}
	})
}

// TestMaxSeries: beyond max_series new series overflow (reason
// max_series) and, with no room even for an overflow series, are dropped.
func TestMaxSeries(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limit = 3; c.MaxSeries = 3 })
	e.consume(t, numbers(kindDeltaSum, pt{"a", 1, 0, 1}, pt{"b", 1, 0, 1}, pt{"c", 1, 0, 1}, pt{"d", 5, 0, 1}))
	if got := points(e.sink.last()); len(got) != 3 || got["d"] != 0 {
		t.Errorf("%v: want a, b, c and d dropped (no room for an overflow series)", got)
	}
	if got := e.metric(t, "outpost_processor_dropped_items_total", map[string]string{"reason": "max_series"}); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
	// limit 1, max_series 3: m1 has a and its overflow series, m2 has x;
	// y (m2) finds no room for an overflow series and is dropped, c (m1)
	// folds into the overflow series m1 has.
	e = newEnv(t, func(c *Config) { c.Limit = 1; c.MaxSeries = 3 })
	e.consume(t, numbers(kindDeltaSum, pt{"a", 1, 0, 1}, pt{"b", 2, 0, 1}))
	md := numbers(kindDeltaSum, pt{"x", 2, 0, 1}, pt{"y", 3, 0, 1})
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("other")
	e.consume(t, md)
	if got := points(e.sink.last()); got["x"] != 2 || len(got) != 1 {
		t.Errorf("%v: want x only (y dropped)", got)
	}
	e.consume(t, numbers(kindDeltaSum, pt{"c", 4, 0, 1}))
	if got := points(e.sink.last()); got["overflow"] != 4 || len(got) != 1 {
		t.Errorf("%v: want c in m1's overflow", got)
	}
	if got := e.metric(t, "outpost_processor_dropped_items_total", map[string]string{"reason": "max_series"}); got != 1 {
		t.Errorf("dropped %v, want 1", got)
	}
	if got := e.metric(t, "outpost_processor_cardinality_overflow_points_total", map[string]string{"reason": "limit"}); got != 2 {
		t.Errorf("overflowed %v, want 2 (b and c)", got)
	}
}
