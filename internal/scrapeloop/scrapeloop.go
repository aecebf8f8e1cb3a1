// Package scrapeloop runs a metrics source that outpost polls at an
// interval (the hostmetrics and outpost receivers): it builds a batch,
// charges it to memory_limit, hands it to the pipeline and counts the
// outcome in the receiver metrics.
//
// A cycle's batch is a snapshot of cumulative values; when the pipeline
// refuses it (back-pressure, a full queue under `block`, memory_limit) it
// is dropped and counted, never retried or held: the next cycle's
// snapshot carries the same counters, newer. The loop holds at most one
// batch at a time, and never runs two cycles at once: a cycle that takes
// longer than the interval delays the next one (ticks in between are
// skipped, as time.Ticker does).
package scrapeloop

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
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Values of the reason label of outpost_receiver_refused_items_total for
// a polled source.
const (
	ReasonThrottled   = "throttled"    // the pipeline pushed back (a full queue under block)
	ReasonUnavailable = "unavailable"  // another retryable failure
	ReasonPermanent   = "permanent"    // refused for good
	ReasonRejected    = "rejected"     // part of the batch refused for good
	ReasonMemoryLimit = "memory_limit" // memory_limit had no room for the batch
)

// Scrape builds one cycle's batch. It may return data together with an
// error (some parts failed; the scrape function counts its own failures):
// the data is sent all the same. It must honour ctx.
type Scrape func(ctx context.Context) (pmetric.Metrics, error)

// Options configure a Loop.
type Options struct {
	ID        pipeline.ID
	Kind      string // the receiver type, for errors and logs
	Logger    *slog.Logger
	Telemetry *selftelemetry.Metrics // nil: a private registry
	Memory    *memlimit.Limiter      // nil: unlimited
	// Transport is the value of the transport label, e.g. "host".
	Transport string
	// Interval is the time between the starts of two cycles (> 0).
	Interval time.Duration
	// InitialDelay is the wait before the first cycle.
	InitialDelay time.Duration
	Scrape       Scrape
	Next         consumer.Metrics
}

// Loop is a started or stoppable polling loop. Its zero value is not
// usable; make one with New.
type Loop struct {
	opt    Options
	logger *slog.Logger

	accepted prometheus.Counter
	refused  func(reason string) prometheus.Counter

	mu       sync.Mutex
	started  bool
	stopped  bool
	cancel   context.CancelFunc
	done     chan struct{}
	lastWarn map[string]time.Time
}

// New checks opt and returns a Loop that is not yet running.
func New(opt Options) (*Loop, error) {
	if opt.Interval <= 0 {
		return nil, fmt.Errorf("%s receiver %s: collection_interval must be > 0", opt.Kind, opt.ID)
	}
	if opt.Scrape == nil || opt.Next == nil {
		return nil, fmt.Errorf("%s receiver %s: no scrape function or no next consumer", opt.Kind, opt.ID)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Telemetry == nil {
		opt.Telemetry = selftelemetry.New()
	}
	id, sig := opt.ID.String(), string(pipeline.SignalMetrics)
	l := &Loop{
		opt:      opt,
		logger:   opt.Logger,
		accepted: opt.Telemetry.ReceiverAccepted.WithLabelValues(id, sig, opt.Transport),
		refused: func(reason string) prometheus.Counter {
			return opt.Telemetry.ReceiverRefused.WithLabelValues(id, sig, opt.Transport, reason)
		},
		lastWarn: map[string]time.Time{},
	}
	return l, nil
}

// Start runs the loop in the background until Shutdown.
func (l *Loop) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return fmt.Errorf("%s receiver %s: already started or shut down", l.opt.Kind, l.opt.ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.started, l.cancel, l.done = true, cancel, make(chan struct{})
	go l.run(ctx)
	return nil
}

// Shutdown stops the loop and waits for a cycle in progress to end, or
// for ctx to end (then it returns ctx's error; the cycle, whose context is
// cancelled, ends in the background). It is idempotent.
func (l *Loop) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.stopped = true
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s receiver %s: shutdown: %w", l.opt.Kind, l.opt.ID, ctx.Err())
	}
}

func (l *Loop) run(ctx context.Context) {
	defer close(l.done)
	if d := l.opt.InitialDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	tick := time.NewTicker(l.opt.Interval)
	defer tick.Stop()
	for {
		l.Cycle(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Cycle runs one cycle now: scrape, charge, consume, count. The loop calls
// it at every tick; tests call it directly. It returns the pipeline's
// error, or the memory limit's refusal.
func (l *Loop) Cycle(ctx context.Context) error {
	md, err := l.opt.Scrape(ctx)
	if err != nil {
		l.warn("scrape", "scrape failed in part; sending what was read", "error", err)
	}
	n := md.DataPointCount()
	if n == 0 || ctx.Err() != nil {
		return nil
	}
	// The batch is built already; charging it now still keeps the bytes in
	// flight under the limit's accounting, and a refusal drops the batch
	// before the pipeline copies or encodes it.
	size := int64((&pmetric.ProtoMarshaler{}).MetricsSize(md)) * memlimit.Expansion
	charge, err := l.opt.Memory.Admit(size)
	if err != nil {
		l.refused(ReasonMemoryLimit).Add(float64(n))
		l.warn("memory", "memory_limit has no room for the batch; cycle dropped", "data_points", n, "bytes", size, "error", err)
		return err
	}
	defer charge.Release()
	err = l.opt.Next.ConsumeMetrics(ctx, md)
	l.record(err, n)
	if err != nil {
		l.warn("consume", "pipeline refused the batch; cycle dropped (the next cycle carries newer values)", "data_points", n, "error", err)
	}
	return err
}

// record counts n data points by the pipeline's answer.
func (l *Loop) record(err error, n int) {
	if err == nil {
		l.accepted.Add(float64(n))
		return
	}
	if pe, ok := errors.AsType[*pipeline.PartialError](err); ok {
		rej := min(max(pe.Rejected, 0), int64(n))
		l.accepted.Add(float64(int64(n) - rej))
		l.refused(ReasonRejected).Add(float64(rej))
		return
	}
	reason := ReasonUnavailable
	if _, ok := pipeline.IsThrottle(err); ok {
		reason = ReasonThrottled
	} else if consumererror.IsPermanent(err) {
		reason = ReasonPermanent
	}
	l.refused(reason).Add(float64(n))
}

// warnEvery is the shortest interval between two warnings of one kind.
const warnEvery = time.Minute

func (l *Loop) warn(key, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.lastWarn[key]; ok && now.Sub(t) < warnEvery {
		l.mu.Unlock()
		return
	}
	l.lastWarn[key] = now
	l.mu.Unlock()
	l.logger.Warn(msg, append([]any{"receiver", l.opt.ID.String()}, args...)...)
}
