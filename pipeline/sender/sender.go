package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// Reasons for outpost_exporter_failed_items_total.
const (
	ReasonPermanent        = "permanent"         // the far side refused the request for good
	ReasonRetriesExhausted = "retries_exhausted" // retryable failures until max_elapsed_time, or retries off
	ReasonShutdown         = "shutdown"          // the Sender or the caller's context stopped before delivery
	ReasonRejected         = "rejected"          // items refused in a partial success
	ReasonExpired          = "expired"           // still failing when the request passed its Expires (the queue's max_age)
	ReasonTooLarge         = "too_large"         // the far side refused a request of one item (or one it cannot split) as too large
)

// ErrTooLarge marks a permanent error by which the far side refused a
// request as too large (HTTP 413). A Sender with a SplitFunc sends such a
// request again in two halves, down to requests of one item; only a
// one-item request (or one that cannot be split) is then refused for good,
// counted as ReasonTooLarge.
var ErrTooLarge = errors.New("request too large for the far side")

// SplitFunc splits a Request into two of about half its items each,
// encoded and compressed as the original (Signal, Encoding, Compression
// and Expires kept). It is only called for a Request of two items or more;
// an error means the request cannot be split, and it is then refused for
// good.
type SplitFunc func(Request) (Request, Request, error)

// Budget gates the bytes of each attempt: the shared uplink budget
// (*uplink.Client implements it).
type Budget interface {
	// Wait blocks until n bytes may go on the wire, or ctx is done.
	Wait(ctx context.Context, n int) error
	// Adjust corrects the last grant by delta bytes, when the bytes that
	// went on the wire were not the bytes waited for.
	Adjust(delta int)
	// Sent counts n bytes that went on the wire (outpost_uplink_bytes_total).
	Sent(n int)
}

// DefaultLogInterval is the default minimum time between two failure logs
// of one kind from one Sender.
const DefaultLogInterval = 10 * time.Second

// ErrStopped is the cause of a Send cut short, or refused, because the
// Sender was shut down.
var ErrStopped = errors.New("sender shut down")

// Settings configure a Sender.
type Settings struct {
	// Exporter is the exporter's ID, the `exporter` label of the metrics.
	Exporter string
	// Logger receives the rate-limited failure logs. It should already
	// name the exporter (pipeline.Settings.Logger does). Nil discards.
	Logger *slog.Logger
	// Telemetry holds the metric vectors. Nil uses a private set, which is
	// only useful in tests.
	Telemetry *selftelemetry.Metrics
	// Retry is the retry policy.
	Retry RetryConfig
	// Timeout bounds each attempt; 0 leaves only the caller's context.
	Timeout time.Duration
	// LogInterval is the minimum time between two logs of failed attempts
	// (and, separately, of failed requests); 0 means DefaultLogInterval.
	LogInterval time.Duration
	// Send makes one attempt. Required.
	Send SendFunc
	// Requeue says that a Send cut short by its context or by Shutdown is
	// put back in a queue by the caller, to be sent again: it is then not
	// counted as failed (reason shutdown), since nothing is lost.
	Requeue bool
	// Budget, when set, is waited on for the body's bytes before each
	// attempt (retries use the uplink too); after it, the bytes the
	// transport reported with ReportWireBytes / NewHTTPRequest correct the
	// grant and are counted as sent on the uplink.
	Budget Budget
	// Split, when set, lets a request refused as too large (ErrTooLarge)
	// be sent again in halves.
	Split SplitFunc
}

// Sender sends Requests with retries. It is safe for concurrent use; each
// Send runs on its caller's goroutine.
type Sender struct {
	set     Settings
	log     *slog.Logger
	metrics [3]signalMetrics // indexed by signalIndex
	// retryLog limits logs of attempts that will be retried; failLog those
	// of requests that failed for good, so a storm of the first never hides
	// the second.
	retryLog, failLog logLimiter
	rand              func() float64 // uniform in [0, 1); replaced by tests

	// blocked is the current reason of outpost_exporter_blocked, "" when
	// not blocked; guarded by blockedMu.
	blockedMu sync.Mutex
	blocked   string

	stopCtx context.Context // cancelled, with cause ErrStopped, by Shutdown
	stop    context.CancelCauseFunc
	// drainCtx is cancelled by StopRetries: attempts on the wire finish,
	// but no Send waits or tries again.
	drainCtx context.Context
	drain    context.CancelFunc

	mu       sync.RWMutex // guards stopped against inflight.Add
	stopped  bool
	inflight sync.WaitGroup
}

// signalMetrics are one signal's series, resolved once.
type signalMetrics struct {
	sent, sentBytes, retries                 prometheus.Counter
	permanent, exhausted, shutdown, rejected prometheus.Counter
	expired                                  prometheus.Counter
	duration                                 prometheus.Observer
}

// New checks the settings and makes a Sender.
func New(set Settings) (*Sender, error) {
	if set.Send == nil {
		return nil, errors.New("sender: Send function is nil")
	}
	if err := set.Retry.Validate(); err != nil {
		return nil, fmt.Errorf("sender: retry: %w", err)
	}
	if set.Timeout < 0 {
		return nil, fmt.Errorf("sender: negative timeout %s", set.Timeout)
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	if set.LogInterval <= 0 {
		set.LogInterval = DefaultLogInterval
	}
	s := &Sender{
		set:      set,
		log:      set.Logger,
		retryLog: logLimiter{interval: set.LogInterval},
		failLog:  logLimiter{interval: set.LogInterval},
		rand:     rand.Float64,
	}
	for i, sig := range pipeline.Signals {
		s.metrics[i] = newSignalMetrics(set.Telemetry, set.Exporter, sig)
	}
	s.stopCtx, s.stop = context.WithCancelCause(context.Background())
	s.drainCtx, s.drain = context.WithCancel(context.Background())
	return s, nil
}

func newSignalMetrics(t *selftelemetry.Metrics, exporter string, sig pipeline.Signal) signalMetrics {
	e, g := exporter, string(sig)
	return signalMetrics{
		sent:      t.ExporterSent.WithLabelValues(e, g),
		sentBytes: t.ExporterSentBytes.WithLabelValues(e, g),
		retries:   t.ExporterRetries.WithLabelValues(e, g),
		permanent: t.ExporterFailed.WithLabelValues(e, g, ReasonPermanent),
		exhausted: t.ExporterFailed.WithLabelValues(e, g, ReasonRetriesExhausted),
		shutdown:  t.ExporterFailed.WithLabelValues(e, g, ReasonShutdown),
		rejected:  t.ExporterFailed.WithLabelValues(e, g, ReasonRejected),
		expired:   t.ExporterFailed.WithLabelValues(e, g, ReasonExpired),
		duration:  t.ExporterSendDuration.WithLabelValues(e, g),
	}
}

func (s *Sender) metricsFor(sig pipeline.Signal) *signalMetrics {
	switch sig {
	case pipeline.SignalTraces:
		return &s.metrics[0]
	case pipeline.SignalMetrics:
		return &s.metrics[1]
	case pipeline.SignalLogs:
		return &s.metrics[2]
	}
	// Not one of the three: a programming error upstream, but count it
	// rather than crash.
	m := newSignalMetrics(s.set.Telemetry, s.set.Exporter, sig)
	return &m
}

// Send delivers r, retrying as the RetryConfig allows, and returns:
//
//   - nil when r was delivered;
//   - the send function's *pipeline.PartialError when some items were
//     refused (the others were delivered), or one of the Sender's own when
//     a request sent in halves (ErrTooLarge) was refused in part;
//   - a permanent error (consumererror.IsPermanent) when r was refused for
//     good;
//   - when r.Expires passes while it is still failing, a permanent error
//     (the data is too old to be worth sending);
//   - when retries are exhausted, a retryable error: a
//     *pipeline.ThrottleError carrying the far side's last hint if the last
//     failure was a throttle, so that receivers answer 429 /
//     RESOURCE_EXHAUSTED upstream, otherwise a plain (non-permanent) error;
//   - when ctx is done or the Sender is shut down, a non-permanent error
//     wrapping the cause (ErrStopped on shutdown).
//
// Send counts r's items in exactly one of outpost_exporter_sent_items_total
// or outpost_exporter_failed_items_total (split between them on a partial
// success).
func (s *Sender) Send(ctx context.Context, r Request) error {
	m := s.metricsFor(r.Signal)
	s.mu.RLock()
	if s.stopped {
		s.mu.RUnlock()
		err := fmt.Errorf("send %d %s: %w", r.Items, r.Signal, ErrStopped)
		return s.failed(m.shutdown, r, r.Items, ReasonShutdown, err)
	}
	s.inflight.Add(1)
	s.mu.RUnlock()
	defer s.inflight.Done()

	// One context for the whole request, cancelled by the caller or by
	// Shutdown, whichever comes first; AfterFunc costs no goroutine until
	// Shutdown actually happens.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	unhook := context.AfterFunc(s.stopCtx, func() { cancel(ErrStopped) })
	defer unhook()
	wire := &wireBytes{}
	ctx = context.WithValue(ctx, wireBytesKey{}, wire)
	return s.send(ctx, r, m, wire)
}

// send is Send's retry loop for r, or one of its halves.
func (s *Sender) send(ctx context.Context, r Request, m *signalMetrics, wire *wireBytes) error {
	start := time.Now()
	bo := backoff{cfg: s.set.Retry}
	for attempt := 1; ; attempt++ {
		wire.reset()
		err := s.attempt(ctx, r, m, wire)
		if err == nil {
			s.unblock()
			s.delivered(m, r, r.Items, wire)
			return nil
		}
		var pe *pipeline.PartialError
		if errors.As(err, &pe) {
			s.unblock()
			rejected := int(min(max(pe.Rejected, 0), int64(r.Items)))
			s.delivered(m, r, r.Items-rejected, wire)
			return s.failed(m.rejected, r, rejected, ReasonRejected, err)
		}
		if consumererror.IsPermanent(err) {
			// The far side looked at the data: the endpoint works.
			s.unblock()
			if r.multi() {
				// Several queued records: find the refused ones, along
				// record boundaries first (a 413 too).
				return s.sendRecordHalves(ctx, r, m, wire, err)
			}
			if errors.Is(err, ErrTooLarge) && r.Items > 1 && s.set.Split != nil {
				return s.sendHalves(ctx, r, m, wire, err)
			}
			if re, ok := errors.AsType[*ReasonError](err); ok && re.Reason != "" {
				c := s.set.Telemetry.ExporterFailed.WithLabelValues(s.set.Exporter, string(r.Signal), re.Reason)
				return s.failed(c, r, r.Items, re.Reason, err)
			}
			return s.failed(m.permanent, r, r.Items, ReasonPermanent, err)
		}
		if ctx.Err() != nil || errors.Is(err, ErrStopped) {
			// A retryable failure while we were stopping: the attempt was
			// most likely cut short by us (a cancelled call, or a wait for
			// the budget ended by StopRetries), not by the far side.
			cause := context.Cause(ctx)
			if cause == nil {
				cause = ErrStopped
			}
			err = fmt.Errorf("send %d %s: stopped before delivery: %w (last error: %v)", r.Items, r.Signal, cause, err)
			return s.failed(m.shutdown, r, r.Items, ReasonShutdown, err)
		}
		blockedReason, blocked := IsBlocked(err)
		if blocked {
			s.block(blockedReason, r, err)
		}
		if !s.set.Retry.Enabled {
			return s.failed(m.exhausted, r, r.Items, ReasonRetriesExhausted, exhausted(r, attempt, time.Since(start), err))
		}
		delay := bo.next(s.rand())
		if hint, ok := pipeline.IsThrottle(err); ok && hint > 0 {
			delay = hint
		}
		if !r.Expires.IsZero() {
			left := time.Until(r.Expires)
			if left <= 0 && r.multi() {
				// The oldest of its records expired: they expire on their
				// own, the others are retried.
				return s.sendRecordHalves(ctx, r, m, wire, err)
			}
			if left <= 0 {
				err = consumererror.NewPermanent(fmt.Errorf("send %d %s: expired after %d attempts (last error: %w)", r.Items, r.Signal, attempt, err))
				return s.failed(m.expired, r, r.Items, ReasonExpired, err)
			}
			delay = min(delay, left)
		}
		if limit := s.set.Retry.MaxElapsedTime; limit > 0 {
			left := limit - time.Since(start)
			if left <= 0 {
				return s.failed(m.exhausted, r, r.Items, ReasonRetriesExhausted, exhausted(r, attempt, time.Since(start), err))
			}
			delay = min(delay, left)
		}
		if ok, suppressed := s.retryLog.allow(time.Now()); ok {
			args := []any{"signal", r.Signal, "items", r.Items, "attempt", attempt,
				"retry_in", delay, "error", err, "suppressed", suppressed}
			hintReason := ""
			if blocked {
				args = append(args, "blocked", blockedReason)
				hintReason = blockedReason
			}
			if h := hintFor(err, hintReason); h != "" {
				args = append(args, "hint", h)
			}
			s.log.Warn("send failed, will retry", args...)
		}
		if !sleep(ctx, s.drainCtx, delay) {
			cause := context.Cause(ctx)
			if cause == nil {
				cause = ErrStopped // StopRetries
			}
			err = fmt.Errorf("send %d %s: stopped before delivery: %w (last error: %v)", r.Items, r.Signal, cause, err)
			return s.failed(m.shutdown, r, r.Items, ReasonShutdown, err)
		}
		m.retries.Inc()
	}
}

// sendHalves sends r, refused as too large, again as two requests of half
// its items each, one after the other (each is split further if it is
// still too large). Each half is counted on its own; the result is the
// halves' errors joined (pipeline.JoinErrors).
func (s *Sender) sendHalves(ctx context.Context, r Request, m *signalMetrics, wire *wireBytes, tooLarge error) error {
	a, b, err := s.set.Split(r)
	if err != nil {
		err = consumererror.NewPermanent(&ReasonError{Reason: ReasonTooLarge,
			Err: fmt.Errorf("%w (cannot split the request: %v)", tooLarge, err)})
		c := s.set.Telemetry.ExporterFailed.WithLabelValues(s.set.Exporter, string(r.Signal), ReasonTooLarge)
		return s.failed(c, r, r.Items, ReasonTooLarge, err)
	}
	a.Expires, b.Expires = r.Expires, r.Expires
	if ok, suppressed := s.retryLog.allow(time.Now()); ok {
		s.log.Warn("request too large for the far side, sending it in halves",
			"signal", r.Signal, "items", r.Items, "bytes", len(r.Body),
			"halves", []int{a.Items, b.Items}, "error", tooLarge, "suppressed", suppressed)
	}
	errA := s.send(ctx, a, m, wire)
	if !final(errA) {
		// Stopped or out of retries: the caller gets the whole request
		// back (at-least-once); the second half was not tried and is not
		// counted.
		return errA
	}
	errB := s.send(ctx, b, m, wire)
	if !final(errB) {
		return errB
	}
	// Both halves are settled: delivered, or refused in part or in full.
	rejected := refusedItems(errA, a.Items) + refusedItems(errB, b.Items)
	joined := pipeline.JoinErrors([]error{errA, errB})
	if rejected == 0 || rejected >= r.Items {
		return joined
	}
	return &pipeline.PartialError{Rejected: int64(rejected), Err: consumererror.NewPermanent(
		fmt.Errorf("sent in halves after the far side found the request too large; %d of %d items refused: %w", rejected, r.Items, joined))}
}

// final reports whether err settles a request: nil (delivered), a partial
// success, or a permanent refusal; not a retryable error.
func final(err error) bool {
	if err == nil {
		return true
	}
	if _, ok := errors.AsType[*pipeline.PartialError](err); ok {
		return true
	}
	return consumererror.IsPermanent(err)
}

// refusedItems is how many of a request's items a final error refused.
func refusedItems(err error, items int) int {
	if err == nil {
		return 0
	}
	if pe, ok := errors.AsType[*pipeline.PartialError](err); ok {
		return int(min(max(pe.Rejected, 0), int64(items)))
	}
	return items
}

// attempt waits for the budget, then makes one attempt under the
// per-attempt timeout and times it.
func (s *Sender) attempt(ctx context.Context, r Request, m *signalMetrics, wire *wireBytes) error {
	if s.set.Budget != nil {
		wctx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(s.drainCtx, func() { cancel(ErrStopped) })
		err := s.set.Budget.Wait(wctx, len(r.Body))
		stop()
		cancel(nil)
		if err != nil {
			if cause := context.Cause(wctx); errors.Is(cause, ErrStopped) {
				return fmt.Errorf("waiting for the uplink budget: %w", cause)
			}
			return err
		}
		defer func() {
			// What went on the wire: what the transport reported, or, if it
			// reports nothing, the whole body.
			n := wire.load()
			if n < 0 {
				n = int64(len(r.Body))
			}
			if int(n) != len(r.Body) {
				s.set.Budget.Adjust(int(n) - len(r.Body))
			}
			s.set.Budget.Sent(int(n))
		}()
	}
	if s.set.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.set.Timeout)
		defer cancel()
	}
	t0 := time.Now()
	err := s.set.Send(ctx, r)
	m.duration.Observe(time.Since(t0).Seconds())
	return err
}

func (s *Sender) delivered(m *signalMetrics, r Request, items int, wire *wireBytes) {
	m.sent.Add(float64(items))
	n := wire.load()
	if n < 0 {
		n = int64(len(r.Body))
	}
	m.sentBytes.Add(float64(n))
}

// failed counts items as failed for reason, logs (rate-limited) and
// returns err.
func (s *Sender) failed(c prometheus.Counter, r Request, items int, reason string, err error) error {
	if reason == ReasonShutdown && s.set.Requeue {
		return err // not lost: the caller queues r again
	}
	c.Add(float64(items))
	if ok, suppressed := s.failLog.allow(time.Now()); ok {
		args := []any{"signal", r.Signal, "items", items, "reason", reason, "error", err, "suppressed", suppressed}
		if h := ErrorHint(err); h != "" {
			args = append(args, "hint", h)
		}
		s.log.Error("send failed", args...)
	}
	return err
}

// block records that sends fail for reason, a problem of the endpoint:
// outpost_exporter_blocked{reason} is 1 (set again at every failure, so a
// gauge cleared by an instance being replaced on a reload comes back), and
// a change of reason is logged at once with its hint.
func (s *Sender) block(reason string, r Request, err error) {
	s.blockedMu.Lock()
	prev := s.blocked
	s.blocked = reason
	if prev != "" && prev != reason {
		s.set.Telemetry.ExporterBlocked.WithLabelValues(s.set.Exporter, prev).Set(0)
	}
	s.set.Telemetry.ExporterBlocked.WithLabelValues(s.set.Exporter, reason).Set(1)
	s.blockedMu.Unlock()
	if prev != reason {
		s.log.Error("exporter blocked: the endpoint refuses requests for a reason that is not the data; data stays queued and is retried",
			"blocked", reason, "hint", hintFor(err, reason), "signal", r.Signal, "error", err)
	}
}

// unblock clears outpost_exporter_blocked once the far side took a request
// (or refused it for its data: the endpoint works).
func (s *Sender) unblock() {
	s.blockedMu.Lock()
	prev := s.blocked
	s.blocked = ""
	if prev != "" {
		s.set.Telemetry.ExporterBlocked.WithLabelValues(s.set.Exporter, prev).Set(0)
	}
	s.blockedMu.Unlock()
	if prev != "" {
		s.log.Info("exporter no longer blocked: the endpoint accepts requests again", "was", prev)
	}
}

// exhausted is the error for a request whose retries ran out: a throttle
// if the last failure was one, so that the hint travels upstream.
func exhausted(r Request, attempts int, elapsed time.Duration, last error) error {
	err := fmt.Errorf("send %d %s: giving up after %d attempts in %s: %w",
		r.Items, r.Signal, attempts, elapsed.Round(time.Millisecond), last)
	if hint, ok := pipeline.IsThrottle(last); ok {
		return pipeline.NewThrottle(err, hint)
	}
	return err
}

// sleep waits for d or until ctx or drain is done; it reports whether the
// wait ran its course.
func sleep(ctx, drain context.Context, d time.Duration) bool {
	if ctx.Err() != nil || drain.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-drain.Done():
		return false
	}
}

// StopRetries lets attempts on the wire finish but ends every wait (for a
// retry or for the budget): those Sends return an error wrapping
// ErrStopped, and later ones make one attempt at most. Shutdown after it
// then waits only for the attempts in progress. A graceful stop calls it
// first, so that a request the far side is receiving is not cut off and
// sent again.
func (s *Sender) StopRetries() { s.drain() }

// Shutdown stops the Sender: Sends in progress stop at once (an attempt on
// the wire is cancelled, a wait between retries ends) and return an error
// wrapping ErrStopped; later Sends fail at once. Shutdown then waits for the
// Sends in progress to return, or for ctx to be done. It is idempotent.
func (s *Sender) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	// A Sender that is gone blocks nothing; one that replaces it on a
	// reload sets the gauge again at its first blocked attempt.
	s.blockedMu.Lock()
	if s.blocked != "" {
		s.set.Telemetry.ExporterBlocked.WithLabelValues(s.set.Exporter, s.blocked).Set(0)
	}
	s.blockedMu.Unlock()
	s.stop(ErrStopped)
	s.drain()

	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sender: waiting for sends in progress: %w", ctx.Err())
	}
}

// logLimiter lets one log line through per interval and counts the others.
type logLimiter struct {
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now and how many lines were suppressed
// since the last one logged.
func (l *logLimiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
