package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

// FullRetryAfter is the retry hint a client gets when a blocking queue is
// full.
const FullRetryAfter = 5 * time.Second

// OutputSettings configure an Output.
type OutputSettings struct {
	// Exporter is the exporter's ID, the `exporter` label of the metrics.
	Exporter  string
	Logger    *slog.Logger
	Telemetry *selftelemetry.Metrics
	// Queue is the exporter's queue section.
	Queue QueueConfig
	// Dir is the exporter's storage directory (pipeline.Settings.StorageDir);
	// a disk queue lives there.
	Dir string
	// Registry shares the queue with the exporter of the same ID in a
	// graph that a reload replaces: a disk queue by directory, a memory
	// queue (with its reservation) by exporter ID. Nil opens the queue
	// privately.
	Registry *queue.Registry
	// Memory, when set, reserves a memory queue's max_bytes (out of
	// memory_limit, once per queue, however many exporters share it).
	Memory *memlimit.Limiter
	// Uplink, when set, is the shared budget every attempt waits on.
	Uplink *uplink.Budget
	// Retry, Timeout and Send are the Sender's (see Settings). With a
	// queue, Retry.MaxElapsedTime is not used: a record is retried until it
	// is delivered, refused for good, or older than the queue's max_age.
	Retry   RetryConfig
	Timeout time.Duration
	Send    SendFunc
	// Split, when set, sends a request refused as too large (HTTP 413)
	// again in halves (see Settings.Split).
	Split SplitFunc
	// Compress, when set, compresses a request body for the wire (once per
	// request, after records are merged); Compression is the content
	// encoding it applies. Exporters hand Put uncompressed bodies
	// (Request.Compression ""): the queue stores them with StorageCodec.
	// A Request that already carries a Compression is stored and sent as
	// it is, never merged.
	Compress    func(raw []byte) ([]byte, error)
	Compression string
	// Mergeable says that two bodies of one signal and encoding, as the
	// exporter makes them, concatenate into one valid request (protobuf
	// messages whose top-level fields are all repeated: OTLP Export*Request,
	// remote-write 1.0 WriteRequest, Loki PushRequest; not OTLP JSON).
	// Senders then merge queued records (Queue.Batch).
	Mergeable bool
	// Merge, when set, makes one request body of the uncompressed bodies
	// of several records (in order) instead of concatenating them, for a
	// protocol whose far side handles a concatenation badly (Loki reports
	// only one stream's refusal per push, so its exporter gathers the
	// entries of equal streams). It appends to dst.
	Merge func(dst []byte, bodies [][]byte) ([]byte, error)
}

// Output is what an exporter hands its ready-to-send Requests to: a queue
// drained by sender goroutines, or, with the queue disabled, the Sender
// itself on the caller's goroutine.
type Output struct {
	set    OutputSettings
	log    *slog.Logger
	sender *Sender
	budget *uplink.Client

	mu        sync.Mutex
	q         *queue.Queue
	heldLease *queue.Lease // the Registry's reference to q
	release   func() error // drops the queue reference
	cancel    context.CancelFunc
	// flushCtx, a child of the senders' context, is cancelled when a memory
	// queue is drained at shutdown: senders then stop waiting for records
	// to merge (flush_timeout) and send what they have.
	flushCtx context.Context
	flush    context.CancelFunc
	// ratios estimate each signal's compression (traces, metrics, logs).
	ratios  [3]ratioEstimate
	wg      sync.WaitGroup
	started bool
	stopped bool
}

// NewOutput checks the settings and makes an Output; Start opens the queue.
func NewOutput(set OutputSettings) (*Output, error) {
	if err := set.Queue.Validate(); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	if set.Queue.Enabled && queue.Kind(set.Queue.Kind) == queue.KindDisk && set.Dir == "" {
		return nil, errors.New("queue: a disk queue needs a storage directory (storage.directory)")
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	sset := Settings{
		Exporter:  set.Exporter,
		Logger:    set.Logger,
		Telemetry: set.Telemetry,
		Retry:     set.Retry,
		Timeout:   set.Timeout,
		Send:      set.Send,
		Split:     set.Split,
	}
	if set.Queue.Enabled {
		// A queued record is retried until it is delivered, refused for
		// good or older than max_age: that is what the queue is for, so
		// retry_on_failure.enabled: false does not drop it after one
		// failure (docs/configuration.md).
		if !sset.Retry.Enabled {
			set.Logger.Warn("retry_on_failure.enabled: false has no effect with a queue: queued data is retried until delivered, refused for good or older than queue.max_age; set queue.enabled: false for one attempt per request")
		}
		sset.Retry.Enabled = true
		sset.Retry.MaxElapsedTime = 0
		sset.Requeue = true
	}
	o := &Output{set: set, log: set.Logger}
	if set.Uplink != nil {
		o.budget = set.Uplink.Client(set.Exporter, set.Queue.UplinkWeight)
		sset.Budget = o.budget
	}
	s, err := New(sset)
	if err != nil {
		if o.budget != nil {
			o.budget.Close()
		}
		return nil, err
	}
	o.sender = s
	return o, nil
}

// Queued reports whether Requests go through a queue.
func (o *Output) Queued() bool { return o.set.Queue.Enabled }

// Start opens the queue and starts the senders that drain it. A queue left
// by an earlier run is drained first: its records are older.
func (o *Output) Start() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return errors.New("output: start after shutdown")
	}
	if o.started || !o.set.Queue.Enabled {
		o.started = true
		return nil
	}
	cfg := o.set.Queue
	opts := queue.Options{
		Kind:      queue.Kind(cfg.Kind),
		Limits:    cfg.limits(),
		Exporter:  o.set.Exporter,
		Telemetry: o.set.Telemetry,
		Logger:    o.log,
	}
	if opts.Kind == queue.KindDisk {
		opts.Dir = o.set.Dir
	}
	reserve := func(n int64) (queue.Reservation, error) {
		r, err := o.set.Memory.ReserveQueue(n)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	// The Registry hands a memory queue (and its reservation) over to the
	// exporter of the same ID in the graph a reload builds, as it does
	// disk queues; without one the queue is private.
	registry := o.set.Registry
	if registry == nil {
		registry = &queue.Registry{}
	}
	lease, err := registry.Lease(opts, reserve)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	o.heldLease, o.q, o.release = lease, lease.Queue(), lease.Release
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.flushCtx, o.flush = context.WithCancel(ctx)
	for range cfg.Consumers {
		o.wg.Go(func() { o.drain(ctx) })
	}
	o.started = true
	return nil
}

// Put delivers r: into the queue, in lane, when there is one (it returns
// once r is stored as the fsync policy says), else by sending it now.
//
// Errors: a full blocking queue is a *pipeline.ThrottleError (receivers
// answer 429 / RESOURCE_EXHAUSTED); a Request larger than the whole queue
// is permanent; without a queue, see Sender.Send. Put is PutAll of one
// part.
func (o *Output) Put(ctx context.Context, lane queue.Lane, r Request) error {
	return o.PutAll(ctx, []Part{{Lane: lane, Request: r}})
}

// Part is one lane's share of a client request that an exporter split by
// priority lane.
type Part struct {
	Lane    queue.Lane
	Request Request
}

// PutAll delivers the parts of one client request, most important lane
// first. With a queue they are stored with queue.AppendAll: room is
// reserved for all of them before any is written, so a full blocking queue
// refuses the whole request (a throttle) and the client's retry does not
// store again the parts that fitted; the parts together larger than the
// whole queue are permanent. Without a queue each part is sent, and the
// errors are joined (pipeline.JoinErrors).
func (o *Output) PutAll(ctx context.Context, parts []Part) error {
	if len(parts) == 0 {
		return nil
	}
	if !o.set.Queue.Enabled {
		errs := make([]error, 0, len(parts))
		for _, p := range parts {
			r, err := o.wireRequest(p.Request)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, o.sender.Send(ctx, r))
		}
		return pipeline.JoinErrors(errs)
	}
	o.mu.Lock()
	q := o.q
	o.mu.Unlock()
	if q == nil {
		return fmt.Errorf("queue %s not open", o.set.Exporter)
	}
	now := time.Now()
	var recsArr [queue.NumLanes]queue.Record
	recs := recsArr[:0]
	size := 0
	for _, p := range parts {
		rec, err := o.record(p.Lane, now, p.Request)
		if err != nil {
			return err
		}
		size += len(rec.Body)
		recs = append(recs, rec)
	}
	err := q.AppendAll(recs)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrFull):
		return pipeline.NewThrottle(fmt.Errorf("queue of exporter %s is full: %w", o.set.Exporter, err), FullRetryAfter)
	case errors.Is(err, queue.ErrTooLarge):
		return consumererror.NewPermanent(fmt.Errorf("exporter %s: %d-byte request: %w", o.set.Exporter, size, err))
	}
	return fmt.Errorf("exporter %s: queue: %w", o.set.Exporter, err)
}

// Shutdown stops the senders and closes the queue. Attempts on the wire
// finish, within ctx's deadline; records waiting for a retry go back to the
// queue at once. A disk queue keeps what is unsent for the next run (or for the exporter that replaces this one on
// a reload, which shares it). A memory queue that the replacing exporter
// shares is handed over as it is, records and memory reservation; any
// other memory queue is drained first, until ctx is done: what is left then
// is lost and counted as dropped. Idempotent.
func (o *Output) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		return nil
	}
	o.stopped = true
	q, lease := o.q, o.heldLease
	o.mu.Unlock()

	// A memory queue that the exporter replacing this one on a reload
	// shares is handed over with its records; otherwise it is drained.
	handover := lease != nil && lease.Shared()
	memory := q != nil && queue.Kind(o.set.Queue.Kind) == queue.KindMemory && !handover
	if memory {
		o.flush()
		o.waitEmpty(ctx, q)
	}
	// Stop reading, let attempts on the wire finish (a request the far side
	// is taking is not cut off and sent again), and cut them off only at
	// ctx's deadline.
	if o.cancel != nil {
		o.cancel()
	}
	o.sender.StopRetries()
	done := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	err := o.sender.Shutdown(ctx)
	<-done
	if memory {
		// What a memory queue still holds dies with it: count it.
		for l, st := range q.Stats() {
			if st.Items > 0 {
				o.set.Telemetry.QueueDropped.WithLabelValues(o.set.Exporter, queue.Lane(l).String(), ReasonShutdown).Add(float64(st.Items))
				o.log.Warn("memory queue not drained before shutdown; its data is lost", "lane", queue.Lane(l).String(), "items", st.Items, "records", st.Records)
			}
		}
	}
	if o.release != nil {
		err = errors.Join(err, o.release())
	}
	if o.budget != nil {
		o.budget.Close()
	}
	return err
}

// waitEmpty waits until q holds nothing or ctx is done.
func (o *Output) waitEmpty(ctx context.Context, q *queue.Queue) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		empty := true
		for _, l := range q.Stats() {
			if l.Records > 0 {
				empty = false
			}
		}
		if empty {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
