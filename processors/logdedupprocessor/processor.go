package logdedupprocessor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Attributes an emitted record carries besides log_count_attribute.
const (
	AttrFirstObserved = "first_observed_timestamp"
	AttrLastObserved  = "last_observed_timestamp"
)

// entryOverhead is the bytes an entry is charged beyond twice its key: the
// entry, its map slot and the record's fixed part.
const entryOverhead = 256

// Drop and bypass reasons (label values).
const (
	reasonMaxBytes    = "max_bytes"
	reasonMemoryLimit = "memory_limit"
	reasonRefused     = "refused"
	reasonShutdown    = "shutdown"
)

var (
	errShutdown = consumererror.NewRetryableError(errors.New("log_dedup processor is shut down"))
	errNilNext  = errors.New("log_dedup processor: nil next consumer")
)

// entry is one distinct record held, with how many identical ones arrived.
type entry struct {
	key         string
	record      plog.LogRecord // the first one, with excluded fields removed
	count       int64
	first, last time.Time // when the first and last were observed
	size        int64     // bytes charged
}

// group is the records held for one resource and scope.
type group struct {
	key            string
	resource       pcommon.Resource
	resourceSchema string
	scope          pcommon.InstrumentationScope
	scopeSchema    string
	index          map[string]*entry
	entries        []*entry // in order of first arrival
}

// state is everything held between two flushes.
type state struct {
	index  map[string]*group
	groups []*group
}

func newState() *state { return &state{index: map[string]*group{}} }

// groupFor returns the group for key, creating it from rl and sl.
func (s *state) groupFor(key []byte, rl plog.ResourceLogs, sl plog.ScopeLogs) *group {
	if g, ok := s.index[string(key)]; ok {
		return g
	}
	g := &group{
		key:            string(key),
		resource:       pcommon.NewResource(),
		resourceSchema: rl.SchemaUrl(),
		scope:          pcommon.NewInstrumentationScope(),
		scopeSchema:    sl.SchemaUrl(),
		index:          map[string]*entry{},
	}
	rl.Resource().CopyTo(g.resource)
	sl.Scope().CopyTo(g.scope)
	s.index[g.key] = g
	s.groups = append(s.groups, g)
	return g
}

// adopt adds g's entries to s (held earlier than s's own), merging those
// identical to one of s's; it returns the bytes freed by merging.
func (s *state) adopt(old *state) (freed int64) {
	fresh := s
	merged := newState()
	for _, src := range [2]*state{old, fresh} {
		for _, g := range src.groups {
			dst, ok := merged.index[g.key]
			if !ok {
				dst = &group{key: g.key, resource: g.resource, resourceSchema: g.resourceSchema,
					scope: g.scope, scopeSchema: g.scopeSchema, index: map[string]*entry{}}
				merged.index[g.key] = dst
				merged.groups = append(merged.groups, dst)
			}
			for _, e := range g.entries {
				if have, ok := dst.index[e.key]; ok {
					have.count += e.count
					have.first = minTime(have.first, e.first)
					have.last = maxTime(have.last, e.last)
					freed += e.size
					continue
				}
				dst.index[e.key] = e
				dst.entries = append(dst.entries, e)
			}
		}
	}
	*s = *merged
	return freed
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// telemetry is the processor's metric handles; all nil without telemetry.
type telemetry struct {
	merged         prometheus.Counter
	bypassMax      prometheus.Counter
	bypassMemory   prometheus.Counter
	dropRefused    prometheus.Counter
	dropShutdown   prometheus.Counter
	refusedFlushes prometheus.Counter
	stateBytes     prometheus.Gauge
}

func (t *telemetry) add(c prometheus.Counter, n int64) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// processor is the log_dedup processor.
type processor struct {
	next     consumer.Logs
	cfg      Config
	fields   []fieldPath
	location *time.Location
	logger   *slog.Logger
	tel      telemetry
	now      func() time.Time

	mu      sync.Mutex
	enc     keyEncoder
	cur     *state
	bytes   int64            // charged for cur and for a flush in flight
	charge  *memlimit.Charge // nil: no memory limit
	closed  bool
	started bool
	aborted bool // Shutdown's deadline passed: nothing is kept for later

	flushMu sync.Mutex // one flush at a time
	cancel  context.CancelFunc
	done    chan struct{} // closed when the flush loop has ended
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (*processor, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("log_dedup processor: unexpected config type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNilNext
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	p := &processor{
		next:     next,
		cfg:      *c,
		location: loc,
		logger:   set.Logger,
		now:      time.Now,
		cur:      newState(),
	}
	for _, f := range c.ExcludeFields {
		fp, _ := parseField(f) // checked by Validate
		p.fields = append(p.fields, fp)
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if set.Memory != nil {
		ch, err := set.Memory.Admit(0)
		if err != nil {
			return nil, fmt.Errorf("log_dedup processor: memory charge: %w", err)
		}
		p.charge = ch
	}
	if tel := set.Telemetry; tel != nil {
		id, sig := set.ID.String(), string(pipeline.SignalLogs)
		p.tel = telemetry{
			merged:         tel.Reduce.DedupMerged.WithLabelValues(id),
			bypassMax:      tel.Reduce.DedupBypassed.WithLabelValues(id, reasonMaxBytes),
			bypassMemory:   tel.Reduce.DedupBypassed.WithLabelValues(id, reasonMemoryLimit),
			dropRefused:    tel.ProcessorDropped.WithLabelValues(id, sig, reasonRefused),
			dropShutdown:   tel.ProcessorDropped.WithLabelValues(id, sig, reasonShutdown),
			refusedFlushes: tel.Reduce.DedupRefusedFlushes.WithLabelValues(id),
			stateBytes:     tel.Reduce.DedupState.WithLabelValues(id),
		}
	}
	return p, nil
}

// Capabilities reports that the processor mutates data: it removes the
// excluded fields from the records it is given and keeps them.
func (p *processor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start launches the flush loop, which flushes every interval.
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

func (p *processor) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.flush(ctx, false)
		}
	}
}

// Shutdown stops the flush loop and flushes what is held, once, within
// ctx. What that flush cannot deliver is dropped and counted (reason
// shutdown). Later calls to ConsumeLogs get a retryable error.
func (p *processor) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			// A flush is still in flight past the deadline: what is
			// held is dropped and counted now, and what that flush
			// cannot deliver is dropped and counted when it returns.
			p.mu.Lock()
			p.aborted = true
			_, records, size := p.build(p.cur)
			p.cur = newState()
			p.releaseLocked(size)
			p.reportLocked()
			p.charge.Release()
			p.mu.Unlock()
			p.tel.add(p.tel.dropShutdown, records)
			if records > 0 {
				p.logger.Error("log_dedup: shutdown deadline passed during a flush; held records dropped", "records", records)
			}
			return ctx.Err()
		}
	}
	err := p.flush(ctx, true)
	p.mu.Lock()
	p.charge.Release()
	p.mu.Unlock()
	return err
}

// ConsumeLogs folds every record into an identical one held, or holds it.
// Records that do not fit in max_bytes or memory_limit are handed to the
// next consumer at once, and the caller gets that hand-off's error.
func (p *processor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	now := p.now()
	var pass plog.Logs
	passed := 0
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errShutdown
	}
	var merged, bypassMax, bypassMem int64
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			if sl.LogRecords().Len() == 0 {
				continue
			}
			p.enc.group(rl, sl)
			g := p.cur.groupFor(p.enc.Buf, rl, sl)
			var passScope plog.ScopeLogs
			havePassScope := false
			for _, lr := range sl.LogRecords().All() {
				exclude(lr, p.fields)
				p.enc.record(lr)
				if e, ok := g.index[string(p.enc.Buf)]; ok {
					e.count++
					e.last = now
					merged++
					continue
				}
				size := 2*int64(len(p.enc.Buf)) + entryOverhead
				reason := p.roomLocked(size)
				if reason != "" {
					if reason == reasonMaxBytes {
						bypassMax++
					} else {
						bypassMem++
					}
					if !havePassScope {
						if passed == 0 {
							pass = plog.NewLogs()
						}
						prl := pass.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(prl.Resource())
						prl.SetSchemaUrl(rl.SchemaUrl())
						passScope = prl.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(passScope.Scope())
						passScope.SetSchemaUrl(sl.SchemaUrl())
						havePassScope = true
					}
					lr.CopyTo(passScope.LogRecords().AppendEmpty())
					passed++
					continue
				}
				e := &entry{key: string(p.enc.Buf), record: plog.NewLogRecord(), count: 1, first: now, last: now, size: size}
				lr.MoveTo(e.record)
				g.index[e.key] = e
				g.entries = append(g.entries, e)
			}
		}
	}
	p.reportLocked()
	p.mu.Unlock()
	p.tel.add(p.tel.merged, merged)
	p.tel.add(p.tel.bypassMax, bypassMax)
	p.tel.add(p.tel.bypassMemory, bypassMem)
	if passed == 0 {
		return nil
	}
	return p.next.ConsumeLogs(ctx, pass)
}

// roomLocked charges size bytes for a new entry, or says why it cannot.
func (p *processor) roomLocked(size int64) string {
	if p.bytes+size > int64(p.cfg.MaxBytes) {
		return reasonMaxBytes
	}
	if p.charge != nil {
		if err := p.charge.Grow(size); err != nil {
			return reasonMemoryLimit
		}
	}
	p.bytes += size
	return ""
}

// releaseLocked gives back n bytes.
func (p *processor) releaseLocked(n int64) {
	p.bytes -= n
	if p.charge != nil {
		_ = p.charge.Resize(p.bytes) // shrinking never fails
	}
}

func (p *processor) reportLocked() {
	if p.tel.stateBytes != nil {
		p.tel.stateBytes.Set(float64(p.bytes))
	}
}

// flush sends everything held as one request. A retryable refusal puts the
// records back, merged with those that arrived since, for the next flush;
// a permanent one drops them (reason refused). With final set (Shutdown)
// any failure drops them (reason shutdown) and is returned.
func (p *processor) flush(ctx context.Context, final bool) error {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	out := p.cur
	p.cur = newState()
	p.mu.Unlock()
	if len(out.groups) == 0 {
		return nil
	}
	ld, records, size := p.build(out)
	err := p.next.ConsumeLogs(ctx, ld)

	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.reportLocked()
	switch {
	case err == nil:
		p.releaseLocked(size)
		return nil
	case final || p.aborted:
		p.releaseLocked(size)
		p.tel.add(p.tel.dropShutdown, records)
		p.logger.Error("log_dedup: final flush failed; held records dropped", "records", records, "error", err)
		return fmt.Errorf("log_dedup final flush: %w", err)
	case consumererror.IsPermanent(err):
		p.releaseLocked(size)
		p.tel.add(p.tel.dropRefused, records)
		p.logger.Error("log_dedup: flush refused for good; records dropped", "records", records, "error", err)
		return err
	default:
		freed := p.cur.adopt(out)
		p.releaseLocked(freed)
		p.tel.add(p.tel.refusedFlushes, 1)
		p.logger.Warn("log_dedup: flush refused; records kept for the next flush", "records", records, "error", err)
		return err
	}
}

// build makes the request for a flush: one record per entry, a copy of its
// first record with the count and observed times, stamped now. It returns
// the records received that the request stands for and the bytes charged
// for them.
func (p *processor) build(s *state) (plog.Logs, int64, int64) {
	ld := plog.NewLogs()
	now := pcommon.NewTimestampFromTime(p.now())
	var records, size int64
	for _, g := range s.groups {
		if len(g.entries) == 0 {
			continue
		}
		rl := ld.ResourceLogs().AppendEmpty()
		g.resource.CopyTo(rl.Resource())
		rl.SetSchemaUrl(g.resourceSchema)
		sl := rl.ScopeLogs().AppendEmpty()
		g.scope.CopyTo(sl.Scope())
		sl.SetSchemaUrl(g.scopeSchema)
		lrs := sl.LogRecords()
		lrs.EnsureCapacity(len(g.entries))
		for _, e := range g.entries {
			lr := lrs.AppendEmpty()
			e.record.CopyTo(lr)
			lr.SetTimestamp(now)
			lr.SetObservedTimestamp(now)
			a := lr.Attributes()
			a.PutInt(p.cfg.LogCountAttribute, e.count)
			a.PutStr(AttrFirstObserved, e.first.In(p.location).Format(time.RFC3339))
			a.PutStr(AttrLastObserved, e.last.In(p.location).Format(time.RFC3339))
			records += e.count
			size += e.size
		}
	}
	return ld, records, size
}
