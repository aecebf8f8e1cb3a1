package aggregateprocessor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Drop reasons, the `reason` label of outpost_processor_dropped_items_total.
const (
	// ReasonStateFull: a point of a new series (or group, or a quantile
	// sample) was shed because the state would pass max_bytes.
	ReasonStateFull = "state_full"
	// ReasonOutOfOrder: a cumulative point older than the series' last one;
	// counter and histogram outputs skip it.
	ReasonOutOfOrder = "out_of_order"
	// ReasonBoundsMismatch: a histogram point whose bucket bounds differ
	// from those of its output group.
	ReasonBoundsMismatch = "histogram_bounds_mismatch"
	// ReasonInvalidHistogram: a malformed histogram point (bucket counts
	// not one more than bounds; an exponential scale outside -10..20), or
	// an exponential one whose buckets lie so far from its group's that no
	// scale down to -10 holds both in 160 buckets (indexes no real value
	// has).
	ReasonInvalidHistogram = "invalid_histogram"
	// ReasonFlushRefused: output points the next consumer refused for good,
	// or that were still refused after maxPendingFlushes later flushes, or
	// at shutdown.
	ReasonFlushRefused = "flush_refused"
)

// maxPendingFlushes is how many refused flushes are kept to be sent again
// ahead of the next flush.
const maxPendingFlushes = 4

// ScopeName is the instrumentation scope of the output metrics.
const ScopeName = "github.com/outpost-edge/outpost/processors/aggregateprocessor"

var (
	errShutdown = consumererror.NewRetryableError(errors.New("aggregate processor is shut down"))
	errNilNext  = errors.New("aggregate processor: nil next consumer")
)

type processor struct {
	next     consumer.Metrics
	logger   *slog.Logger
	memory   *memlimit.Limiter
	maxBytes int64
	created  pcommon.Timestamp // counters that started at or after it are counted whole

	dropped    func(reason string, n int)
	stateBytes prometheus.Gauge // nil without telemetry
	seriesG    prometheus.Gauge // nil without telemetry
	// dedup_interval's counters: points left out, points passed on
	// undeduplicated for want of room.
	deduplicated func(n int)
	dedupBypass  func(n int)

	ctx    context.Context // handed to next for flushes; cancelled when Shutdown ends
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan struct{}

	mu        sync.Mutex
	rules     []*ruleState
	dedup     *dedupState // nil when dedup_interval is off
	bytes     int64
	nseries   int
	pending   []pmetric.Metrics // refused flushes, oldest first
	started   bool
	closed    bool
	release   func()
	nameCache map[string][]int // metric name → indexes of rules whose name matches
	resBuf    []kv
	ptBuf     []kv
	digest    *xxhash.Digest
	// histScratch holds the increase of an explicit-bucket histogram point
	// while it is added to its group.
	histScratch histSnap
	lastWarn    time.Time
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (*processor, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("aggregate processor: unexpected config type %T", cfg)
	}
	rules, err := c.compile()
	if err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNilNext
	}
	now := time.Now()
	p := &processor{
		next:      next,
		logger:    set.Logger,
		memory:    set.Memory,
		maxBytes:  int64(c.MaxBytes),
		created:   pcommon.NewTimestampFromTime(now),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		nameCache: map[string][]int{},
		digest:    xxhash.New(),
		dropped:   func(string, int) {},

		deduplicated: func(int) {},
		dedupBypass:  func(int) {},
	}
	if c.DedupInterval > 0 {
		p.dedup = newDedupState(c.DedupInterval, now)
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	for i, cr := range rules {
		p.rules = append(p.rules, &ruleState{
			compiled: cr, idx: i,
			series: map[uint64]*series{}, groups: map[uint64]*group{},
			start: now, nextFlush: nextBoundary(now, cr.interval), nextDedup: nextDedup(now, cr),
		})
	}
	if tel := set.Telemetry; tel != nil {
		id := set.ID.String()
		vec := tel.ProcessorDropped
		p.dropped = func(reason string, n int) {
			if n > 0 {
				vec.WithLabelValues(id, string(pipeline.SignalMetrics), reason).Add(float64(n))
			}
		}
		p.stateBytes = tel.AggregateStateBytes.WithLabelValues(id)
		p.seriesG = tel.AggregateSeries.WithLabelValues(id)
		dedupCounter := tel.AggregateDeduplicated.WithLabelValues(id)
		p.deduplicated = func(n int) {
			if n > 0 {
				dedupCounter.Add(float64(n))
			}
		}
		bypassCounter := tel.AggregateDedupBypassed.WithLabelValues(id, ReasonDedupMaxBytes)
		p.dedupBypass = func(n int) {
			if n > 0 {
				bypassCounter.Add(float64(n))
			}
		}
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

func nextDedup(now time.Time, cr *compiled) time.Time {
	if cr.dedup <= 0 {
		return time.Time{}
	}
	return nextBoundary(now, cr.dedup)
}

// Capabilities reports that the processor mutates data: it removes the
// points it aggregates unless keep_input is set.
func (p *processor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start reserves max_bytes out of memory_limit and starts the flush clock.
func (p *processor) Start(context.Context, pipeline.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return nil
	}
	release, ok := p.memory.Reserve(p.maxBytes)
	if !ok {
		return fmt.Errorf("aggregate processor: %w: max_bytes %d does not fit in memory_limit beside the memory queues", memlimit.ErrLimit, p.maxBytes)
	}
	p.release = release
	p.started = true
	go p.run()
	return nil
}

// Shutdown stops the clock, flushes the intervals in progress (their
// points are stamped with the time of shutdown) and sends them, with any
// refused flush still kept, honouring ctx. What the next consumer still
// refuses is dropped and counted (reason flush_refused), and the error is
// returned.
func (p *processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()
	defer p.cancel()
	if started {
		close(p.stop)
		select {
		case <-p.done:
		case <-ctx.Done():
			p.cancel()
			<-p.done
		}
	}
	p.mu.Lock()
	now := time.Now()
	e := newEmitter(ScopeName)
	for _, r := range p.rules {
		p.flushRuleLocked(r, e, now)
	}
	if p.dedup != nil {
		p.flushDedupLocked(e)
	}
	if e.points > 0 {
		p.pending = append(p.pending, e.md)
	}
	p.reportLocked()
	p.mu.Unlock()
	err := p.sendPending(ctx, true)
	p.mu.Lock()
	if p.release != nil {
		p.release()
		p.release = nil
	}
	p.mu.Unlock()
	return err
}

// run flushes every rule at its interval boundaries until Shutdown.
func (p *processor) run() {
	defer close(p.done)
	for {
		p.mu.Lock()
		now := time.Now()
		var wake time.Time
		for _, r := range p.rules {
			// The wall clock went back (an edge node without a real-time
			// clock setting its time): wait for the next boundary of the
			// new time, not for the old one.
			if r.nextFlush.Sub(now) > r.interval {
				r.nextFlush = nextBoundary(now, r.interval)
			}
			if !r.nextDedup.IsZero() && r.nextDedup.Sub(now) > r.dedup {
				r.nextDedup = nextBoundary(now, r.dedup)
			}
			for _, t := range []time.Time{r.nextFlush, r.nextDedup} {
				if !t.IsZero() && (wake.IsZero() || t.Before(wake)) {
					wake = t
				}
			}
		}
		if d := p.dedup; d != nil {
			if d.next.Sub(now) > d.interval {
				d.next = nextBoundary(now, d.interval)
			}
			if wake.IsZero() || d.next.Before(wake) {
				wake = d.next
			}
		}
		p.mu.Unlock()
		timer := time.NewTimer(time.Until(wake))
		select {
		case <-p.stop:
			timer.Stop()
			return
		case <-timer.C:
		}
		p.tick(time.Now())
	}
}

// tick runs the dedup windows and flushes that are due at now, then sends
// what is pending.
func (p *processor) tick(now time.Time) {
	p.mu.Lock()
	e := newEmitter(ScopeName)
	for _, r := range p.rules {
		if !r.nextDedup.IsZero() && !now.Before(r.nextDedup) {
			p.dedupLocked(r, now)
			r.nextDedup = nextBoundary(now, r.dedup)
		}
		if !now.Before(r.nextFlush) {
			p.flushRuleLocked(r, e, r.nextFlush)
			r.nextFlush = nextBoundary(now, r.interval)
		}
	}
	if d := p.dedup; d != nil && !now.Before(d.next) {
		p.flushDedupLocked(e)
		d.next = nextBoundary(now, d.interval)
	}
	if e.points > 0 {
		p.pending = append(p.pending, e.md)
	}
	if n := len(p.pending) - maxPendingFlushes; n > 0 {
		for _, md := range p.pending[:n] {
			p.dropped(ReasonFlushRefused, md.DataPointCount())
		}
		p.pending = append(p.pending[:0], p.pending[n:]...)
	}
	p.reportLocked()
	p.mu.Unlock()
	_ = p.sendPending(p.ctx, false)
}

// sendPending hands the pending flushes to the next consumer, oldest
// first. A permanent refusal drops the flush (counted); a retryable one
// keeps it and the ones after it for the next tick, unless final, when
// everything left is dropped and counted.
func (p *processor) sendPending(ctx context.Context, final bool) error {
	var firstErr error
	for {
		p.mu.Lock()
		if len(p.pending) == 0 {
			p.mu.Unlock()
			return firstErr
		}
		md := p.pending[0]
		p.mu.Unlock()
		err := p.next.ConsumeMetrics(ctx, md)
		p.mu.Lock()
		if err == nil || consumererror.IsPermanent(err) || final {
			p.pending = p.pending[1:]
		}
		p.mu.Unlock()
		if err == nil {
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		if consumererror.IsPermanent(err) || final {
			p.dropped(ReasonFlushRefused, md.DataPointCount())
			p.warn("aggregated points refused by the next consumer; dropped", "points", md.DataPointCount(), "error", err)
			continue
		}
		p.warn("aggregated points refused by the next consumer; retried at the next flush", "points", md.DataPointCount(), "error", err)
		return err
	}
}

// warn logs at most once a minute.
func (p *processor) warn(msg string, args ...any) {
	p.mu.Lock()
	now := time.Now()
	ok := now.Sub(p.lastWarn) >= time.Minute
	if ok {
		p.lastWarn = now
	}
	p.mu.Unlock()
	if ok {
		p.logger.Warn(msg, args...)
	}
}

func (p *processor) reportLocked() {
	if p.stateBytes != nil {
		p.stateBytes.Set(float64(p.bytes))
		p.seriesG.Set(float64(p.nseries))
	}
}

// ConsumeMetrics feeds the matching points into the rules, removes them
// unless every rule that took them keeps its input, holds what dedup_interval
// deduplicates for its window, and passes the rest on at once. It never
// waits for a flush.
func (p *processor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if md.IsReadOnly() {
		c := pmetric.NewMetrics()
		md.CopyTo(c)
		md = c
	}
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errShutdown
	}
	shed := map[string]int{}
	var dc dedupCursor
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		res := rm.Resource().Attributes()
		p.resBuf = sortedPairs(res, p.resBuf)
		p.digest.Reset()
		hashPairs(p.digest, p.resBuf)
		resHash := p.digest.Sum64()
		in := input{res: res, resPairs: p.resBuf, resHash: resHash, now: now}
		if p.dedup != nil {
			p.dedupSetResource(&dc, rm, resHash)
		}
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			in.scope = sm.Scope().Name()
			if p.dedup != nil {
				p.dedupSetScope(&dc, sm)
			}
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if rules := p.rulesFor(m.Name()); len(rules) > 0 {
					in.metric = m
					if p.consumeMetricLocked(&in, rules, shed) {
						return true
					}
				}
				// What goes on unaggregated: dedup_interval.
				return p.dedup != nil && p.dedupMetricLocked(&dc, m)
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	p.reportLocked()
	p.mu.Unlock()
	for reason, n := range shed {
		p.dropped(reason, n)
	}
	p.deduplicated(dc.deduplicated)
	p.dedupBypass(dc.bypassed)
	if md.ResourceMetrics().Len() == 0 {
		return nil
	}
	return p.next.ConsumeMetrics(ctx, md)
}

// input is the context of the metric being consumed.
type input struct {
	res      pcommon.Map
	resPairs []kv
	resHash  uint64
	scope    string
	metric   pmetric.Metric
	now      time.Time
}

func (p *processor) rulesFor(name string) []int {
	if idx, ok := p.nameCache[name]; ok {
		return idx
	}
	var idx []int
	for i, r := range p.rules {
		if r.name.MatchString(name) {
			idx = append(idx, i)
		}
	}
	if len(p.nameCache) >= 4096 {
		clear(p.nameCache)
	}
	p.nameCache[name] = idx
	return idx
}

// consumeMetricLocked aggregates the points of in.metric into the rules
// and reports whether the metric is left empty.
func (p *processor) consumeMetricLocked(in *input, rules []int, shed map[string]int) bool {
	m := in.metric
	take := func(attrs pcommon.Map, s func() sample) bool {
		remove := false
		var smp sample
		have := false
		for _, i := range rules {
			r := p.rules[i]
			if !r.matchAttrs(attrs, in.res) {
				continue
			}
			if !have {
				smp, have = s(), true
			}
			if reason := p.addLocked(r, in, attrs, smp); reason != "" {
				shed[reason]++
			}
			if !r.keepInput {
				remove = true
			}
		}
		return remove
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		dps.RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			return take(dp.Attributes(), func() sample { return numberSample(dp, false) })
		})
		return dps.Len() == 0
	case pmetric.MetricTypeSum:
		delta := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityDelta
		dps := m.Sum().DataPoints()
		dps.RemoveIf(func(dp pmetric.NumberDataPoint) bool {
			return take(dp.Attributes(), func() sample { return numberSample(dp, delta) })
		})
		return dps.Len() == 0
	case pmetric.MetricTypeHistogram:
		delta := m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
		dps := m.Histogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.HistogramDataPoint) bool {
			return take(dp.Attributes(), func() sample {
				s := sample{ts: dp.Timestamp(), start: dp.StartTimestamp(), delta: delta, hist: histFromPoint(dp)}
				s.skip = dp.Flags().NoRecordedValue()
				s.invalid = !s.skip && !s.hist.valid()
				return s
			})
		})
		return dps.Len() == 0
	case pmetric.MetricTypeExponentialHistogram:
		delta := m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityDelta
		dps := m.ExponentialHistogram().DataPoints()
		dps.RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool {
			return take(dp.Attributes(), func() sample {
				s := sample{ts: dp.Timestamp(), start: dp.StartTimestamp(), delta: delta, exp: expFromPoint(dp)}
				s.skip = dp.Flags().NoRecordedValue()
				s.invalid = !s.skip && (dp.Scale() < minExpScale || dp.Scale() > maxExpScale)
				return s
			})
		})
		return dps.Len() == 0
	}
	// Summaries and empty metrics pass through.
	return false
}

func numberSample(dp pmetric.NumberDataPoint, delta bool) sample {
	s := sample{ts: dp.Timestamp(), start: dp.StartTimestamp(), delta: delta}
	switch {
	case dp.Flags().NoRecordedValue():
		s.skip = true
	case dp.ValueType() == pmetric.NumberDataPointValueTypeInt:
		s.v = float64(dp.IntValue())
	default:
		s.v = dp.DoubleValue()
		s.skip = math.IsNaN(s.v)
	}
	return s
}

func (r *ruleState) matchAttrs(attrs, res pcommon.Map) bool {
	for _, a := range r.attrs {
		v, ok := attrs.Get(a.key)
		if !ok {
			v, ok = res.Get(a.key)
		}
		if !ok {
			return false
		}
		s := v.AsString()
		if a.re != nil && !a.re.MatchString(s) || a.re == nil && s != a.value {
			return false
		}
	}
	return true
}

// addLocked adds one sample to rule r and returns a drop reason, or "".
func (p *processor) addLocked(r *ruleState, in *input, attrs pcommon.Map, smp sample) string {
	switch {
	case smp.invalid:
		return ReasonInvalidHistogram
	case smp.skip:
		return "" // a stale marker or NaN: not a sample
	}
	p.ptBuf = sortedPairs(attrs, p.ptBuf)
	d := p.digest
	d.Reset()
	var b [17]byte
	b[0] = byte(r.idx)
	b[1] = byte(r.idx >> 8)
	for i := range 8 {
		b[2+i] = byte(in.resHash >> (8 * i))
	}
	_, _ = d.Write(b[:10])
	_, _ = d.WriteString(in.scope)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(in.metric.Name())
	_, _ = d.Write([]byte{0})
	hashPairs(d, p.ptBuf)
	key := d.Sum64()
	s := r.series[key]
	if s == nil {
		var reason string
		s, reason = p.newSeriesLocked(r, in, key)
		if s == nil {
			return reason
		}
	}
	s.lastSeen = in.now
	if r.dedup > 0 {
		if !s.hasPend || smp.ts > s.pend.ts || (smp.ts == s.pend.ts && smp.v > s.pend.v) {
			s.pend, s.hasPend = smp, true
		}
		return ""
	}
	return p.applyLocked(r, s, smp)
}

// newSeriesLocked creates the state of a new input series and, when it is
// the first of its group, the group; nil and a reason when that would
// pass max_bytes.
func (p *processor) newSeriesLocked(r *ruleState, in *input, key uint64) (*series, string) {
	resKept := r.keep(in.resPairs, true)
	ptKept := r.keep(p.ptBuf, false)
	d := xxhash.New()
	hashPairs(d, resKept)
	resKey := d.Sum64()
	_, _ = d.WriteString(in.metric.Name())
	_, _ = d.Write([]byte{0})
	hashPairs(d, ptKept)
	gkey := d.Sum64()
	g := r.groups[gkey]
	need := seriesOverhead
	if g == nil {
		need += groupOverhead + kvBytes(resKept) + kvBytes(ptKept) + int64(len(in.metric.Name())+len(in.metric.Unit()))
	}
	if p.bytes+need > p.maxBytes {
		return nil, ReasonStateFull
	}
	if g == nil {
		g = &group{
			key: gkey, resKey: resKey, name: in.metric.Name(), unit: in.metric.Unit(),
			res: resKept, attrs: ptKept, created: pcommon.NewTimestampFromTime(in.now),
			bytes: need - seriesOverhead,
		}
		r.groups[gkey] = g
	}
	s := &series{group: g, bytes: seriesOverhead}
	g.nseries++
	r.series[key] = s
	p.bytes += need
	p.nseries++
	return s, ""
}

// applyLocked adds a (deduplicated) sample of series s to its group.
func (p *processor) applyLocked(r *ruleState, s *series, smp sample) string {
	g := s.group
	switch {
	case smp.hist != nil:
		if !r.has[outHistogram] {
			return ""
		}
		inc, ok := p.histIncreaseLocked(s, smp)
		if !ok {
			return ReasonOutOfOrder
		}
		if g.hist == nil {
			// The output starts from zero at the first flush, even when
			// the first point is only a base.
			g.hist = &histSnap{bounds: smp.hist.bounds, counts: make([]uint64, len(smp.hist.counts))}
			p.charge(g, g.hist.bytes())
		}
		if inc == nil {
			return ""
		}
		if len(g.hist.counts) != len(inc.counts) || !equalBounds(g.hist.bounds, inc.bounds) {
			return ReasonBoundsMismatch
		}
		g.hist.add(inc)
		return ""
	case smp.exp != nil:
		if !r.has[outHistogram] {
			return ""
		}
		inc, ok := p.expIncreaseLocked(s, smp)
		if !ok {
			return ReasonOutOfOrder
		}
		before := int64(0)
		if g.exp == nil {
			g.exp = &expHist{scale: smp.exp.scale, zeroThreshold: smp.exp.zeroThreshold}
		} else {
			before = g.exp.bytes()
		}
		if inc != nil && !g.exp.merge(inc) {
			return ReasonInvalidHistogram
		}
		p.charge(g, g.exp.bytes()-before)
		return ""
	}
	v := smp.v
	if g.samples == 0 {
		g.min, g.max = v, v
	}
	g.samples++
	g.sum += v
	g.min = math.Min(g.min, v)
	g.max = math.Max(g.max, v)
	if g.samples == 1 || smp.ts >= g.lastTs {
		g.last, g.lastTs = v, smp.ts
	}
	if s.countedIn != r.intervalN+1 {
		s.countedIn = r.intervalN + 1
		g.countSeries++
	}
	var reason string
	if r.has[outQuantiles] {
		if p.bytes+8 > p.maxBytes {
			reason = ReasonStateFull
		} else {
			g.quant = append(g.quant, v)
			p.charge(g, 8)
		}
	}
	if r.has[outTotal] || r.has[outIncrease] {
		g.counter = true
		inc, ok := p.counterIncreaseLocked(s, smp)
		if !ok {
			return ReasonOutOfOrder
		}
		g.total += inc
		g.increase += inc
	}
	return reason
}

func equalBounds(a, b []float64) bool {
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

func (p *processor) charge(g *group, n int64) {
	g.bytes += n
	p.bytes += n
}

// firstCounted reports whether the first sample of a series is an
// increase as a whole: its series started (start time) at or after the
// processor was created, so nothing of it was missed. Otherwise the first
// sample is only the base the next ones are measured from.
func (p *processor) firstCounted(smp sample) bool {
	return smp.start != 0 && smp.start >= p.created && smp.start <= smp.ts
}

// isReset reports a counter reset between the previous sample and smp: a
// new start time, or the value going down.
func isReset(s *series, smp sample, down bool) bool {
	return down || (smp.start != 0 && s.prevStart != 0 && smp.start != s.prevStart)
}

// counterIncreaseLocked returns the increase that smp brings to its
// series; ok is false for an out-of-order sample.
func (p *processor) counterIncreaseLocked(s *series, smp sample) (float64, bool) {
	if smp.delta {
		return smp.v, true
	}
	if !s.hasPrev {
		s.hasPrev, s.prevV, s.prevTs, s.prevStart = true, smp.v, smp.ts, smp.start
		if p.firstCounted(smp) {
			return smp.v, true
		}
		return 0, true
	}
	if smp.ts < s.prevTs {
		return 0, false
	}
	inc := smp.v - s.prevV
	if isReset(s, smp, smp.v < s.prevV) {
		inc = smp.v
	}
	s.prevV, s.prevTs, s.prevStart = smp.v, smp.ts, smp.start
	return inc, true
}

// histIncreaseLocked returns what an explicit-bucket histogram point adds
// (nil when it adds nothing); ok is false for an out-of-order point.
func (p *processor) histIncreaseLocked(s *series, smp sample) (*histSnap, bool) {
	if smp.delta {
		return smp.hist, true
	}
	prev := s.prevHist
	if prev == nil {
		s.setPrevHist(p, smp)
		if p.firstCounted(smp) {
			return smp.hist, true
		}
		return nil, true
	}
	if smp.ts < s.prevTs {
		return nil, false
	}
	inc, ok := smp.hist.increaseFrom(prev, &p.histScratch)
	if !ok || isReset(s, smp, false) {
		inc = smp.hist
	}
	s.setPrevHist(p, smp)
	return inc, true
}

func (s *series) setPrevHist(p *processor, smp sample) {
	n := smp.hist.bytes()
	if s.prevHist != nil {
		n -= s.prevHist.bytes()
	}
	s.bytes += n
	p.bytes += n
	s.prevHist, s.prevTs, s.prevStart = smp.hist, smp.ts, smp.start
}

// expIncreaseLocked is histIncreaseLocked for exponential histograms.
func (p *processor) expIncreaseLocked(s *series, smp sample) (*expHist, bool) {
	if smp.delta {
		return smp.exp, true
	}
	prev := s.prevExp
	if prev == nil {
		s.setPrevExp(p, smp)
		if p.firstCounted(smp) {
			return smp.exp, true
		}
		return nil, true
	}
	if smp.ts < s.prevTs {
		return nil, false
	}
	inc, ok := smp.exp.increaseFrom(prev)
	if !ok || isReset(s, smp, false) {
		inc = smp.exp
	}
	s.setPrevExp(p, smp)
	return inc, true
}

func (s *series) setPrevExp(p *processor, smp sample) {
	n := smp.exp.bytes()
	if s.prevExp != nil {
		n -= s.prevExp.bytes()
	}
	s.bytes += n
	p.bytes += n
	s.prevExp, s.prevTs, s.prevStart = smp.exp, smp.ts, smp.start
}

// dedupLocked applies the sample each series kept in the dedup window
// that ends now.
func (p *processor) dedupLocked(r *ruleState, _ time.Time) {
	for _, s := range r.series {
		if s.hasPend {
			s.hasPend = false
			if reason := p.applyLocked(r, s, s.pend); reason != "" {
				p.dropped(reason, 1)
			}
			s.pend = sample{}
		}
	}
}

// flushRuleLocked emits r's outputs for the interval ending at end,
// forgets stale series and empty groups, and starts the next interval.
func (p *processor) flushRuleLocked(r *ruleState, e *emitter, end time.Time) {
	if r.dedup > 0 {
		p.dedupLocked(r, end)
	}
	for k, s := range r.series {
		if end.Sub(s.lastSeen) >= r.staleness {
			delete(r.series, k)
			s.group.nseries--
			p.bytes -= s.bytes
			p.nseries--
		}
	}
	start, ts := pcommon.NewTimestampFromTime(r.start), pcommon.NewTimestampFromTime(end)
	for k, g := range r.groups {
		if g.nseries > 0 || g.samples > 0 {
			r.emitGroup(e, g, start, ts)
		}
		p.bytes -= int64(len(g.quant)) * 8
		g.bytes -= int64(len(g.quant)) * 8
		g.resetInterval()
		if g.nseries == 0 {
			delete(r.groups, k)
			p.bytes -= g.bytes
		}
	}
	r.start = end
	r.intervalN++
}
