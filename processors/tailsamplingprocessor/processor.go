package tailsamplingprocessor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// maxShards is the most shards the held traces are split into by trace
// ID, each with its own lock, bounds and decision cache.
const maxShards = 16

// Why a trace was decided (label values of trigger).
const (
	triggerWait        = "decision_wait"
	triggerNumTraces   = "num_traces"
	triggerMaxBytes    = "max_bytes"
	triggerMemoryLimit = "memory_limit"
	triggerShutdown    = "shutdown"
)

var triggers = []string{triggerWait, triggerNumTraces, triggerMaxBytes, triggerMemoryLimit, triggerShutdown}

// Drop reasons (label values).
const (
	reasonNotSampled     = "not_sampled"
	reasonLateNotSampled = "late_not_sampled"
	reasonRefused        = "refused"
	reasonShutdown       = "shutdown"
)

var (
	errShutdown = consumererror.NewRetryableError(errors.New("tail_sampling processor is shut down"))
	// errBackPressure refuses new spans while sampled spans the next
	// consumer refused wait to be sent again.
	errBackPressure = consumererror.NewRetryableError(errors.New("tail_sampling processor: the next consumer refuses sampled spans; retry later"))
	errNilNext      = errors.New("tail_sampling processor: nil next consumer")
)

// shard holds the traces whose ID hashes to it.
type shard struct {
	mu     sync.Mutex
	traces map[pcommon.TraceID]*trace
	queue  []*trace // in order of arrival; decided ones are skipped
	head   int
	bytes  int64            // estimated bytes held, charged
	spans  int64            // spans held
	charge *memlimit.Charge // nil: no memory limit
	cache  decisionCache
}

// oldest returns the oldest undecided trace, or nil.
func (s *shard) oldest() *trace {
	for s.head < len(s.queue) {
		if t := s.queue[s.head]; !t.decided {
			return t
		}
		s.queue[s.head] = nil
		s.head++
	}
	s.queue, s.head = s.queue[:0], 0
	return nil
}

// push queues t, first moving the queue down over the slots already
// decided when they are half of it, so that it stays within twice the
// traces held.
func (s *shard) push(t *trace) {
	if s.head > 0 && s.head >= len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	s.queue = append(s.queue, t)
}

// telemetry is the processor's metric handles; nil without telemetry.
type telemetry struct {
	received, sampled     prometheus.Counter
	lateSampled, lateNot  prometheus.Counter
	dropNot, dropLate     prometheus.Counter
	dropRefused, dropShut prometheus.Counter
	decided               map[string][2]prometheus.Counter // trigger → [not sampled, sampled]
	heldSpans, heldTraces prometheus.Gauge
	stateBytes            prometheus.Gauge
}

func add(c prometheus.Counter, n int64) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// tally counts what one call or tick did, added to the metrics at once.
type tally struct {
	decided          map[string]*[2]int64
	notSampled, late int64
	lateSampled      int64
}

func (t *tally) decision(trigger string, keep bool) {
	if t.decided == nil {
		t.decided = map[string]*[2]int64{}
	}
	c := t.decided[trigger]
	if c == nil {
		c = new([2]int64)
		t.decided[trigger] = c
	}
	if keep {
		c[1]++
	} else {
		c[0]++
	}
}

// output gathers sampled spans into one request, one ResourceSpans and
// ScopeSpans per group.
type output struct {
	td     ptrace.Traces
	scopes map[*group]ptrace.SpanSlice
	spans  int64
	bytes  int64 // estimated memory of the spans, as they were charged
}

func (o *output) add(g *group, s ptrace.Span) {
	if o.scopes == nil {
		o.td = ptrace.NewTraces()
		o.scopes = map[*group]ptrace.SpanSlice{}
	}
	dst, ok := o.scopes[g]
	if !ok {
		rs := o.td.ResourceSpans().AppendEmpty()
		g.resource.CopyTo(rs.Resource())
		rs.SetSchemaUrl(g.resourceSchema)
		ss := rs.ScopeSpans().AppendEmpty()
		g.scope.CopyTo(ss.Scope())
		ss.SetSchemaUrl(g.scopeSchema)
		dst = ss.Spans()
		o.scopes[g] = dst
	}
	s.MoveTo(dst.AppendEmpty())
	o.spans++
}

// refused is a request of sampled spans the next consumer refused with a
// retryable error, kept to be sent again.
type refused struct {
	td           ptrace.Traces
	spans, bytes int64
}

// processor is the tail_sampling processor.
type processor struct {
	next      consumer.Traces
	cfg       Config
	policies  []evaluator
	shards    []*shard
	maxTraces int   // per shard
	maxBytes  int64 // per shard
	tick      time.Duration
	logger    *slog.Logger
	tel       telemetry
	lastLog   atomic.Int64 // unix nanoseconds of the last refusal logged
	mutates   bool         // the next consumer mutates data: send it copies

	// Sampled spans refused by the next consumer, oldest first, charged
	// to memory_limit and bounded by max_bytes; while any wait, new spans
	// are refused (back-pressure).
	pendMu     sync.Mutex
	pending    []refused
	pendBytes  int64
	pendCharge *memlimit.Charge
	backlogged atomic.Bool

	// calls is held shared by each ConsumeTraces and taken by Shutdown,
	// so that no call still holds spans once Shutdown decides them all.
	calls   sync.RWMutex
	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (*processor, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("tail_sampling processor: unexpected config type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNilNext
	}
	n := min(maxShards, c.NumTraces)
	p := &processor{
		next:      next,
		cfg:       *c,
		maxTraces: (c.NumTraces + n - 1) / n,
		maxBytes:  max(int64(c.MaxBytes)/int64(n), 1),
		tick:      min(max(c.DecisionWait/10, 10*time.Millisecond), time.Second),
		logger:    set.Logger,
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	p.mutates = next.Capabilities().MutatesData
	if set.Memory != nil {
		ch, err := set.Memory.Admit(0)
		if err != nil {
			return nil, fmt.Errorf("tail_sampling processor: memory charge: %w", err)
		}
		p.pendCharge = ch
	}
	for i := range c.Policies {
		p.policies = append(p.policies, newEvaluator(&c.Policies[i]))
	}
	for range n {
		sh := &shard{
			traces: map[pcommon.TraceID]*trace{},
			cache:  newDecisionCache(perShard(c.DecisionCache.SampledCacheSize, n), perShard(c.DecisionCache.NonSampledCacheSize, n)),
		}
		if set.Memory != nil {
			ch, err := set.Memory.Admit(0)
			if err != nil {
				return nil, fmt.Errorf("tail_sampling processor: memory charge: %w", err)
			}
			sh.charge = ch
		}
		p.shards = append(p.shards, sh)
	}
	if tel := set.Telemetry; tel != nil {
		id, sig := set.ID.String(), string(pipeline.SignalTraces)
		ts := tel.TailSampling
		p.tel = telemetry{
			received:    ts.Received.WithLabelValues(id),
			sampled:     ts.Sampled.WithLabelValues(id),
			lateSampled: ts.LateSpans.WithLabelValues(id, "sampled"),
			lateNot:     ts.LateSpans.WithLabelValues(id, "not_sampled"),
			dropNot:     tel.ProcessorDropped.WithLabelValues(id, sig, reasonNotSampled),
			dropLate:    tel.ProcessorDropped.WithLabelValues(id, sig, reasonLateNotSampled),
			dropRefused: tel.ProcessorDropped.WithLabelValues(id, sig, reasonRefused),
			dropShut:    tel.ProcessorDropped.WithLabelValues(id, sig, reasonShutdown),
			decided:     map[string][2]prometheus.Counter{},
			heldSpans:   ts.HeldSpans.WithLabelValues(id),
			heldTraces:  ts.HeldTraces.WithLabelValues(id),
			stateBytes:  ts.StateBytes.WithLabelValues(id),
		}
		for _, tr := range triggers {
			p.tel.decided[tr] = [2]prometheus.Counter{
				ts.Decisions.WithLabelValues(id, "not_sampled", tr),
				ts.Decisions.WithLabelValues(id, "sampled", tr),
			}
		}
	}
	return p, nil
}

// perShard splits a cache size over n shards, rounding up.
func perShard(total, n int) int { return (total + n - 1) / n }

// Capabilities reports that the processor mutates data: it moves the
// spans it is given into the traces it holds.
func (p *processor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start launches the decision loop.
func (p *processor) Start(context.Context, pipeline.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return nil
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.loop(ctx)
	return nil
}

// loop decides, every tick, the traces whose decision_wait has passed.
func (p *processor) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.decideDue(ctx, time.Now())
		}
	}
}

// decideDue decides every trace that arrived decision_wait or more before
// now and passes the sampled ones on in one request.
func (p *processor) decideDue(ctx context.Context, now time.Time) {
	p.retryPending(ctx)
	var out output
	var st tally
	cutoff := now.Add(-p.cfg.DecisionWait)
	for _, sh := range p.shards {
		sh.mu.Lock()
		for t := sh.oldest(); t != nil && !t.arrived.After(cutoff); t = sh.oldest() {
			p.decideLocked(sh, t, triggerWait, &out, &st)
		}
		sh.mu.Unlock()
	}
	p.emit(ctx, &out, &st)
}

// Shutdown stops the decision loop, decides every held trace on what has
// arrived (trigger shutdown) and passes the sampled ones, and those
// refused before, on within ctx; what the next consumer still refuses is
// dropped (reason shutdown) and its error returned. Later calls to
// ConsumeTraces get a retryable error.
func (p *processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	// Calls in flight end first; later ones wait, then see closed.
	p.calls.Lock()
	defer p.calls.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			// A tick's hand-off is still in flight; its spans are
			// counted when it returns. What is held is decided now.
		}
	}
	var out output
	var st tally
	for _, sh := range p.shards {
		sh.mu.Lock()
		for t := sh.oldest(); t != nil; t = sh.oldest() {
			p.decideLocked(sh, t, triggerShutdown, &out, &st)
		}
		sh.mu.Unlock()
	}
	p.emit(ctx, &out, &st)
	// Everything sampled now waits in pending: one last try each, within
	// ctx; what is still refused is dropped (reason shutdown).
	err := p.retryPending(ctx)
	p.pendMu.Lock()
	var lost int64
	for _, r := range p.pending {
		lost += r.spans
	}
	p.pending, p.pendBytes = nil, 0
	p.backlogged.Store(false)
	p.pendCharge.Release()
	p.pendMu.Unlock()
	add(p.tel.dropShut, lost)
	for _, sh := range p.shards {
		sh.mu.Lock()
		sh.charge.Release()
		sh.mu.Unlock()
	}
	p.report()
	if lost > 0 {
		p.logger.Error("tail_sampling: sampled spans refused at shutdown; dropped", "spans", lost, "error", err)
		return fmt.Errorf("tail_sampling: final hand-off, %d sampled spans dropped: %w", lost, err)
	}
	return nil
}

// ConsumeTraces holds each span for its trace's decision, or, when the
// trace was decided already, passes it on (sampled) or drops it (not
// sampled) by the decision cache. Traces decided early to make room are
// passed on with this call; a refusal of those is kept for a retry, not
// returned. While refused spans wait, it refuses every request with a
// retryable error (back-pressure) and takes none of it.
func (p *processor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	p.calls.RLock()
	defer p.calls.RUnlock()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errShutdown
	}
	if p.backlogged.Load() {
		return errBackPressure
	}
	add(p.tel.received, int64(td.SpanCount()))
	now := time.Now()
	buckets := make([][]heldSpan, len(p.shards))
	ids := make([][]pcommon.TraceID, len(p.shards))
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			if ss.Spans().Len() == 0 {
				continue
			}
			g := newGroup(rs, ss)
			for _, s := range ss.Spans().All() {
				id := s.TraceID()
				i := p.shardOf(id)
				buckets[i] = append(buckets[i], heldSpan{g: g, span: s})
				ids[i] = append(ids[i], id)
			}
		}
	}
	var out output
	var st tally
	for i, b := range buckets {
		if len(b) == 0 {
			continue
		}
		sh := p.shards[i]
		sh.mu.Lock()
		for j, h := range b {
			p.holdLocked(sh, ids[i][j], h, now, &out, &st)
		}
		sh.mu.Unlock()
	}
	p.emit(ctx, &out, &st)
	return nil
}

// shardOf picks a trace's shard from bytes of its ID that the hash used
// by the probabilistic policy does not single out.
func (p *processor) shardOf(id pcommon.TraceID) int {
	return int(uint(id[15]^id[7]) % uint(len(p.shards)))
}

// holdLocked takes one span into its shard.
func (p *processor) holdLocked(sh *shard, id pcommon.TraceID, h heldSpan, now time.Time, out *output, st *tally) {
	if keep, ok := sh.cache.get(id); ok {
		if keep {
			m, _ := spanBytes(h.span)
			out.bytes += m
			out.add(h.g, h.span)
			st.lateSampled++
		} else {
			st.late++
		}
		return
	}
	t := sh.traces[id]
	var mem, wire int64
	if t == nil {
		for len(sh.traces) >= p.maxTraces {
			p.decideLocked(sh, sh.oldest(), triggerNumTraces, out, st)
		}
		t = &trace{id: id, arrived: now}
		t.spans = t.first[:0]
		sh.traces[id] = t
		sh.push(t)
		mem = traceOverhead
	}
	m, w := spanBytes(h.span)
	mem, wire = mem+m, wire+w
	if t.last != h.g {
		mem, wire = mem+h.g.bytes, wire+h.g.wire
		t.last = h.g
	}
	// The span stays where the request put it: the processor owns the
	// request (MutatesData), and the rest of the request is not
	// referenced, so only this span's own memory is held.
	t.spans = append(t.spans, h)
	t.wire += wire
	sh.spans++
	if trigger := p.roomLocked(sh, t, mem, out, st); trigger != "" {
		// Nothing else is left to decide: this trace is decided now,
		// on what has arrived, its last span uncharged.
		p.decideLocked(sh, t, trigger, out, st)
		return
	}
	t.bytes += mem
}

// roomLocked charges mem bytes for t, deciding the oldest other traces
// early until they fit in max_bytes and memory_limit. It returns the
// trigger when they do not fit even with t alone left.
func (p *processor) roomLocked(sh *shard, t *trace, mem int64, out *output, st *tally) string {
	for {
		trigger := triggerMaxBytes
		if sh.bytes+mem <= p.maxBytes {
			if sh.charge.Grow(mem) == nil {
				sh.bytes += mem
				return ""
			}
			trigger = triggerMemoryLimit
		}
		victim := sh.oldest()
		if victim == t {
			return trigger
		}
		p.decideLocked(sh, victim, trigger, out, st)
	}
}

// decideLocked evaluates the policies on t, removes it from the shard,
// caches the decision and either moves its spans to out or counts them
// dropped.
func (p *processor) decideLocked(sh *shard, t *trace, trigger string, out *output, st *tally) {
	var buf [16]decision
	ds := buf[:0]
	for _, e := range p.policies {
		ds = append(ds, e.evaluate(t))
	}
	keep := combine(ds)
	t.decided = true
	delete(sh.traces, t.id)
	sh.bytes -= t.bytes
	sh.spans -= t.spanCount()
	_ = sh.charge.Resize(sh.bytes) // shrinking never fails
	sh.cache.put(t.id, keep)
	st.decision(trigger, keep)
	if keep {
		for _, h := range t.spans {
			out.add(h.g, h.span)
		}
		out.bytes += t.bytes
	} else {
		st.notSampled += t.spanCount()
	}
	// The decided trace may stay in its shard's queue a while: it must
	// not keep its spans' requests alive.
	clear(t.first[:])
	t.spans = nil
}

// emit adds the tally to the metrics and passes the sampled spans on. A
// retryable refusal keeps them for retryPending; a permanent one drops
// them (reason refused).
func (p *processor) emit(ctx context.Context, out *output, st *tally) {
	for tr, c := range st.decided {
		h := p.tel.decided[tr]
		add(h[0], c[0])
		add(h[1], c[1])
	}
	add(p.tel.dropNot, st.notSampled)
	add(p.tel.dropLate, st.late)
	add(p.tel.lateNot, st.late)
	add(p.tel.lateSampled, st.lateSampled)
	if out.spans > 0 {
		p.pendMu.Lock()
		waiting := len(p.pending) > 0
		p.pendMu.Unlock()
		r := refused{td: out.td, spans: out.spans, bytes: out.bytes}
		if waiting {
			// Keep the order: older refused spans go first.
			p.keep(r)
		} else if err := p.send(ctx, r); err != nil {
			p.onRefused(err, r)
		}
	}
	p.report()
}

// send hands r on (a copy, when the next consumer mutates data, so that
// a refused r can be sent again) and counts it sampled when accepted.
func (p *processor) send(ctx context.Context, r refused) error {
	td := r.td
	if p.mutates {
		td = ptrace.NewTraces()
		r.td.CopyTo(td)
	}
	if err := p.next.ConsumeTraces(ctx, td); err != nil {
		return err
	}
	add(p.tel.sampled, r.spans)
	return nil
}

// onRefused handles a refused hand-off of r.
func (p *processor) onRefused(err error, r refused) {
	p.logRefusal(err, r.spans)
	if consumererror.IsPermanent(err) {
		add(p.tel.dropRefused, r.spans)
		return
	}
	p.keep(r)
}

// keep queues r for retryPending, charging its bytes to memory_limit;
// beyond max_bytes of refused spans, or without room in memory_limit, the
// oldest are dropped (reason refused).
func (p *processor) keep(r refused) {
	p.pendMu.Lock()
	defer p.pendMu.Unlock()
	if err := p.pendCharge.Grow(r.bytes); err != nil {
		add(p.tel.dropRefused, r.spans)
		return
	}
	p.pending = append(p.pending, r)
	p.pendBytes += r.bytes
	for len(p.pending) > 1 && p.pendBytes > int64(p.cfg.MaxBytes) {
		old := p.pending[0]
		p.pending[0] = refused{}
		p.pending = p.pending[1:]
		p.pendBytes -= old.bytes
		add(p.tel.dropRefused, old.spans)
	}
	_ = p.pendCharge.Resize(p.pendBytes) // shrinking never fails
	p.backlogged.Store(true)
}

// retryPending sends the refused requests again, oldest first, until one
// is refused again; a permanent refusal drops it (reason refused). It
// returns the last refusal.
func (p *processor) retryPending(ctx context.Context) error {
	p.pendMu.Lock()
	defer p.pendMu.Unlock()
	for len(p.pending) > 0 {
		r := p.pending[0]
		err := p.send(ctx, r)
		if err != nil && !consumererror.IsPermanent(err) {
			p.logRefusal(err, r.spans)
			return err
		}
		if err != nil {
			p.logRefusal(err, r.spans)
			add(p.tel.dropRefused, r.spans)
		}
		p.pending[0] = refused{}
		p.pending = p.pending[1:]
		p.pendBytes -= r.bytes
		_ = p.pendCharge.Resize(p.pendBytes)
	}
	p.pending = nil
	p.backlogged.Store(false)
	return nil
}

// report sets the gauges.
func (p *processor) report() {
	if p.tel.heldSpans == nil {
		return
	}
	var spans, traces, bytes int64
	for _, sh := range p.shards {
		sh.mu.Lock()
		spans += sh.spans
		traces += int64(len(sh.traces))
		bytes += sh.bytes
		sh.mu.Unlock()
	}
	p.pendMu.Lock()
	for _, r := range p.pending {
		spans += r.spans
	}
	bytes += p.pendBytes
	p.pendMu.Unlock()
	p.tel.heldSpans.Set(float64(spans))
	p.tel.heldTraces.Set(float64(traces))
	p.tel.stateBytes.Set(float64(bytes))
}

// logRefusal logs a refused hand-off of sampled spans, at most once per
// 10 seconds.
func (p *processor) logRefusal(err error, spans int64) {
	now := time.Now().UnixNano()
	last := p.lastLog.Load()
	if now-last < int64(10*time.Second) || !p.lastLog.CompareAndSwap(last, now) {
		return
	}
	p.logger.Error("tail_sampling: next consumer refused sampled spans; dropped", "spans", spans, "error", err)
}
