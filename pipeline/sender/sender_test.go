package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// metric returns the value of the counter (or the sample count of the
// histogram) name{exporter="exp", signal=sig[, reason]}.
func metric(t *testing.T, tel *selftelemetry.Metrics, name string, sig pipeline.Signal, reason string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "exporter":
					if lp.GetValue() != "exp" {
						continue next
					}
				case "signal":
					if lp.GetValue() != string(sig) {
						continue next
					}
				case "reason":
					if lp.GetValue() != reason {
						continue next
					}
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// fastRetry is a deterministic retry policy: 1s, 2s, 4s, 5s, 5s, ... for at
// most 20s.
func fastRetry() RetryConfig {
	return RetryConfig{
		Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second,
		MaxElapsedTime: 20 * time.Second, Multiplier: 2, RandomizationFactor: 0,
	}
}

func TestRetryConfigValidate(t *testing.T) {
	if err := DefaultRetryConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	d := DefaultRetryConfig()
	if d.InitialInterval != 5*time.Second || d.MaxInterval != 30*time.Second || d.MaxElapsedTime != 300*time.Second ||
		d.Multiplier != 1.5 || d.RandomizationFactor != 0.5 || !d.Enabled {
		t.Fatalf("defaults = %+v", d)
	}
	for _, tc := range []struct {
		name string
		mod  func(*RetryConfig)
		want []string
	}{
		{"zero initial", func(c *RetryConfig) { c.InitialInterval = 0 }, []string{"initial_interval: must be positive"}},
		{"max below initial", func(c *RetryConfig) { c.MaxInterval = time.Second }, []string{"max_interval: must be at least initial_interval"}},
		{"zero max", func(c *RetryConfig) { c.MaxInterval = 0 }, []string{"max_interval: must be positive"}},
		{"negative elapsed", func(c *RetryConfig) { c.MaxElapsedTime = -1 }, []string{"max_elapsed_time"}},
		{"multiplier", func(c *RetryConfig) { c.Multiplier = 0.5 }, []string{"multiplier: must be at least 1"}},
		{"randomization", func(c *RetryConfig) { c.RandomizationFactor = 1.5 }, []string{"randomization_factor"}},
		{"disabled still checked", func(c *RetryConfig) { c.Enabled = false; c.Multiplier = 0 }, []string{"multiplier"}},
		{"all reported", func(c *RetryConfig) { c.InitialInterval = 0; c.RandomizationFactor = -1 }, []string{"initial_interval", "randomization_factor"}},
		{"no elapsed limit is fine", func(c *RetryConfig) { c.MaxElapsedTime = 0 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultRetryConfig()
			tc.mod(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestBackoffGrowthAndCap(t *testing.T) {
	b := backoff{cfg: RetryConfig{InitialInterval: time.Second, MaxInterval: 10 * time.Second, Multiplier: 3}}
	want := []time.Duration{1, 3, 9, 10, 10}
	for i, w := range want {
		if got := b.next(0.3); got != w*time.Second {
			t.Fatalf("wait %d = %s, want %s", i, got, w*time.Second)
		}
	}
	// A huge multiplier must not overflow.
	b = backoff{cfg: RetryConfig{InitialInterval: time.Hour, MaxInterval: 1000 * time.Hour, Multiplier: 1e300}}
	b.next(0)
	if got := b.next(0); got != 1000*time.Hour {
		t.Fatalf("after overflow-sized growth: %s", got)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, f := range []float64{0, 0.1, 0.5, 1} {
		iv := 10 * time.Second
		lo, hi := time.Duration(float64(iv)*(1-f)), time.Duration(float64(iv)*(1+f))
		if got := jitter(iv, f, 0); got != lo {
			t.Errorf("f=%g r=0: %s, want %s", f, got, lo)
		}
		for i := range 1000 {
			r := float64(i) / 1000
			got := jitter(iv, f, r)
			if got < lo || got > hi || (f > 0 && got == hi) {
				t.Fatalf("f=%g r=%g: %s outside [%s, %s)", f, r, got, lo, hi)
			}
		}
	}
	// With the real random source, over the whole default schedule.
	b := backoff{cfg: DefaultRetryConfig()}
	iv := DefaultInitialInterval
	for range 50 {
		d := b.next(rand.Float64())
		if d < iv/2 || d >= iv*3/2 {
			t.Fatalf("wait %s outside [%s, %s)", d, iv/2, iv*3/2)
		}
		iv = min(time.Duration(float64(iv)*1.5), DefaultMaxInterval)
	}
}

// script is a SendFunc that returns its errors in turn (nil after the last)
// and records when each attempt happened.
type script struct {
	mu    sync.Mutex
	errs  []error
	times []time.Time
	wire  int // reported with ReportWireBytes when > 0
}

func (s *script) send(ctx context.Context, _ Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	if s.wire > 0 {
		ReportWireBytes(ctx, s.wire)
	}
	if len(s.errs) == 0 {
		return nil
	}
	err := s.errs[0]
	if len(s.errs) > 1 || err == errForever {
		if err != errForever {
			s.errs = s.errs[1:]
		}
	} else {
		s.errs = nil
	}
	if err == errForever {
		return errUnavailable
	}
	return err
}

func (s *script) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times)
}

var (
	errUnavailable = errors.New("503 unavailable")
	errForever     = errors.New("fail forever (marker)")
	errBad         = consumererror.NewPermanent(errors.New("400 bad request"))
)

func TestSendOutcomes(t *testing.T) {
	req := Request{Signal: pipeline.SignalTraces, Items: 10, Body: make([]byte, 100)}
	throttle := pipeline.NewThrottle(errors.New("429"), 3*time.Second)
	for _, tc := range []struct {
		name      string
		errs      []error
		retry     func(*RetryConfig)
		wire      int
		check     func(t *testing.T, err error)
		attempts  int
		retries   float64
		sent      float64
		bytes     float64
		failed    float64
		reason    string
		wantTimes []float64 // attempt times in seconds since start, when set
	}{
		{name: "success", attempts: 1, sent: 10, bytes: 100,
			check: func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "wire bytes reported", wire: 42, attempts: 1, sent: 10, bytes: 42,
			check: func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "permanent", errs: []error{errBad}, attempts: 1, failed: 10, reason: ReasonPermanent,
			check: func(t *testing.T, err error) {
				if !consumererror.IsPermanent(err) {
					t.Fatalf("not permanent: %v", err)
				}
			}},
		{name: "permanent with a reason", errs: []error{consumererror.NewPermanent(&ReasonError{Reason: "out_of_order", Err: errBad})},
			attempts: 1, failed: 10, reason: "out_of_order",
			check: func(t *testing.T, err error) {
				if re, ok := errors.AsType[*ReasonError](err); !ok || re.Reason != "out_of_order" || !consumererror.IsPermanent(err) {
					t.Fatalf("want a permanent ReasonError, got %v", err)
				}
			}},
		{name: "reason around permanent", errs: []error{&ReasonError{Reason: "too_old", Err: consumererror.NewPermanent(errBad)}},
			attempts: 1, failed: 10, reason: "too_old",
			check: func(t *testing.T, err error) {
				if !consumererror.IsPermanent(err) {
					t.Fatalf("not permanent: %v", err)
				}
			}},
		{name: "empty reason counts as permanent", errs: []error{consumererror.NewPermanent(&ReasonError{Err: errBad})},
			attempts: 1, failed: 10, reason: ReasonPermanent,
			check: func(t *testing.T, err error) {
				if !consumererror.IsPermanent(err) {
					t.Fatalf("not permanent: %v", err)
				}
			}},
		{name: "retryable reason is retried", errs: []error{&ReasonError{Reason: "x", Err: errors.New("blip")}},
			attempts: 2, retries: 1, sent: 10, bytes: 100,
			check: func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "partial", errs: []error{&pipeline.PartialError{Rejected: 3, Err: consumererror.NewPermanent(errors.New("bad spans"))}},
			attempts: 1, sent: 7, bytes: 100, failed: 3, reason: ReasonRejected,
			check: func(t *testing.T, err error) {
				var pe *pipeline.PartialError
				if !errors.As(err, &pe) || pe.Rejected != 3 {
					t.Fatalf("want PartialError{3}, got %v", err)
				}
			}},
		{name: "retry then success", errs: []error{errUnavailable, errUnavailable, errUnavailable},
			attempts: 4, retries: 3, sent: 10, bytes: 100,
			wantTimes: []float64{0, 1, 3, 7},
			check:     func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "throttle hint replaces backoff", errs: []error{throttle, throttle},
			attempts: 3, retries: 2, sent: 10, bytes: 100,
			wantTimes: []float64{0, 3, 6},
			check:     func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "throttle without hint uses backoff", errs: []error{pipeline.NewThrottle(errors.New("429"), 0)},
			attempts: 2, retries: 1, sent: 10, bytes: 100,
			wantTimes: []float64{0, 1},
			check:     func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "exhausted", errs: []error{errForever},
			// 0, 1, 3, 7, 12, 17, 20 (last wait cut to what is left of 20s).
			attempts: 7, retries: 6, failed: 10, reason: ReasonRetriesExhausted,
			wantTimes: []float64{0, 1, 3, 7, 12, 17, 20},
			check: func(t *testing.T, err error) {
				if err == nil || consumererror.IsPermanent(err) {
					t.Fatalf("want a retryable error, got %v", err)
				}
				if _, ok := pipeline.IsThrottle(err); ok {
					t.Fatalf("plain failure reported as throttle: %v", err)
				}
				if !errors.Is(err, errUnavailable) {
					t.Fatalf("last error not wrapped: %v", err)
				}
			}},
		{name: "throttle hint capped by what is left", errs: []error{errUnavailable, errUnavailable, pipeline.NewThrottle(errors.New("429"), time.Hour)},
			retry: func(c *RetryConfig) { c.MaxElapsedTime = 10 * time.Second },
			// 0, 1, 3, then the hour-long hint is cut to the 7s left.
			attempts: 4, retries: 3, sent: 10, bytes: 100,
			wantTimes: []float64{0, 1, 3, 10},
			check:     func(t *testing.T, err error) { mustNil(t, err) }},
		{name: "retries disabled", errs: []error{errUnavailable},
			retry:    func(c *RetryConfig) { c.Enabled = false },
			attempts: 1, failed: 10, reason: ReasonRetriesExhausted,
			check: func(t *testing.T, err error) {
				if err == nil || consumererror.IsPermanent(err) {
					t.Fatalf("want a retryable error, got %v", err)
				}
			}},
		{name: "no elapsed limit", errs: []error{errUnavailable, errUnavailable, errUnavailable, errUnavailable, errUnavailable, errUnavailable, errUnavailable, errUnavailable},
			retry:    func(c *RetryConfig) { c.MaxElapsedTime = 0 },
			attempts: 9, retries: 8, sent: 10, bytes: 100,
			wantTimes: []float64{0, 1, 3, 7, 12, 17, 22, 27, 32},
			check:     func(t *testing.T, err error) { mustNil(t, err) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tel := selftelemetry.New()
				sc := &script{errs: append([]error(nil), tc.errs...), wire: tc.wire}
				rc := fastRetry()
				if tc.retry != nil {
					tc.retry(&rc)
				}
				s, err := New(Settings{Exporter: "exp", Telemetry: tel, Retry: rc, Send: sc.send})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				tc.check(t, s.Send(t.Context(), req))
				if got := sc.attempts(); got != tc.attempts {
					t.Errorf("attempts = %d, want %d", got, tc.attempts)
				}
				if tc.wantTimes != nil {
					for i, at := range sc.times {
						want := time.Duration(tc.wantTimes[i] * float64(time.Second))
						if got := at.Sub(start); got != want {
							t.Errorf("attempt %d at %s, want %s", i+1, got, want)
						}
					}
				}
				expect := func(name string, reason string, want float64) {
					t.Helper()
					if got := metric(t, tel, name, pipeline.SignalTraces, reason); got != want {
						t.Errorf("%s{reason=%q} = %g, want %g", name, reason, got, want)
					}
				}
				expect("outpost_exporter_send_retries_total", "", tc.retries)
				expect("outpost_exporter_sent_items_total", "", tc.sent)
				expect("outpost_exporter_sent_bytes_total", "", tc.bytes)
				expect("outpost_exporter_send_duration_seconds", "", float64(tc.attempts))
				reasons := []string{ReasonPermanent, ReasonRetriesExhausted, ReasonShutdown, ReasonRejected}
				if tc.reason != "" && !slices.Contains(reasons, tc.reason) {
					reasons = append(reasons, tc.reason) // a ReasonError's
				}
				for _, r := range reasons {
					want := 0.0
					if r == tc.reason {
						want = tc.failed
					}
					expect("outpost_exporter_failed_items_total", r, want)
				}
				mustNil(t, s.Shutdown(t.Context()))
			})
		})
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestExhaustedOnThrottleIsThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		var calls atomic.Int32
		s, _ := New(Settings{Exporter: "exp", Telemetry: tel, Retry: fastRetry(),
			Send: func(context.Context, Request) error {
				calls.Add(1)
				return pipeline.NewThrottle(errors.New("429 slow down"), 8*time.Second)
			}})
		start := time.Now()
		err := s.Send(t.Context(), Request{Signal: pipeline.SignalLogs, Items: 5})
		hint, ok := pipeline.IsThrottle(err)
		if !ok || hint != 8*time.Second {
			t.Fatalf("want throttle with the last hint, got %v (%s, %v)", err, hint, ok)
		}
		if consumererror.IsPermanent(err) {
			t.Fatal("throttle must not be permanent")
		}
		// 0, 8, 16, then the 8s hint is capped to the 4s left: 20.
		if calls.Load() != 4 || time.Since(start) != 20*time.Second {
			t.Fatalf("%d calls in %s", calls.Load(), time.Since(start))
		}
		if got := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, ReasonRetriesExhausted); got != 5 {
			t.Fatalf("failed = %g", got)
		}
	})
}

func TestShutdownDuringRetryWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		rc := fastRetry()
		rc.InitialInterval, rc.MaxInterval = time.Hour, time.Hour
		rc.MaxElapsedTime = 0
		sc := &script{errs: []error{errForever}}
		s, _ := New(Settings{Exporter: "exp", Telemetry: tel, Retry: rc, Send: sc.send})
		done := make(chan error, 1)
		go func() { done <- s.Send(context.Background(), Request{Signal: pipeline.SignalMetrics, Items: 4}) }()
		synctest.Wait() // the first attempt failed; Send is waiting an hour
		if sc.attempts() != 1 {
			t.Fatalf("attempts = %d", sc.attempts())
		}
		start := time.Now()
		mustNil(t, s.Shutdown(context.Background()))
		err := <-done
		if time.Since(start) != 0 {
			t.Fatalf("Send returned after %s", time.Since(start))
		}
		if !errors.Is(err, ErrStopped) || consumererror.IsPermanent(err) {
			t.Fatalf("want a retryable ErrStopped, got %v", err)
		}
		if got := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalMetrics, ReasonShutdown); got != 4 {
			t.Fatalf("failed{shutdown} = %g", got)
		}
		// Later sends fail at once; Shutdown is idempotent.
		if err := s.Send(context.Background(), Request{Signal: pipeline.SignalMetrics, Items: 1}); !errors.Is(err, ErrStopped) {
			t.Fatalf("send after shutdown: %v", err)
		}
		mustNil(t, s.Shutdown(context.Background()))
		if sc.attempts() != 1 {
			t.Fatalf("attempts after shutdown = %d", sc.attempts())
		}
	})
}

func TestShutdownCancelsAttemptInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{})
		s, _ := New(Settings{Exporter: "exp", Retry: fastRetry(), Send: func(ctx context.Context, _ Request) error {
			close(started)
			<-ctx.Done() // a call on the wire, cancelled
			return fmt.Errorf("rpc: %w", ctx.Err())
		}})
		done := make(chan error, 1)
		go func() { done <- s.Send(context.Background(), Request{Signal: pipeline.SignalTraces, Items: 1}) }()
		<-started
		mustNil(t, s.Shutdown(context.Background()))
		if err := <-done; !errors.Is(err, ErrStopped) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCallerContextEndsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		sc := &script{errs: []error{errForever}}
		s, _ := New(Settings{Exporter: "exp", Telemetry: tel, Retry: fastRetry(), Send: sc.send})
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		err := s.Send(ctx, Request{Signal: pipeline.SignalTraces, Items: 2})
		if !errors.Is(err, context.DeadlineExceeded) || consumererror.IsPermanent(err) {
			t.Fatalf("got %v", err)
		}
		if sc.attempts() != 2 { // at 0 and 1s; the wait for 3s is cut at 2.5s
			t.Fatalf("attempts = %d", sc.attempts())
		}
		if got := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalTraces, ReasonShutdown); got != 2 {
			t.Fatalf("failed{shutdown} = %g", got)
		}
		mustNil(t, s.Shutdown(context.Background()))
	})
}

func TestAttemptTimeoutIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		s, _ := New(Settings{Exporter: "exp", Retry: fastRetry(), Timeout: 500 * time.Millisecond,
			Send: func(ctx context.Context, _ Request) error {
				if calls.Add(1) == 1 {
					<-ctx.Done() // the far side hangs
					return ctx.Err()
				}
				if dl, ok := ctx.Deadline(); !ok || time.Until(dl) != 500*time.Millisecond {
					t.Errorf("attempt deadline %v %v", dl, ok)
				}
				return nil
			}})
		start := time.Now()
		mustNil(t, s.Send(context.Background(), Request{Signal: pipeline.SignalTraces, Items: 1}))
		if calls.Load() != 2 || time.Since(start) != 1500*time.Millisecond {
			t.Fatalf("%d calls in %s", calls.Load(), time.Since(start))
		}
	})
}

// countingHandler counts log records by level.
type countingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func TestFailureLogsAreRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &countingHandler{}
		s, _ := New(Settings{Exporter: "exp", Logger: slog.New(h), Retry: fastRetry(), LogInterval: time.Minute,
			Send: func(context.Context, Request) error { return errBad }})
		for range 100 {
			_ = s.Send(context.Background(), Request{Signal: pipeline.SignalTraces, Items: 1000})
		}
		if len(h.records) != 1 {
			t.Fatalf("%d log lines for 100 failures in one interval", len(h.records))
		}
		if !strings.Contains(fmt.Sprint(attr(h.records[0], "error")), "400 bad request") {
			t.Fatalf("log lacks the server's message: %v", h.records[0])
		}
		time.Sleep(time.Minute)
		_ = s.Send(context.Background(), Request{Signal: pipeline.SignalTraces, Items: 1})
		if len(h.records) != 2 || attr(h.records[1], "suppressed").(int64) != 99 {
			t.Fatalf("after the interval: %d lines, suppressed=%v", len(h.records), attr(h.records[len(h.records)-1], "suppressed"))
		}
		mustNil(t, s.Shutdown(context.Background()))
	})
}

func attr(r slog.Record, key string) any {
	var v any
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.Any()
			return false
		}
		return true
	})
	return v
}

func TestNewChecksSettings(t *testing.T) {
	if _, err := New(Settings{Retry: DefaultRetryConfig()}); err == nil {
		t.Error("nil Send accepted")
	}
	send := func(context.Context, Request) error { return nil }
	if _, err := New(Settings{Send: send}); err == nil || !strings.Contains(err.Error(), "initial_interval") {
		t.Errorf("zero retry config: %v", err)
	}
	if _, err := New(Settings{Send: send, Retry: DefaultRetryConfig(), Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
}
