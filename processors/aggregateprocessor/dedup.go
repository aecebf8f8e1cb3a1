package aggregateprocessor

import (
	"encoding/binary"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ReasonDedupMaxBytes is the `reason` of
// outpost_processor_aggregate_dedup_bypassed_points_total: keeping the
// point of a new series would have passed max_bytes, so it went on at
// once.
const ReasonDedupMaxBytes = "max_bytes"

// dedupState holds the points kept for the current dedup_interval window,
// already grouped as they are emitted: md is the window's output, and the
// maps find a series' place in it. Everything is emitted and forgotten at
// the window's end: no state outlives a window.
type dedupState struct {
	interval time.Duration
	next     time.Time // end of the current window
	md       pmetric.Metrics
	res      map[uint64]*dedupRes
	bytes    int64 // charged to the processor's state
	points   int
}

type dedupRes struct {
	rm     pmetric.ResourceMetrics
	scopes map[uint64]*dedupScope
}

type dedupScope struct {
	sm      pmetric.ScopeMetrics
	metrics map[uint64]*dedupMetric
}

type dedupMetric struct {
	m     pmetric.Metric
	slots map[uint64]dedupSlot // point attributes hash → kept point
}

// dedupSlot is where a series' kept point sits in its metric's data
// points, and what it is charged.
type dedupSlot struct {
	idx   int
	bytes int64
}

// Estimated bytes of the kept data: pdata structs, slices and the map
// entries that find them (BenchmarkDedupStateBytesPerSeries compares the
// estimate with the heap).
const (
	dedupResOverhead    = 320
	dedupScopeOverhead  = 256
	dedupMetricOverhead = 320
	dedupPointOverhead  = 160
	dedupAttrOverhead   = 64
	dedupExemplarBytes  = 96
)

// liveFrom is, in Unix nanoseconds, the start of the window before the
// current one: points stamped at or after it are live and share their
// series' slot (a scrape stamped just before a boundary may arrive just
// after it); older ones are replayed and keep one slot per window of
// their timestamps.
func (d *dedupState) liveFrom() int64 {
	return d.next.Add(-2 * d.interval).UnixNano()
}

func newDedupState(interval time.Duration, now time.Time) *dedupState {
	d := &dedupState{interval: interval, next: nextBoundary(now, interval)}
	d.reset()
	return d
}

func (d *dedupState) reset() {
	d.md = pmetric.NewMetrics()
	d.res = map[uint64]*dedupRes{}
	d.bytes, d.points = 0, 0
}

// dedupCursor is the resource and scope of the points being deduplicated,
// with their window state once found or created.
type dedupCursor struct {
	srcRM    pmetric.ResourceMetrics
	srcSM    pmetric.ScopeMetrics
	resKey   uint64
	scopeKey uint64
	res      *dedupRes
	scope    *dedupScope
	// Counted under the lock, reported after it.
	deduplicated, bypassed int
}

// setResource points c at a new resource; resHash is the hash of its
// attributes.
func (p *processor) dedupSetResource(c *dedupCursor, rm pmetric.ResourceMetrics, resHash uint64) {
	d := p.digest
	d.Reset()
	var b [8]byte
	for i := range 8 {
		b[i] = byte(resHash >> (8 * i))
	}
	_, _ = d.Write(b[:])
	_, _ = d.WriteString(rm.SchemaUrl())
	c.srcRM, c.resKey, c.res, c.scope = rm, d.Sum64(), nil, nil
}

// dedupSetScope points c at a new scope of its resource.
func (p *processor) dedupSetScope(c *dedupCursor, sm pmetric.ScopeMetrics) {
	sc := sm.Scope()
	p.ptBuf = sortedPairs(sc.Attributes(), p.ptBuf)
	d := p.digest
	d.Reset()
	for _, s := range []string{sc.Name(), sc.Version(), sm.SchemaUrl()} {
		_, _ = d.WriteString(s)
		_, _ = d.Write([]byte{0})
	}
	hashPairs(d, p.ptBuf)
	c.srcSM, c.scopeKey, c.scope = sm, d.Sum64(), nil
}

// dedupMetricLocked moves the points of m that dedup_interval holds into
// the window (or drops them, when the window holds a later point of their
// series) and reports whether m is left empty. Delta sums and histograms,
// and metrics without points, stay as they are.
func (p *processor) dedupMetricLocked(c *dedupCursor, m pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return dedupPoints(p, c, m, m.Gauge().DataPoints(), func(m pmetric.Metric) pmetric.NumberDataPointSlice { return m.Gauge().DataPoints() }, numberPointBytes)
	case pmetric.MetricTypeSum:
		if m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		return dedupPoints(p, c, m, m.Sum().DataPoints(), func(m pmetric.Metric) pmetric.NumberDataPointSlice { return m.Sum().DataPoints() }, numberPointBytes)
	case pmetric.MetricTypeHistogram:
		if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		return dedupPoints(p, c, m, m.Histogram().DataPoints(), func(m pmetric.Metric) pmetric.HistogramDataPointSlice { return m.Histogram().DataPoints() }, histogramPointBytes)
	case pmetric.MetricTypeExponentialHistogram:
		if m.ExponentialHistogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return false
		}
		return dedupPoints(p, c, m, m.ExponentialHistogram().DataPoints(), func(m pmetric.Metric) pmetric.ExponentialHistogramDataPointSlice {
			return m.ExponentialHistogram().DataPoints()
		}, expPointBytes)
	case pmetric.MetricTypeSummary:
		return dedupPoints(p, c, m, m.Summary().DataPoints(), func(m pmetric.Metric) pmetric.SummaryDataPointSlice { return m.Summary().DataPoints() }, summaryPointBytes)
	}
	return false
}

// dedupPoint and dedupSlice are what dedupPoints needs of pdata's point
// types and their slices.
type dedupPoint[T any] interface {
	Attributes() pcommon.Map
	Timestamp() pcommon.Timestamp
	MoveTo(T)
}

type dedupSlice[T any] interface {
	Len() int
	At(int) T
	AppendEmpty() T
	RemoveIf(func(T) bool)
}

func dedupPoints[T dedupPoint[T], S dedupSlice[T]](p *processor, c *dedupCursor, m pmetric.Metric, dps S, points func(pmetric.Metric) S, size func(T) int64) bool {
	if dps.Len() == 0 {
		return false
	}
	d := p.dedup
	mkey := metricKey64(p, m)
	live := d.liveFrom()
	var dm *dedupMetric
	dps.RemoveIf(func(dp T) bool {
		p.ptBuf = sortedPairs(dp.Attributes(), p.ptBuf)
		p.digest.Reset()
		hashPairs(p.digest, p.ptBuf)
		if ts := int64(dp.Timestamp()); ts < live {
			// A replayed point (a client's or an upstream queue's
			// backlog): one per series and window of its own timestamp.
			var b [9]byte
			b[0] = 1
			binary.LittleEndian.PutUint64(b[1:], uint64(ts/int64(d.interval)))
			_, _ = p.digest.Write(b[:])
		}
		key := p.digest.Sum64()
		if dm == nil {
			dm = p.dedupFind(c, mkey)
		}
		if dm != nil {
			if slot, ok := dm.slots[key]; ok {
				// One of the two points is left out, either way.
				c.deduplicated++
				kept := points(dm.m).At(slot.idx)
				if dp.Timestamp() < kept.Timestamp() {
					return true
				}
				n := size(dp)
				dp.MoveTo(kept)
				d.bytes += n - slot.bytes
				p.bytes += n - slot.bytes
				dm.slots[key] = dedupSlot{idx: slot.idx, bytes: n}
				return true
			}
		}
		n := size(dp)
		need := n
		if c.res == nil {
			need += dedupResOverhead + mapBytes(c.srcRM.Resource().Attributes()) + int64(len(c.srcRM.SchemaUrl()))
		}
		if c.scope == nil {
			sc := c.srcSM.Scope()
			need += dedupScopeOverhead + mapBytes(sc.Attributes()) + int64(len(sc.Name())+len(sc.Version())+len(c.srcSM.SchemaUrl()))
		}
		if dm == nil {
			need += dedupMetricOverhead + mapBytes(m.Metadata()) + int64(len(m.Name())+len(m.Description())+len(m.Unit()))
		}
		if p.bytes+need > p.maxBytes {
			c.bypassed++
			return false
		}
		if c.res == nil {
			rm := d.md.ResourceMetrics().AppendEmpty()
			c.srcRM.Resource().CopyTo(rm.Resource())
			rm.SetSchemaUrl(c.srcRM.SchemaUrl())
			c.res = &dedupRes{rm: rm, scopes: map[uint64]*dedupScope{}}
			d.res[c.resKey] = c.res
		}
		if c.scope == nil {
			sm := c.res.rm.ScopeMetrics().AppendEmpty()
			c.srcSM.Scope().CopyTo(sm.Scope())
			sm.SetSchemaUrl(c.srcSM.SchemaUrl())
			c.scope = &dedupScope{sm: sm, metrics: map[uint64]*dedupMetric{}}
			c.res.scopes[c.scopeKey] = c.scope
		}
		if dm == nil {
			dm = &dedupMetric{m: c.scope.sm.Metrics().AppendEmpty(), slots: map[uint64]dedupSlot{}}
			copyMetricShape(m, dm.m)
			c.scope.metrics[mkey] = dm
		}
		dst := points(dm.m)
		dm.slots[key] = dedupSlot{idx: dst.Len(), bytes: n}
		dp.MoveTo(dst.AppendEmpty())
		d.bytes += need
		p.bytes += need
		d.points++
		return true
	})
	return dps.Len() == 0
}

// dedupFind returns the window's state of metric mkey under c's resource
// and scope, finding those on the way; nil when the window has no point of
// it yet.
func (p *processor) dedupFind(c *dedupCursor, mkey uint64) *dedupMetric {
	if c.res == nil {
		c.res = p.dedup.res[c.resKey]
		if c.res == nil {
			return nil
		}
	}
	if c.scope == nil {
		c.scope = c.res.scopes[c.scopeKey]
		if c.scope == nil {
			return nil
		}
	}
	return c.scope.metrics[mkey]
}

// metricKey64 hashes what makes a metric's points one stream besides their
// attributes: name, unit, type, temporality, monotonicity. Not the
// description: Prometheus's staleness markers come without one, and a
// description is metadata, not identity (the first one of the window is
// kept).
func metricKey64(p *processor, m pmetric.Metric) uint64 {
	d := p.digest
	d.Reset()
	for _, s := range []string{m.Name(), m.Unit()} {
		_, _ = d.WriteString(s)
		_, _ = d.Write([]byte{0})
	}
	var temporality pmetric.AggregationTemporality
	monotonic := false
	switch m.Type() {
	case pmetric.MetricTypeSum:
		temporality, monotonic = m.Sum().AggregationTemporality(), m.Sum().IsMonotonic()
	case pmetric.MetricTypeHistogram:
		temporality = m.Histogram().AggregationTemporality()
	case pmetric.MetricTypeExponentialHistogram:
		temporality = m.ExponentialHistogram().AggregationTemporality()
	}
	mono := byte(0)
	if monotonic {
		mono = 1
	}
	_, _ = d.Write([]byte{byte(m.Type()), byte(temporality), mono})
	return d.Sum64()
}

// copyMetricShape copies everything of src but its data points to dst.
func copyMetricShape(src, dst pmetric.Metric) {
	dst.SetName(src.Name())
	dst.SetDescription(src.Description())
	dst.SetUnit(src.Unit())
	src.Metadata().CopyTo(dst.Metadata())
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		dst.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		s := dst.SetEmptySum()
		s.SetAggregationTemporality(src.Sum().AggregationTemporality())
		s.SetIsMonotonic(src.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		dst.SetEmptyHistogram().SetAggregationTemporality(src.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		dst.SetEmptyExponentialHistogram().SetAggregationTemporality(src.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		dst.SetEmptySummary()
	}
}

// flushDedupLocked ends the dedup window: its kept points go into e, and
// the window starts empty.
func (p *processor) flushDedupLocked(e *emitter) {
	d := p.dedup
	if d.points > 0 {
		d.md.ResourceMetrics().MoveAndAppendTo(e.md.ResourceMetrics())
		e.points += d.points
	}
	p.bytes -= d.bytes
	d.reset()
}

// mapBytes estimates the bytes of an attribute map.
func mapBytes(m pcommon.Map) int64 {
	n := int64(0)
	for k, v := range m.All() {
		n += dedupAttrOverhead + int64(len(k))
		switch v.Type() {
		case pcommon.ValueTypeStr:
			n += int64(len(v.Str()))
		case pcommon.ValueTypeBytes:
			n += int64(v.Bytes().Len())
		case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
			n += int64(len(v.AsString()))
		}
	}
	return n
}

func exemplarsBytes(es pmetric.ExemplarSlice) int64 {
	n := int64(0)
	for _, e := range es.All() {
		n += dedupExemplarBytes + mapBytes(e.FilteredAttributes())
	}
	return n
}

func numberPointBytes(dp pmetric.NumberDataPoint) int64 {
	return dedupPointOverhead + mapBytes(dp.Attributes()) + exemplarsBytes(dp.Exemplars())
}

func histogramPointBytes(dp pmetric.HistogramDataPoint) int64 {
	return dedupPointOverhead + mapBytes(dp.Attributes()) + exemplarsBytes(dp.Exemplars()) +
		8*int64(dp.ExplicitBounds().Len()+dp.BucketCounts().Len())
}

func expPointBytes(dp pmetric.ExponentialHistogramDataPoint) int64 {
	return dedupPointOverhead + mapBytes(dp.Attributes()) + exemplarsBytes(dp.Exemplars()) +
		8*int64(dp.Positive().BucketCounts().Len()+dp.Negative().BucketCounts().Len())
}

func summaryPointBytes(dp pmetric.SummaryDataPoint) int64 {
	return dedupPointOverhead + mapBytes(dp.Attributes()) + 16*int64(dp.QuantileValues().Len())
}
