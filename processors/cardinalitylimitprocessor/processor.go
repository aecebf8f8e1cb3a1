package cardinalitylimitprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/attrkey"
	"github.com/outpost-edge/outpost/pipeline"
)

// AttrOverflow is the attribute, set to the boolean true, of every
// overflow series: the OpenTelemetry SDK's overflow attribute.
const AttrOverflow = "otel.metric.overflow"

// Label values.
const (
	reasonLimit     = "limit"
	reasonMaxSeries = "max_series"
)

var errNilNext = errors.New("cardinality_limit processor: nil next consumer")

// series is one tracked point attribute set of a stream.
type series struct {
	stream   *stream
	lastSeen int64 // processor clock, unix nanoseconds
	overflow bool  // folded into the stream's overflow series
	reason   string
	src      *source // an overflowed cumulative series: its last point
}

// stream is one metric stream: resource, scope, metric name, type,
// temporality and monotonicity.
type stream struct {
	key      uint64
	admitted int       // series passed through
	sources  int       // overflowed series tracked (cumulative kinds)
	ovf      *overflow // nil until a point overflows, and after it expires
}

// processor is the cardinality_limit processor.
type processor struct {
	next   consumer.Metrics
	limit  int
	expire time.Duration
	max    int
	now    func() time.Time

	overflowLimit prometheus.Counter // nil without telemetry
	overflowMax   prometheus.Counter
	dropMax       prometheus.Counter
	seriesGauge   prometheus.Gauge

	mu        sync.Mutex
	streams   map[uint64]*stream
	series    map[uint64]*series
	tracked   int // len(series) + overflow series
	lastSweep int64
	enc       attrkey.Encoder
	nowNanos  int64 // the current request's time, under mu
	counts    struct{ limit, max, drop int64 }
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (*processor, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("cardinality_limit processor: unexpected config type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNilNext
	}
	p := &processor{
		next:    next,
		limit:   c.Limit,
		expire:  c.ExpireAfter,
		max:     c.MaxSeries,
		now:     time.Now,
		streams: map[uint64]*stream{},
		series:  map[uint64]*series{},
	}
	p.lastSweep = p.now().UnixNano()
	if tel := set.Telemetry; tel != nil {
		id := set.ID.String()
		p.overflowLimit = tel.Reduce.CardOverflow.WithLabelValues(id, reasonLimit)
		p.overflowMax = tel.Reduce.CardOverflow.WithLabelValues(id, reasonMaxSeries)
		p.dropMax = tel.ProcessorDropped.WithLabelValues(id, string(pipeline.SignalMetrics), reasonMaxSeries)
		p.seriesGauge = tel.Reduce.CardSeries.WithLabelValues(id)
	}
	return p, nil
}

// Capabilities reports that the processor mutates data: it removes
// overflowed points and adds overflow points.
func (p *processor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start does nothing: expiry runs as requests arrive.
func (p *processor) Start(context.Context, pipeline.Host) error { return nil }

// Shutdown does nothing: the processor holds no data points, only the
// state of series, which a new instance rebuilds.
func (p *processor) Shutdown(context.Context) error { return nil }

// ConsumeMetrics passes the points of admitted series through unchanged,
// folds the others into their stream's overflow series, and hands the
// request on.
func (p *processor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	p.mu.Lock()
	p.nowNanos = p.now().UnixNano()
	p.counts = struct{ limit, max, drop int64 }{}
	if p.nowNanos-p.lastSweep >= int64(p.expire/2) {
		p.sweepLocked()
	}
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			p.enc.Reset()
			p.enc.Str(rm.SchemaUrl())
			p.enc.Map(rm.Resource().Attributes())
			p.enc.Str(sm.SchemaUrl())
			p.enc.Str(sm.Scope().Name())
			p.enc.Str(sm.Scope().Version())
			p.enc.Map(sm.Scope().Attributes())
			scopeKey := xxhash.Sum64(p.enc.Buf)
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				return p.metricLocked(scopeKey, m)
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	counts := p.counts
	if p.seriesGauge != nil {
		p.seriesGauge.Set(float64(p.tracked))
	}
	p.mu.Unlock()
	if p.overflowLimit != nil {
		p.overflowLimit.Add(float64(counts.limit))
		p.overflowMax.Add(float64(counts.max))
		p.dropMax.Add(float64(counts.drop))
	}
	if md.ResourceMetrics().Len() == 0 {
		return nil
	}
	return p.next.ConsumeMetrics(ctx, md)
}

// metricLocked handles one metric; it reports whether the metric is left
// without points after having had some (and is to be removed).
func (p *processor) metricLocked(scopeKey uint64, m pmetric.Metric) bool {
	k := kindOf(m)
	if k == kindNone {
		return false
	}
	p.enc.Reset()
	p.enc.Buf = binary.LittleEndian.AppendUint64(p.enc.Buf, scopeKey)
	p.enc.Str(m.Name())
	p.enc.Uvarint(uint64(k))
	st := p.streamLocked(xxhash.Sum64(p.enc.Buf))
	var had, left int
	switch k {
	case kindGauge, kindDeltaSum, kindCumSum, kindUpDownSum:
		dps := numberPoints(m)
		had = dps.Len()
		dps.RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			s, a := p.routeLocked(st, dp.Attributes(), k.cumulative())
			if a == fold {
				st.ovf.foldNumber(k, s, dp)
			}
			return a != pass
		})
		if st.ovf != nil && st.ovf.dirty {
			st.ovf.emitNumber(k, dps.AppendEmpty())
		}
		left = dps.Len()
	case kindDeltaHist, kindCumHist:
		dps := m.Histogram().DataPoints()
		had = dps.Len()
		dps.RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
			s, a := p.routeLocked(st, dp.Attributes(), k.cumulative())
			if a == fold {
				st.ovf.foldHistogram(k, s, dp)
			}
			return a != pass
		})
		if st.ovf != nil && st.ovf.dirty {
			st.ovf.emitHistogram(k, dps.AppendEmpty())
		}
		left = dps.Len()
	case kindDeltaExp, kindCumExp:
		dps := m.ExponentialHistogram().DataPoints()
		had = dps.Len()
		dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			s, a := p.routeLocked(st, dp.Attributes(), k.cumulative())
			if a == fold {
				st.ovf.foldExp(k, s, dp)
			}
			return a != pass
		})
		if st.ovf != nil && st.ovf.dirty {
			st.ovf.emitExp(k, dps.AppendEmpty())
		}
		left = dps.Len()
	case kindSummary:
		dps := m.Summary().DataPoints()
		had = dps.Len()
		dps.RemoveIf(func(dp pmetric.SummaryDataPoint) bool {
			s, a := p.routeLocked(st, dp.Attributes(), true)
			if a == fold {
				st.ovf.foldSummary(s, dp)
			}
			return a != pass
		})
		if st.ovf != nil && st.ovf.dirty {
			st.ovf.emitSummary(dps.AppendEmpty())
		}
		left = dps.Len()
	}
	if st.admitted == 0 && st.sources == 0 && st.ovf == nil {
		delete(p.streams, st.key) // every point was dropped
	}
	return had > 0 && left == 0
}

func (p *processor) streamLocked(key uint64) *stream {
	st, ok := p.streams[key]
	if !ok {
		st = &stream{key: key}
		p.streams[key] = st
	}
	return st
}

// action is what becomes of a point.
type action int

const (
	pass action = iota // its series is admitted: unchanged
	fold               // folded into the stream's overflow series
	drop               // no room to track it or its overflow series
)

// routeLocked decides what becomes of a point. For fold, st.ovf exists
// and, for cumulative kinds, s is the point's tracked series (whose source
// keeps its last point).
func (p *processor) routeLocked(st *stream, attrs pcommon.Map, cumulative bool) (s *series, a action) {
	p.enc.Reset()
	p.enc.Buf = binary.LittleEndian.AppendUint64(p.enc.Buf, st.key)
	p.enc.Map(attrs)
	h := xxhash.Sum64(p.enc.Buf)
	if s, ok := p.series[h]; ok {
		s.lastSeen = p.nowNanos
		if !s.overflow {
			return s, pass
		}
		if !p.overflowSeriesLocked(st) {
			p.counts.drop++
			return nil, drop
		}
		p.countOverflow(s.reason)
		return s, fold
	}
	if st.admitted < p.limit && p.tracked < p.max {
		s := &series{stream: st, lastSeen: p.nowNanos}
		p.series[h] = s
		p.tracked++
		st.admitted++
		return s, pass
	}
	reason := reasonLimit
	if st.admitted < p.limit {
		reason = reasonMaxSeries
	}
	if !p.overflowSeriesLocked(st) {
		p.counts.drop++
		return nil, drop
	}
	if !cumulative {
		p.countOverflow(reason)
		return nil, fold
	}
	if p.tracked >= p.max {
		p.counts.drop++
		return nil, drop
	}
	s = &series{stream: st, lastSeen: p.nowNanos, overflow: true, reason: reason}
	p.series[h] = s
	p.tracked++
	st.sources++
	p.countOverflow(reason)
	return s, fold
}

// overflowSeriesLocked makes sure st has its overflow series; false when
// there is no room for it.
func (p *processor) overflowSeriesLocked(st *stream) bool {
	if st.ovf == nil {
		if p.tracked >= p.max {
			return false
		}
		st.ovf = newOverflow(p.nowNanos)
		p.tracked++
	}
	st.ovf.lastSeen = p.nowNanos
	return true
}

func (p *processor) countOverflow(reason string) {
	if reason == reasonMaxSeries {
		p.counts.max++
	} else {
		p.counts.limit++
	}
}

// sweepLocked forgets the series, overflow series and streams not seen
// for expire_after.
func (p *processor) sweepLocked() {
	p.lastSweep = p.nowNanos
	idle := p.nowNanos - int64(p.expire)
	for h, s := range p.series {
		if s.lastSeen > idle {
			continue
		}
		delete(p.series, h)
		p.tracked--
		if s.overflow {
			s.stream.sources--
		} else {
			s.stream.admitted--
		}
	}
	for k, st := range p.streams {
		if st.ovf != nil && st.ovf.lastSeen <= idle {
			st.ovf = nil
			p.tracked--
		}
		if st.admitted == 0 && st.sources == 0 && st.ovf == nil {
			delete(p.streams, k)
		}
	}
}
