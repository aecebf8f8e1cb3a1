package batchprocessor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
)

var (
	// errShutdown answers requests that arrive after Shutdown began. It is
	// retryable: the client keeps the data and sends it again later, to
	// this outpost after its restart or reload.
	errShutdown = consumererror.NewRetryableError(errors.New("batch processor is shut down"))
	// errAborted answers callers whose items were still pending or in flight
	// when the Shutdown deadline passed.
	errAborted = consumererror.NewRetryableError(errors.New("batch processor shut down before the batch was delivered"))

	errNilNext = errors.New("batch processor: nil next consumer")
)

// trigger is what caused a flush; its name is the metric's trigger label.
type trigger int

const (
	triggerSize trigger = iota
	triggerTimeout
	triggerIdle
	triggerShutdown
	numTriggers
)

var triggerNames = [numTriggers]string{"size", "timeout", "idle", "shutdown"}

// batch is one batch in the making, then in flight. Every caller whose
// items it carries waits on done and then reads err.
type batch[T any] struct {
	data  T
	items int
	start time.Time     // when the first item arrived
	taken chan struct{} // closed when a worker takes the batch (or on abort)
	done  chan struct{} // closed once err holds the outcome

	err      error
	finished bool // guarded by batcher.mu
}

// batcher is the signal-independent core of the processor: one per
// processor instance. Callers add items to the pending batch under mu and
// then wait, without the lock, for the batches that carry their items.
// MaxInFlight worker goroutines take pending batches and hand them to the
// next consumer; a worker waits on work while there is nothing to take.
type batcher[T any] struct {
	ops    signalOps[T]
	next   func(context.Context, T) error
	cfg    Config
	logger *slog.Logger

	sizeHist prometheus.Observer             // nil without telemetry
	flushes  [numTriggers]prometheus.Counter // nil without telemetry

	// ctx is handed to the next consumer. A batch carries items of many
	// callers, so no caller's context fits it; it is cancelled when
	// Shutdown ends, which aborts a send still running after the deadline.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	work     sync.Cond   // workers wait here for something to take; L is &mu
	cur      *batch[T]   // the pending batch; nil when there is none
	inFlight []*batch[T] // batches being sent, at most MaxInFlight
	active   int         // callers still adding items
	timer    *time.Timer // wakes a worker when cur's timeout expires
	started  bool
	closed   bool // Shutdown began: no new callers; flush everything
	aborted  bool // Shutdown's deadline passed: waiters were failed
	workers  int  // running worker goroutines
	stopped  chan struct{}
}

func newBatcher[T any](set pipeline.Settings, cfg pipeline.Config, ops signalOps[T], next func(context.Context, T) error) (*batcher[T], error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("batch processor: unexpected config type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNilNext
	}
	b := &batcher[T]{
		ops:     ops,
		next:    next,
		cfg:     *c,
		logger:  set.Logger,
		stopped: make(chan struct{}),
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	b.work.L = &b.mu
	b.ctx, b.cancel = context.WithCancel(context.Background())
	if tel := set.Telemetry; tel != nil {
		id, sig := set.ID.String(), string(ops.signal)
		b.sizeHist = tel.ProcessorBatchSize.WithLabelValues(id, sig)
		for t := range numTriggers {
			b.flushes[t] = tel.ProcessorBatchFlush.WithLabelValues(id, sig, triggerNames[t])
		}
	}
	return b, nil
}

// Capabilities reports that the processor mutates data: it moves the
// resources of every request into its batches.
func (b *batcher[T]) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start launches the flush workers.
func (b *batcher[T]) Start(context.Context, pipeline.Host) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return nil
	}
	b.started = true
	b.workers = b.cfg.MaxInFlight
	for range b.cfg.MaxInFlight {
		go b.worker()
	}
	return nil
}

// Shutdown refuses new requests, flushes everything pending and waits for
// the flushes to finish. If ctx ends first, every caller still waiting gets
// a retryable error, sends still running are cancelled, and Shutdown
// returns ctx.Err() without waiting for them to return.
func (b *batcher[T]) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		if !b.started {
			// No worker will ever flush what was consumed before Start.
			b.abortLocked()
			close(b.stopped)
		}
		b.work.Broadcast()
	}
	b.mu.Unlock()

	select {
	case <-b.stopped:
	default:
		select {
		case <-b.stopped:
		case <-ctx.Done():
			b.mu.Lock()
			if !b.aborted {
				b.logger.Warn("shutdown deadline passed before every batch was delivered; failing their callers",
					"pending_items", b.pendingItemsLocked(), "in_flight", len(b.inFlight))
			}
			b.abortLocked()
			b.mu.Unlock()
			b.cancel()
			return ctx.Err()
		}
	}
	b.mu.Lock()
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	b.cancel()
	return nil
}

// consume adds data to the pending batch, splitting it at
// SendBatchMaxSize, and waits for the flushes that carry it.
func (b *batcher[T]) consume(ctx context.Context, data T) error {
	n := b.ops.count(data)
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.ops.readOnly(data) {
		// Shared with other consumers: moving out of it would change what
		// they read.
		data = b.ops.clone(data)
	}

	var buf [2]*batch[T]
	tickets := buf[:0]
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errShutdown
	}
	b.active++
	for n > 0 {
		if b.aborted {
			b.leaveLocked()
			b.mu.Unlock()
			return errAborted
		}
		bt := b.cur
		if bt != nil && bt.items >= b.cfg.SendBatchSize {
			// The pending batch is full and waits for a free flush slot:
			// back-pressure. The caller's items added so far stay in their
			// batches and are sent even if it gives up here.
			b.mu.Unlock()
			select {
			case <-bt.taken:
			case <-ctx.Done():
				b.mu.Lock()
				b.leaveLocked()
				b.mu.Unlock()
				return ctx.Err()
			}
			b.mu.Lock()
			continue
		}
		if bt == nil {
			bt = b.newBatchLocked()
		}
		room := n
		if maxSize := b.cfg.SendBatchMaxSize; maxSize > 0 {
			room = min(n, maxSize-bt.items)
		}
		switch {
		case room == n && bt.items == 0:
			bt.data = data // the whole request starts the batch: no move needed
		case room == n:
			b.ops.moveAll(data, bt.data)
		default:
			if bt.items == 0 {
				bt.data = b.ops.empty()
			}
			b.ops.moveItems(data, bt.data, room)
		}
		bt.items += room
		n -= room
		tickets = append(tickets, bt)
		if _, ok := b.triggerLocked(bt); ok {
			b.work.Signal()
		}
	}
	b.leaveLocked()
	b.mu.Unlock()
	return waitAll(ctx, tickets)
}

// waitAll waits for the outcome of every batch in tickets and returns the
// first error, or ctx.Err() if ctx ends first.
func waitAll[T any](ctx context.Context, tickets []*batch[T]) error {
	var first error
	for _, bt := range tickets {
		select {
		case <-bt.done:
		default:
			select {
			case <-bt.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if first == nil {
			first = bt.err
		}
	}
	return first
}

func (b *batcher[T]) newBatchLocked() *batch[T] {
	bt := &batch[T]{
		start: time.Now(),
		taken: make(chan struct{}),
		done:  make(chan struct{}),
	}
	b.cur = bt
	if d := b.cfg.Timeout; d > 0 {
		// The timer is created on first use so that it belongs to whoever
		// drives the processor (a synctest bubble in tests).
		if b.timer == nil {
			b.timer = time.AfterFunc(d, b.onTimeout)
		} else {
			b.timer.Reset(d)
		}
	}
	return bt
}

func (b *batcher[T]) onTimeout() {
	b.mu.Lock()
	b.work.Signal()
	b.mu.Unlock()
}

// leaveLocked records that a caller has added all it will add; once
// Shutdown began and none is left, workers may exit.
func (b *batcher[T]) leaveLocked() {
	b.active--
	if b.closed && b.active == 0 {
		b.work.Broadcast()
	}
}

// worker takes pending batches and sends them, until Shutdown has drained
// everything or given up.
func (b *batcher[T]) worker() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.aborted || (b.closed && b.active == 0 && b.cur == nil) {
			b.workers--
			if b.workers == 0 {
				close(b.stopped)
			}
			return
		}
		bt, t, ok := b.takeLocked()
		if !ok {
			b.work.Wait()
			continue
		}
		b.inFlight = append(b.inFlight, bt)
		data, items := bt.data, bt.items
		b.mu.Unlock()

		if b.sizeHist != nil {
			b.sizeHist.Observe(float64(items))
			b.flushes[t].Inc()
		}
		err := b.next(b.ctx, data)

		b.mu.Lock()
		b.inFlight = slices.DeleteFunc(b.inFlight, func(x *batch[T]) bool { return x == bt })
		b.finishLocked(bt, err)
	}
}

// takeLocked hands the pending batch to the calling (free) worker if one of
// the flush conditions holds. Workers are exactly MaxInFlight, so a free
// worker means a free flush slot.
func (b *batcher[T]) takeLocked() (*batch[T], trigger, bool) {
	bt := b.cur
	if bt == nil {
		return nil, 0, false
	}
	t, ok := b.triggerLocked(bt)
	if !ok {
		return nil, 0, false
	}
	b.cur = nil
	close(bt.taken)
	return bt, t, true
}

// triggerLocked reports whether the pending batch bt is due, and why.
func (b *batcher[T]) triggerLocked(bt *batch[T]) (trigger, bool) {
	switch {
	case b.closed:
		return triggerShutdown, true
	case bt.items >= b.cfg.SendBatchSize:
		return triggerSize, true
	case b.cfg.FlushWhenIdle && len(b.inFlight) == 0:
		return triggerIdle, true
	case time.Since(bt.start) >= b.cfg.Timeout:
		return triggerTimeout, true
	}
	return 0, false
}

func (b *batcher[T]) finishLocked(bt *batch[T], err error) {
	if bt.finished {
		return
	}
	bt.finished = true
	bt.err = err
	var zero T
	bt.data = zero // the next consumer owns it now
	close(bt.done)
}

// abortLocked fails every caller still waiting, pending or in flight, and
// tells the workers to stop.
func (b *batcher[T]) abortLocked() {
	if b.aborted {
		return
	}
	b.aborted = true
	if bt := b.cur; bt != nil {
		b.cur = nil
		close(bt.taken)
		b.finishLocked(bt, errAborted)
	}
	for _, bt := range b.inFlight {
		b.finishLocked(bt, errAborted)
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.work.Broadcast()
}

func (b *batcher[T]) pendingItemsLocked() int {
	if b.cur == nil {
		return 0
	}
	return b.cur.items
}
