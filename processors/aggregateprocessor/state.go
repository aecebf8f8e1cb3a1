package aggregateprocessor

import (
	"cmp"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// kv is one attribute as strings, for hashing and copying.
type kv struct{ k, v string }

// sample is one input data point as the aggregation sees it.
type sample struct {
	ts, start pcommon.Timestamp
	v         float64
	delta     bool      // delta temporality: v (or the histogram) is already an increase
	skip      bool      // no recorded value or NaN: not aggregated
	invalid   bool      // a malformed histogram: not aggregated, counted
	hist      *histSnap // explicit-bucket histogram point, or nil
	exp       *expHist  // exponential histogram point, or nil
}

// series is the state of one input series in one rule.
type series struct {
	group    *group
	lastSeen time.Time // wall clock of the last sample

	// Counter state (total, increase): the last cumulative sample.
	hasPrev   bool
	prevV     float64
	prevTs    pcommon.Timestamp
	prevStart pcommon.Timestamp
	prevHist  *histSnap
	prevExp   *expHist

	countedIn int64 // 1 + the interval number in which count_series counted it

	// dedup_interval: the sample kept so far in the current dedup window.
	pend    sample
	hasPend bool

	bytes int64 // charged to the processor's state
}

// group is one output series set: the inputs that share a metric name and
// the attributes kept by by/without.
type group struct {
	key     uint64
	resKey  uint64 // hash of the kept resource attributes
	name    string
	unit    string
	res     []kv // kept resource attributes
	attrs   []kv // kept data point attributes
	nseries int
	created pcommon.Timestamp // start time of total and histogram

	// Per interval, reset at each flush.
	samples     int
	sum         float64
	min, max    float64
	last        float64
	lastTs      pcommon.Timestamp
	countSeries int
	quant       []float64
	increase    float64

	// Across intervals.
	counter bool // fed by counter outputs: total and increase are emitted
	total   float64
	hist    *histSnap
	exp     *expHist

	bytes int64
}

const (
	seriesOverhead = int64(unsafe.Sizeof(series{})) + 48 // + map entry
	groupOverhead  = int64(unsafe.Sizeof(group{})) + 48
	kvOverhead     = int64(unsafe.Sizeof(kv{}))
)

func kvBytes(kvs []kv) int64 {
	n := int64(0)
	for _, a := range kvs {
		n += kvOverhead + int64(len(a.k)+len(a.v))
	}
	return n
}

// ruleState is a compiled rule with its series and groups.
type ruleState struct {
	*compiled
	idx       int
	series    map[uint64]*series
	groups    map[uint64]*group
	start     time.Time // start of the current interval
	intervalN int64     // number of the current interval, from 0
	nextFlush time.Time
	nextDedup time.Time
}

// nextBoundary returns the first multiple of d since the Unix epoch after t.
func nextBoundary(t time.Time, d time.Duration) time.Time {
	n := t.UnixNano()
	return time.Unix(0, (n/int64(d)+1)*int64(d))
}

// sortedPairs appends m's attributes to buf as strings, sorted by key.
func sortedPairs(m pcommon.Map, buf []kv) []kv {
	buf = buf[:0]
	for k, v := range m.All() {
		buf = append(buf, kv{k, v.AsString()})
	}
	slices.SortFunc(buf, func(a, b kv) int { return cmp.Compare(a.k, b.k) })
	return buf
}

func hashPairs(d *xxhash.Digest, kvs []kv) {
	for _, a := range kvs {
		_, _ = d.WriteString(a.k)
		_, _ = d.Write([]byte{0})
		_, _ = d.WriteString(a.v)
		_, _ = d.Write([]byte{0})
	}
	_, _ = d.Write([]byte{1})
}

// keep filters kvs to the attributes that the rule keeps on its outputs;
// onResource adds the node identity that every output keeps.
func (r *ruleState) keep(kvs []kv, onResource bool) []kv {
	if r.mode == keepAll {
		return slices.Clone(kvs)
	}
	var out []kv
	for _, a := range kvs {
		switch {
		case onResource && len(a.k) > len(nodePrefix) && a.k[:len(nodePrefix)] == nodePrefix:
			out = append(out, a)
		case r.mode == keepBy && r.keys[a.k]:
			out = append(out, a)
		case r.mode == keepWithout && !r.keys[a.k]:
			out = append(out, a)
		}
	}
	return out
}

// quantile is Prometheus's quantile_over_time on sorted values: linear
// interpolation between the closest ranks, rank = phi × (n-1).
func quantile(phi float64, sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	rank := phi * float64(n-1)
	lo := max(0, int(math.Floor(rank)))
	hi := min(n-1, lo+1)
	w := rank - math.Floor(rank)
	return sorted[lo]*(1-w) + sorted[hi]*w
}

// emitter builds one flush's output, one ResourceMetrics per distinct set
// of kept resource attributes and one Metric per output name in it.
type emitter struct {
	md      pmetric.Metrics
	res     map[uint64]pmetric.MetricSlice
	metrics map[metricKey]pmetric.Metric
	points  int
	scope   string
}

type metricKey struct {
	res  uint64
	name string
}

func newEmitter(scope string) *emitter {
	return &emitter{md: pmetric.NewMetrics(), res: map[uint64]pmetric.MetricSlice{}, metrics: map[metricKey]pmetric.Metric{}, scope: scope}
}

func (e *emitter) metric(g *group, name string, typ pmetric.MetricType, unit string) pmetric.Metric {
	k := metricKey{g.resKey, name}
	if m, ok := e.metrics[k]; ok {
		return m
	}
	ms, ok := e.res[g.resKey]
	if !ok {
		rm := e.md.ResourceMetrics().AppendEmpty()
		attrs := rm.Resource().Attributes()
		attrs.EnsureCapacity(len(g.res))
		for _, a := range g.res {
			attrs.PutStr(a.k, a.v)
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(e.scope)
		ms = sm.Metrics()
		e.res[g.resKey] = ms
	}
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	switch typ {
	case pmetric.MetricTypeGauge:
		m.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		m.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case pmetric.MetricTypeHistogram:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case pmetric.MetricTypeExponentialHistogram:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	e.metrics[k] = m
	return m
}

func putAttrs(m pcommon.Map, kvs []kv) {
	m.EnsureCapacity(len(kvs))
	for _, a := range kvs {
		m.PutStr(a.k, a.v)
	}
}

func (e *emitter) gauge(g *group, name, unit string, ts pcommon.Timestamp, v float64) pmetric.NumberDataPoint {
	dp := e.metric(g, name, pmetric.MetricTypeGauge, unit).Gauge().DataPoints().AppendEmpty()
	putAttrs(dp.Attributes(), g.attrs)
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(v)
	e.points++
	return dp
}

func (e *emitter) sum(g *group, name, unit string, monotonic bool, start, ts pcommon.Timestamp, v float64) {
	m := e.metric(g, name, pmetric.MetricTypeSum, unit)
	m.Sum().SetIsMonotonic(monotonic)
	dp := m.Sum().DataPoints().AppendEmpty()
	putAttrs(dp.Attributes(), g.attrs)
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(v)
	e.points++
}

// emitGroup appends g's outputs for the interval [start, end].
func (r *ruleState) emitGroup(e *emitter, g *group, start, end pcommon.Timestamp) {
	base := g.name + r.prefix
	for _, o := range r.outputs {
		name := base + outputNames[o]
		switch o {
		case outTotal:
			if g.counter {
				e.sum(g, name, g.unit, true, g.created, end, g.total)
			}
		case outIncrease:
			if g.counter {
				e.sum(g, name, g.unit, false, start, end, g.increase)
			}
		case outSum:
			if g.samples > 0 {
				e.gauge(g, name, g.unit, end, g.sum)
			}
		case outCountSeries:
			if g.countSeries > 0 {
				e.gauge(g, name, "", end, float64(g.countSeries))
			}
		case outCountSamples:
			if g.samples > 0 {
				e.gauge(g, name, "", end, float64(g.samples))
			}
		case outLast:
			if g.samples > 0 {
				e.gauge(g, name, g.unit, end, g.last)
			}
		case outMin:
			if g.samples > 0 {
				e.gauge(g, name, g.unit, end, g.min)
			}
		case outMax:
			if g.samples > 0 {
				e.gauge(g, name, g.unit, end, g.max)
			}
		case outAvg:
			if g.samples > 0 {
				e.gauge(g, name, g.unit, end, g.sum/float64(g.samples))
			}
		case outQuantiles:
			if len(g.quant) > 0 {
				slices.Sort(g.quant)
				for i, phi := range r.phis {
					dp := e.gauge(g, name, g.unit, end, quantile(phi, g.quant))
					dp.Attributes().PutStr("quantile", r.phiLabels[i])
				}
			}
		case outHistogram:
			if h := g.hist; h != nil {
				dp := e.metric(g, name, pmetric.MetricTypeHistogram, g.unit).Histogram().DataPoints().AppendEmpty()
				putAttrs(dp.Attributes(), g.attrs)
				dp.SetStartTimestamp(g.created)
				dp.SetTimestamp(end)
				dp.ExplicitBounds().FromRaw(h.bounds)
				dp.BucketCounts().FromRaw(h.counts)
				dp.SetSum(h.sum)
				dp.SetCount(h.count)
				e.points++
			}
			if h := g.exp; h != nil {
				dp := e.metric(g, name, pmetric.MetricTypeExponentialHistogram, g.unit).ExponentialHistogram().DataPoints().AppendEmpty()
				putAttrs(dp.Attributes(), g.attrs)
				dp.SetStartTimestamp(g.created)
				dp.SetTimestamp(end)
				dp.SetScale(h.scale)
				dp.SetZeroCount(h.zeroCount)
				dp.SetZeroThreshold(h.zeroThreshold)
				dp.Positive().SetOffset(h.pos.offset)
				dp.Positive().BucketCounts().FromRaw(h.pos.counts)
				dp.Negative().SetOffset(h.neg.offset)
				dp.Negative().BucketCounts().FromRaw(h.neg.counts)
				dp.SetSum(h.sum)
				dp.SetCount(h.count)
				e.points++
			}
		}
	}
}

// resetInterval clears g's per-interval state.
func (g *group) resetInterval() {
	g.samples, g.sum, g.min, g.max, g.last, g.lastTs, g.countSeries, g.increase = 0, 0, 0, 0, 0, 0, 0, 0
	g.quant = nil
}
