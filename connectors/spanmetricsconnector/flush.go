package spanmetricsconnector

import (
	"context"
	"sort"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ScopeName is the instrumentation scope of the metrics the connector
// sends.
const ScopeName = "github.com/outpost-edge/outpost/connectors/spanmetricsconnector"

// sent is one series' part of a flush: what to take back into the series
// when the flush is refused (delta), and the spans it stands for.
type sent struct {
	s       *series
	acc     accum // delta: the accumulator sent, replaced by a fresh one
	start   pcommon.Timestamp
	pending uint64
}

// flush sends the metrics on. In delta mode a flush refused with a
// retryable error is merged back into the series, to be sent with the next
// one; in cumulative mode the next flush carries the totals anyway. A
// permanent refusal in delta mode, or a failed final flush, drops the
// spans the flush stood for (counted). Series idle for metrics_expiration
// are removed after the flush.
func (k *connector) flush(ctx context.Context, final bool) error {
	k.flushMu.Lock()
	defer k.flushMu.Unlock()

	k.mu.Lock()
	now := time.Now()
	md, snap := k.buildLocked(pcommon.NewTimestampFromTime(now))
	var snapSpans uint64
	for _, e := range snap {
		if e.s.kind == kindSpan {
			snapSpans += e.pending
		}
	}
	k.inflight = snapSpans
	k.mu.Unlock()

	var err error
	if md.DataPointCount() > 0 {
		err = k.next.ConsumeMetrics(ctx, md)
	}

	k.mu.Lock()
	k.inflight = 0
	var lost uint64
	reason := reasonRefused
	switch {
	case err == nil:
		delivered(snap)
	case k.aborted:
		// Shutdown gave up waiting for this flush and counted the rest.
		reason, lost = reasonShutdown, snapSpans
		delivered(snap)
	case !final && !consumererror.IsPermanent(err):
		// Back-pressure: keep everything for the next flush.
		k.tel.add(k.tel.refusedFlushes, 1)
		if k.delta {
			for _, e := range snap {
				e.s.acc.merge(&e.acc)
				e.s.start = e.start
			}
		}
	case final:
		reason, lost = reasonShutdown, snapSpans
		delivered(snap)
	case k.delta:
		lost = snapSpans
		delivered(snap)
	default:
		// Cumulative, refused for good: the totals stay held and the
		// next flush sends them again.
	}
	expired := k.expireLocked(now)
	k.reportLocked()
	k.mu.Unlock()

	k.tel.add(k.tel.dropped[reason], lost)
	k.tel.add(k.tel.dropped[reasonExpired], expired)
	if err != nil {
		k.logger.Warn("spanmetrics: metrics flush refused", "error", err, "permanent", consumererror.IsPermanent(err), "final", final)
	}
	return err
}

// delivered takes what snap stood for off its series' undelivered count:
// delivered, or lost and counted.
func delivered(snap []sent) {
	for _, e := range snap {
		e.s.pending -= min(e.pending, e.s.pending)
	}
}

// expireLocked removes the series (and then empty resources) that got no
// span for metrics_expiration; it returns the undelivered spans they held.
func (k *connector) expireLocked(now time.Time) (lost uint64) {
	if k.cfg.MetricsExpiration <= 0 {
		return 0
	}
	cut := now.Add(-k.cfg.MetricsExpiration).UnixNano()
	for _, r := range k.allResources() {
		for key, s := range r.series {
			if s.lastSeen > cut {
				continue
			}
			if s.kind == kindSpan {
				lost += s.pending
			}
			delete(r.series, key)
			r.bytes -= s.bytes
			k.releaseLocked(s.bytes)
			switch {
			case s.overflow:
				k.nOverflow--
			case s.kind == kindEvent:
				r.events--
				k.nSeries--
			default:
				r.spans--
				k.nSeries--
			}
		}
		if len(r.series) == 0 {
			k.releaseLocked(r.bytes)
			if r.overflow {
				k.overflowR = nil
			} else {
				delete(k.resources, r.key)
			}
		}
	}
	return lost
}

// buildLocked makes the metrics of every series (in delta mode, of every
// series that counted something since the last flush, whose accumulator
// it takes) and clears the exemplars.
func (k *connector) buildLocked(now pcommon.Timestamp) (pmetric.Metrics, []sent) {
	md := pmetric.NewMetrics()
	var snap []sent
	resources := make([]*resource, 0, len(k.resources)+1)
	for _, r := range k.resources {
		resources = append(resources, r)
	}
	sort.Slice(resources, func(i, j int) bool { return resources[i].key < resources[j].key })
	if k.overflowR != nil {
		resources = append(resources, k.overflowR)
	}
	temporality := pmetric.AggregationTemporalityCumulative
	if k.delta {
		temporality = pmetric.AggregationTemporalityDelta
	}
	for _, r := range resources {
		var calls, events pmetric.Sum
		var hist pmetric.Histogram
		var expo pmetric.ExponentialHistogram
		var sm pmetric.ScopeMetrics
		scope := func() pmetric.ScopeMetrics {
			if sm == (pmetric.ScopeMetrics{}) {
				rm := md.ResourceMetrics().AppendEmpty()
				r.attrs.CopyTo(rm.Resource().Attributes())
				rm.SetSchemaUrl(r.schema)
				sm = rm.ScopeMetrics().AppendEmpty()
				sm.Scope().SetName(ScopeName)
			}
			return sm
		}
		for _, s := range r.sortedSeries() {
			if k.delta && s.acc.calls == 0 {
				continue
			}
			e := sent{s: s, pending: s.pending, start: s.start}
			acc := s.acc
			start := s.start
			if k.delta {
				e.acc = s.acc
				s.acc = accum{}
				if s.kind == kindSpan {
					s.acc = k.newAccum()
				}
				s.start = now
			}
			snap = append(snap, e)
			exemplars := s.orderedExemplars()
			s.exemplars, s.exNext = nil, 0
			if s.kind == kindEvent {
				if events == (pmetric.Sum{}) {
					events = newSum(scope(), k.cfg.metricName("events"), temporality)
				}
				dp := events.DataPoints().AppendEmpty()
				k.point(dp.Attributes(), s, start, now, dp)
				dp.SetIntValue(int64(acc.calls))
				continue
			}
			if calls == (pmetric.Sum{}) {
				calls = newSum(scope(), k.cfg.metricName("calls"), temporality)
			}
			dp := calls.DataPoints().AppendEmpty()
			k.point(dp.Attributes(), s, start, now, dp)
			dp.SetIntValue(int64(acc.calls))
			if k.hist == histNone {
				putExemplars(dp.Exemplars(), exemplars)
			}
			switch k.hist {
			case histExplicit:
				if hist == (pmetric.Histogram{}) {
					m := scope().Metrics().AppendEmpty()
					m.SetName(k.cfg.metricName("duration"))
					m.SetUnit(k.cfg.Histogram.Unit)
					hist = m.SetEmptyHistogram()
					hist.SetAggregationTemporality(temporality)
				}
				hp := hist.DataPoints().AppendEmpty()
				k.point(hp.Attributes(), s, start, now, hp)
				hp.SetCount(acc.calls)
				hp.SetSum(acc.sum)
				hp.ExplicitBounds().FromRaw(append([]float64(nil), k.bounds...))
				hp.BucketCounts().FromRaw(append([]uint64(nil), acc.buckets...))
				putExemplars(hp.Exemplars(), exemplars)
			case histExponential:
				if expo == (pmetric.ExponentialHistogram{}) {
					m := scope().Metrics().AppendEmpty()
					m.SetName(k.cfg.metricName("duration"))
					m.SetUnit(k.cfg.Histogram.Unit)
					expo = m.SetEmptyExponentialHistogram()
					expo.SetAggregationTemporality(temporality)
				}
				ep := expo.DataPoints().AppendEmpty()
				k.point(ep.Attributes(), s, start, now, ep)
				h := acc.expo
				ep.SetCount(h.Count())
				ep.SetSum(h.Sum())
				if h.Count() > 0 {
					ep.SetMin(h.Min())
					ep.SetMax(h.Max())
				}
				ep.SetScale(h.Scale())
				ep.SetZeroCount(h.ZeroCount())
				pos := h.Positive()
				ep.Positive().SetOffset(pos.Offset())
				counts := ep.Positive().BucketCounts()
				counts.EnsureCapacity(int(pos.Len()))
				for i := uint32(0); i < pos.Len(); i++ {
					counts.Append(pos.At(i))
				}
				putExemplars(ep.Exemplars(), exemplars)
			}
		}
	}
	return md, snap
}

// timed is what every point type has.
type timed interface {
	SetStartTimestamp(pcommon.Timestamp)
	SetTimestamp(pcommon.Timestamp)
}

func (k *connector) point(attrs pcommon.Map, s *series, start, now pcommon.Timestamp, p timed) {
	s.attrs.CopyTo(attrs)
	p.SetStartTimestamp(start)
	p.SetTimestamp(now)
}

func newSum(sm pmetric.ScopeMetrics, name string, t pmetric.AggregationTemporality) pmetric.Sum {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(t)
	return sum
}

func putExemplars(dst pmetric.ExemplarSlice, exs []exemplar) {
	dst.EnsureCapacity(len(exs))
	for _, x := range exs {
		e := dst.AppendEmpty()
		e.SetTraceID(x.traceID)
		e.SetSpanID(x.spanID)
		e.SetTimestamp(x.time)
		e.SetDoubleValue(x.value)
	}
}
