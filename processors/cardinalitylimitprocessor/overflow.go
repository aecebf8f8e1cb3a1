package cardinalitylimitprocessor

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// kind is a metric's type with the temporality and monotonicity that
// decide how its points fold into an overflow series.
type kind uint8

const (
	kindNone      kind = iota // empty metric: left alone
	kindGauge                 // overflow keeps the latest point
	kindDeltaSum              // overflow adds the values
	kindCumSum                // monotonic cumulative: adds each series' increases
	kindUpDownSum             // non-monotonic cumulative: adds each series' changes
	kindDeltaHist
	kindCumHist
	kindDeltaExp
	kindCumExp
	kindSummary // count and sum as a cumulative; quantiles are not kept
)

func kindOf(m pmetric.Metric) kind {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return kindGauge
	case pmetric.MetricTypeSum:
		switch {
		case m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative:
			return kindDeltaSum
		case m.Sum().IsMonotonic():
			return kindCumSum
		}
		return kindUpDownSum
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative {
			return kindCumHist
		}
		return kindDeltaHist
	case pmetric.MetricTypeExponentialHistogram:
		if m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative {
			return kindCumExp
		}
		return kindDeltaExp
	case pmetric.MetricTypeSummary:
		return kindSummary
	}
	return kindNone
}

// cumulative reports whether each series' points are running totals, so
// that folding needs the series' previous point.
func (k kind) cumulative() bool {
	switch k {
	case kindCumSum, kindUpDownSum, kindCumHist, kindCumExp, kindSummary:
		return true
	}
	return false
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeGauge {
		return m.Gauge().DataPoints()
	}
	return m.Sum().DataPoints()
}

// source is the last point of an overflowed cumulative series.
type source struct {
	start  pcommon.Timestamp
	vals   []float64 // sum: value; summary: count, sum; histogram: count, sum, buckets
	bounds []float64 // histogram
	exp    *expPoint
}

// overflow is a stream's overflow series. For delta kinds and gauges it
// holds what the current request folded, reset once emitted; for
// cumulative kinds it is a running total that starts at start.
type overflow struct {
	lastSeen int64
	dirty    bool // something was folded in the current request
	start    pcommon.Timestamp
	time     pcommon.Timestamp
	started  bool // start is set (the first point was folded)

	allInt bool
	value  float64

	count     uint64
	sum       float64
	noSum     bool
	min, max  float64
	hasMinMax bool
	bounds    []float64
	buckets   []uint64
	exp       *expPoint
	fresh     bool // a delta accumulation that has not folded a point yet
}

func newOverflow(now int64) *overflow {
	return &overflow{lastSeen: now, allInt: true, fresh: true}
}

// begin prepares a fold: a delta accumulation starts afresh after each
// emission; a cumulative one takes the first folded point's time as its
// start.
func (o *overflow) begin(k kind, start, ts pcommon.Timestamp) {
	if !o.started {
		o.started = true
		o.start = ts
		if ts == 0 {
			o.start = start
		}
	}
	if o.fresh && !k.cumulative() {
		o.fresh = false
		o.start, o.time = start, ts
	}
	if ts > o.time {
		o.time = ts
	}
	if !k.cumulative() && start != 0 && (o.start == 0 || start < o.start) {
		o.start = start
	}
	o.dirty = true
}

// reset ends a delta accumulation once emitted.
func (o *overflow) reset(k kind) {
	o.dirty = false
	if k.cumulative() {
		return
	}
	*o = overflow{lastSeen: o.lastSeen, allInt: true, fresh: true, started: o.started}
}

// firstContribution reports whether the first point seen of an overflowed
// cumulative series counts whole: only if the series started at or after
// the overflow series did. An older series (or one without a start time)
// gives a baseline, and only its increases from there are added.
func (o *overflow) firstContribution(start pcommon.Timestamp) bool {
	return start != 0 && start >= o.start
}

func numberValue(dp pmetric.NumberDataPoint) (float64, bool) {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue()), true
	}
	return dp.DoubleValue(), false
}

func (o *overflow) foldNumber(k kind, s *series, dp pmetric.NumberDataPoint) {
	if dp.Flags().NoRecordedValue() {
		return // a staleness marker carries no value
	}
	v, isInt := numberValue(dp)
	switch k {
	case kindGauge:
		if !o.dirty || dp.Timestamp() >= o.time {
			o.dirty = true
			o.value, o.allInt = v, isInt
			o.start, o.time = dp.StartTimestamp(), dp.Timestamp()
		}
		return
	case kindDeltaSum:
		o.begin(k, dp.StartTimestamp(), dp.Timestamp())
		o.value += v
	default: // cumulative sums
		o.begin(k, dp.StartTimestamp(), dp.Timestamp())
		var d float64
		switch src := s.src; {
		case src == nil:
			s.src = &source{start: dp.StartTimestamp(), vals: []float64{v}}
			if o.firstContribution(dp.StartTimestamp()) {
				d = v
			}
		case dp.StartTimestamp() != src.start || (k == kindCumSum && v < src.vals[0]):
			d = v // reset: a new run counts from zero
			src.start, src.vals[0] = dp.StartTimestamp(), v
		default:
			d = v - src.vals[0]
			src.vals[0] = v
		}
		o.value += d
	}
	o.allInt = o.allInt && isInt
}

func (o *overflow) emitNumber(k kind, dp pmetric.NumberDataPoint) {
	dp.Attributes().PutBool(AttrOverflow, true)
	dp.SetStartTimestamp(o.start)
	dp.SetTimestamp(o.time)
	if o.allInt {
		dp.SetIntValue(int64(o.value))
	} else {
		dp.SetDoubleValue(o.value)
	}
	o.reset(k)
}

// foldHistogram adds a histogram point: a delta point as it is, a
// cumulative one as the change since its series' previous point.
func (o *overflow) foldHistogram(k kind, s *series, dp pmetric.HistogramDataPoint) {
	if dp.Flags().NoRecordedValue() {
		return
	}
	o.begin(k, dp.StartTimestamp(), dp.Timestamp())
	bounds := dp.ExplicitBounds().AsRaw()
	cur := make([]float64, 2+dp.BucketCounts().Len())
	cur[0], cur[1] = float64(dp.Count()), dp.Sum()
	for i, c := range dp.BucketCounts().All() {
		cur[2+i] = float64(c)
	}
	if !dp.HasSum() {
		o.noSum = true
	}
	d := cur
	if k == kindCumHist {
		d = make([]float64, len(cur))
		src := s.src
		switch {
		case src == nil:
			s.src = &source{start: dp.StartTimestamp(), vals: cur, bounds: bounds}
			if o.firstContribution(dp.StartTimestamp()) {
				copy(d, cur)
			}
		case dp.StartTimestamp() != src.start || !slices.Equal(bounds, src.bounds) || decreased(cur, src.vals):
			copy(d, cur)
			src.start, src.vals, src.bounds = dp.StartTimestamp(), cur, bounds
		default:
			for i := range cur {
				d[i] = cur[i] - src.vals[i]
			}
			src.vals = cur
		}
	} else if dp.HasMin() && dp.HasMax() {
		if !o.hasMinMax || dp.Min() < o.min {
			o.min = dp.Min()
		}
		if !o.hasMinMax || dp.Max() > o.max {
			o.max = dp.Max()
		}
		o.hasMinMax = true
	}
	if o.buckets == nil {
		o.bounds = slices.Clone(bounds)
		o.buckets = make([]uint64, len(bounds)+1)
	}
	o.count += uint64(d[0])
	o.sum += d[1]
	rebucket(o.bounds, o.buckets, bounds, d[2:])
}

// decreased reports whether any count in cur (count, sum, buckets) is
// below prev: a reset. The sum (index 1) may decrease with negative
// observations and is not looked at.
func decreased(cur, prev []float64) bool {
	if len(cur) != len(prev) {
		return true
	}
	for i, v := range cur {
		if i != 1 && v < prev[i] {
			return true
		}
	}
	return false
}

// rebucket adds counts over bounds into dst over dstBounds. Equal bounds
// add bucket by bucket; otherwise each source bucket goes whole to the
// destination bucket that holds its upper bound (the +Inf bucket for the
// last), so that counts are exact and a bucket's observations are never
// placed below their own upper bound.
func rebucket(dstBounds []float64, dst []uint64, bounds []float64, counts []float64) {
	if slices.Equal(dstBounds, bounds) && len(counts) == len(dst) {
		for i, c := range counts {
			dst[i] += uint64(c)
		}
		return
	}
	for i, c := range counts {
		j := len(dstBounds) // +Inf
		if i < len(bounds) {
			j, _ = slices.BinarySearch(dstBounds, bounds[i])
		}
		dst[j] += uint64(c)
	}
}

func (o *overflow) emitHistogram(k kind, dp pmetric.HistogramDataPoint) {
	dp.Attributes().PutBool(AttrOverflow, true)
	dp.SetStartTimestamp(o.start)
	dp.SetTimestamp(o.time)
	dp.SetCount(o.count)
	if !o.noSum {
		dp.SetSum(o.sum)
	}
	if o.hasMinMax {
		dp.SetMin(o.min)
		dp.SetMax(o.max)
	}
	dp.ExplicitBounds().FromRaw(o.bounds) // copies
	dp.BucketCounts().FromRaw(o.buckets)
	o.reset(k)
}

// foldSummary adds the change of a summary's count and sum since its
// series' previous point.
func (o *overflow) foldSummary(s *series, dp pmetric.SummaryDataPoint) {
	if dp.Flags().NoRecordedValue() {
		return
	}
	o.begin(kindSummary, dp.StartTimestamp(), dp.Timestamp())
	cur := []float64{float64(dp.Count()), dp.Sum()}
	var d [2]float64
	switch src := s.src; {
	case src == nil:
		s.src = &source{start: dp.StartTimestamp(), vals: cur}
		if o.firstContribution(dp.StartTimestamp()) {
			copy(d[:], cur)
		}
	case dp.StartTimestamp() != src.start || cur[0] < src.vals[0]:
		copy(d[:], cur)
		src.start, src.vals = dp.StartTimestamp(), cur
	default:
		d[0], d[1] = cur[0]-src.vals[0], cur[1]-src.vals[1]
		src.vals = cur
	}
	o.count += uint64(d[0])
	o.sum += d[1]
}

func (o *overflow) emitSummary(dp pmetric.SummaryDataPoint) {
	dp.Attributes().PutBool(AttrOverflow, true)
	dp.SetStartTimestamp(o.start)
	dp.SetTimestamp(o.time)
	dp.SetCount(o.count)
	dp.SetSum(o.sum)
	o.reset(kindSummary)
}
