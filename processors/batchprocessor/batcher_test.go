package batchprocessor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func spans(n int) ptrace.Traces { return genTraces(1, 1, n, 0) }

func TestSizeTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, func(c *Config) {
			c.SendBatchSize = 10
			c.FlushWhenIdle = false
			c.Timeout = time.Hour
		}, nil)
		defer e.shutdown(t)

		var callers []func() result
		for range 4 {
			callers = append(callers, goConsume(t.Context(), e.b, spans(2)))
		}
		synctest.Wait()
		if calls, _ := e.sink.snapshot(); calls != 0 {
			t.Fatalf("flushed %d batches with 8 of 10 items", calls)
		}
		for i, c := range callers {
			if c().done {
				t.Fatalf("caller %d returned before its batch was sent", i)
			}
		}
		callers = append(callers, goConsume(t.Context(), e.b, spans(2)))
		synctest.Wait()
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{10}) {
			t.Fatalf("batches %v, want [10]", sizes)
		}
		for i, c := range callers {
			if r := c(); !r.done || r.err != nil {
				t.Errorf("caller %d: %+v, want done without error", i, r)
			}
		}
		if n := e.flushes(t, "size"); n != 1 {
			t.Errorf("size flushes = %d, want 1", n)
		}
		if sum, count := e.batchSizeSum(t); sum != 10 || count != 1 {
			t.Errorf("batch size histogram sum=%v count=%d, want 10 and 1", sum, count)
		}
	})
}

func TestTimeoutTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, func(c *Config) {
			c.SendBatchSize = 100
			c.FlushWhenIdle = false
			c.Timeout = 200 * time.Millisecond
		}, nil)
		defer e.shutdown(t)

		start := time.Now()
		first := goConsume(t.Context(), e.b, spans(3))
		time.Sleep(150 * time.Millisecond)
		second := goConsume(t.Context(), e.b, spans(4)) // joins the same batch
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if calls, _ := e.sink.snapshot(); calls != 0 || first().done {
			t.Fatalf("flushed before the timeout: %d batches", calls)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{7}) {
			t.Fatalf("batches %v, want [7]", sizes)
		}
		if r1, r2 := first(), second(); !r1.done || r1.err != nil || !r2.done || r2.err != nil {
			t.Fatalf("callers: %+v %+v", r1, r2)
		}
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("flushed after %s, want 200ms (timeout counts from the oldest item)", got)
		}
		if n := e.flushes(t, "timeout"); n != 1 {
			t.Errorf("timeout flushes = %d, want 1", n)
		}

		// A sequential caller without flush_when_idle waits the timeout
		// on every request: the reason flush_when_idle exists.
		start = time.Now()
		if err := e.b.consume(t.Context(), spans(1)); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("sequential request took %s, want 200ms", got)
		}
	})
}

func TestIdleTrigger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, nil, nil) // defaults: flush_when_idle, 200ms, 8192
		defer e.shutdown(t)

		start := time.Now()
		for i := range 5 {
			if err := e.b.consume(t.Context(), spans(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("5 sequential requests took %s, want no delay", got)
		}
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{1, 2, 3, 4, 5}) {
			t.Errorf("batches %v, want one per request", sizes)
		}
		if n := e.flushes(t, "idle"); n != 5 {
			t.Errorf("idle flushes = %d, want 5", n)
		}
	})
}

// TestGroupCommit checks that requests arriving while a flush is in flight
// gather into the next batch, sent as soon as that flush ends.
func TestGroupCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		e := newTestBatcher(t, tracesOps, nil, func(s *sink[ptrace.Traces]) { s.block = release })
		defer e.shutdown(t)

		first := goConsume(t.Context(), e.b, spans(1))
		synctest.Wait() // first batch in flight, blocked
		var rest []func() result
		for range 3 {
			rest = append(rest, goConsume(t.Context(), e.b, spans(10)))
		}
		synctest.Wait()
		if calls, _ := e.sink.snapshot(); calls != 1 {
			t.Fatalf("%d flushes in flight, want 1 (the others wait for it to end)", calls)
		}
		release <- struct{}{}
		synctest.Wait()
		if r := first(); !r.done || r.err != nil {
			t.Fatalf("first caller: %+v", r)
		}
		release <- struct{}{}
		synctest.Wait()
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{1, 30}) {
			t.Fatalf("batches %v, want [1 30]", sizes)
		}
		for i, c := range rest {
			if r := c(); !r.done || r.err != nil {
				t.Errorf("caller %d: %+v", i, r)
			}
		}
		if n := e.flushes(t, "idle"); n != 2 {
			t.Errorf("idle flushes = %d, want 2", n)
		}
		close(release)
	})
}

func TestShutdownFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, func(c *Config) {
			c.FlushWhenIdle = false
			c.Timeout = time.Hour
		}, nil)
		caller := goConsume(t.Context(), e.b, spans(5))
		synctest.Wait()
		if calls, _ := e.sink.snapshot(); calls != 0 {
			t.Fatalf("flushed early")
		}
		if err := e.b.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if r := caller(); !r.done || r.err != nil {
			t.Fatalf("caller: %+v", r)
		}
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{5}) {
			t.Fatalf("batches %v, want [5]", sizes)
		}
		if n := e.flushes(t, "shutdown"); n != 1 {
			t.Errorf("shutdown flushes = %d, want 1", n)
		}

		err := e.b.consume(t.Context(), spans(1))
		if !errors.Is(err, errShutdown) || consumererror.IsPermanent(err) {
			t.Errorf("consume after Shutdown: %v, want retryable errShutdown", err)
		}
		var ce *consumererror.Error
		if !errors.As(err, &ce) || !ce.IsRetryable() {
			t.Errorf("consume after Shutdown: %v is not marked retryable", err)
		}
		if err := e.b.Shutdown(t.Context()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})
}

func TestShutdownWithoutStart(t *testing.T) {
	b, err := newBatcher(testSettings(), createDefaultConfig(), tracesOps, newSink(tracesOps).consume)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.consume(t.Context(), spans(1)); !errors.Is(err, errShutdown) {
		t.Errorf("consume: %v, want errShutdown", err)
	}
}

// TestShutdownDeadline: the next consumer never returns on its own, so
// Shutdown's deadline passes; every waiter gets a retryable error and the
// running send is cancelled.
func TestShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, func(c *Config) { c.MaxInFlight = 1 },
			func(s *sink[ptrace.Traces]) { s.block = make(chan struct{}) })
		inFlight := goConsume(t.Context(), e.b, spans(1))
		synctest.Wait()
		pending := goConsume(t.Context(), e.b, spans(2))
		synctest.Wait()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := e.b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want deadline exceeded", err)
		}
		synctest.Wait()
		for name, c := range map[string]func() result{"in flight": inFlight, "pending": pending} {
			r := c()
			if !r.done || !errors.Is(r.err, errAborted) || consumererror.IsPermanent(r.err) {
				t.Errorf("%s caller: %+v, want retryable errAborted", name, r)
			}
		}
		if calls, _ := e.sink.snapshot(); calls != 1 {
			t.Errorf("%d sends, want 1 (the pending batch is not sent after the deadline)", calls)
		}
		// The workers have exited: synctest.Test fails if any goroutine
		// is left blocked.
	})
}

func TestErrorReachesEveryCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := consumererror.NewPermanent(errors.New("boom"))
		e := newTestBatcher(t, tracesOps, func(c *Config) {
			c.SendBatchSize = 10
			c.FlushWhenIdle = false
		}, func(s *sink[ptrace.Traces]) { s.errFor = func(int) error { return boom } })
		defer e.shutdown(t)

		var callers []func() result
		for range 5 {
			callers = append(callers, goConsume(t.Context(), e.b, spans(2)))
		}
		synctest.Wait()
		for i, c := range callers {
			r := c()
			if !r.done || !errors.Is(r.err, boom) || !consumererror.IsPermanent(r.err) {
				t.Errorf("caller %d: %+v, want the permanent error", i, r)
			}
		}
	})
}

// TestSplitRequestGetsFirstError: a request split over three batches
// waits for all of them and returns the first failure.
func TestSplitRequestGetsFirstError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		errSecond, errThird := errors.New("second"), errors.New("third")
		e := newTestBatcher(t, tracesOps, func(c *Config) {
			c.SendBatchSize, c.SendBatchMaxSize = 10, 10
			c.MaxInFlight = 1
		}, func(s *sink[ptrace.Traces]) {
			s.errFor = func(call int) error {
				return [...]error{nil, errSecond, errThird}[call]
			}
		})
		defer e.shutdown(t)
		if err := e.b.consume(t.Context(), spans(25)); !errors.Is(err, errSecond) {
			t.Fatalf("consume: %v, want %v", err, errSecond)
		}
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{10, 10, 5}) {
			t.Fatalf("batches %v", sizes)
		}
	})
}

func TestConcurrentCallers(t *testing.T) {
	const (
		goroutines = 32
		requests   = 200
		maxSize    = 100
	)
	e := newTestBatcher(t, tracesOps, func(c *Config) {
		c.SendBatchSize = 64
		c.SendBatchMaxSize = maxSize
		c.Timeout = 5 * time.Millisecond
	}, nil)
	var (
		wg   sync.WaitGroup
		sent atomic.Int64
	)
	for g := range goroutines {
		wg.Go(func() {
			for r := range requests {
				n := 1 + (g*requests+r)%37
				if err := e.b.consume(context.Background(), spans(n)); err != nil {
					t.Errorf("consume: %v", err)
					return
				}
				sent.Add(int64(n))
			}
		})
	}
	wg.Wait()
	e.shutdown(t)

	if got := e.sink.total(); int64(got) != sent.Load() {
		t.Errorf("next consumer got %d spans, callers sent %d", got, sent.Load())
	}
	_, sizes := e.sink.snapshot()
	if slices.Max(sizes) > maxSize {
		t.Errorf("a batch of %d exceeds send_batch_max_size %d", slices.Max(sizes), maxSize)
	}
	if sum, count := e.batchSizeSum(t); int64(sum) != sent.Load() || int(count) != len(sizes) {
		t.Errorf("histogram sum=%v count=%d, want %d and %d", sum, count, sent.Load(), len(sizes))
	}
	t.Logf("%d spans in %d batches (mean %.1f)", sent.Load(), len(sizes), float64(sent.Load())/float64(len(sizes)))
}

// TestBackPressure: with the next consumer stuck, the processor holds at
// most max_in_flight batches being sent plus one full pending batch;
// everyone else waits, and a waiter's context still works.
func TestBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		e := newTestBatcher(t, tracesOps, func(c *Config) {
			c.SendBatchSize, c.SendBatchMaxSize = 10, 10
			c.MaxInFlight = 2
		}, func(s *sink[ptrace.Traces]) { s.block = release })
		defer e.shutdown(t)

		var callers []func() result
		for range 20 {
			callers = append(callers, goConsume(t.Context(), e.b, spans(10)))
			synctest.Wait()
		}
		calls, _ := e.sink.snapshot()
		e.b.mu.Lock()
		pending, active := e.b.pendingItemsLocked(), e.b.active
		e.b.mu.Unlock()
		if calls != 2 || pending != 10 {
			t.Fatalf("%d sends in flight and %d items pending, want 2 and 10", calls, pending)
		}
		if active != 17 {
			t.Errorf("%d callers blocked adding items, want 17", active)
		}
		for i, c := range callers {
			if c().done {
				t.Fatalf("caller %d returned while the next consumer is stuck", i)
			}
		}

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		if err := e.b.consume(ctx, spans(10)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocked consume: %v, want deadline exceeded", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("blocked consume returned after %s, want 1s", got)
		}

		close(release)
		synctest.Wait()
		for i, c := range callers {
			if r := c(); !r.done || r.err != nil {
				t.Errorf("caller %d: %+v", i, r)
			}
		}
		if got := e.sink.total(); got != 200 {
			t.Errorf("next consumer got %d spans, want 200", got)
		}
	})
}

// TestCancelledWaiter: a caller that gives up gets ctx.Err(), and its
// items are still sent (at-least-once).
func TestCancelledWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, func(c *Config) { c.FlushWhenIdle = false }, nil)
		defer e.shutdown(t)

		ctx, cancel := context.WithCancel(t.Context())
		caller := goConsume(ctx, e.b, spans(3))
		time.Sleep(50 * time.Millisecond)
		cancel()
		synctest.Wait()
		if r := caller(); !r.done || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("caller: %+v, want context.Canceled", r)
		}
		if calls, _ := e.sink.snapshot(); calls != 0 {
			t.Fatal("flushed early")
		}
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		if _, sizes := e.sink.snapshot(); !slices.Equal(sizes, []int{3}) {
			t.Fatalf("batches %v, want the cancelled caller's 3 spans", sizes)
		}

		if err := e.b.consume(ctx, spans(1)); !errors.Is(err, context.Canceled) {
			t.Errorf("consume with a cancelled context: %v", err)
		}
	})
}

func TestReadOnlyInputIsCopied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, nil, nil)
		defer e.shutdown(t)
		td := spans(4)
		td.MarkReadOnly()
		if err := e.b.consume(t.Context(), td); err != nil {
			t.Fatal(err)
		}
		if td.SpanCount() != 4 || e.sink.total() != 4 {
			t.Errorf("input has %d spans, sink %d; want 4 and 4", td.SpanCount(), e.sink.total())
		}
	})
}

func TestEmptyRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, tracesOps, nil, nil)
		defer e.shutdown(t)
		td := ptrace.NewTraces()
		td.ResourceSpans().AppendEmpty()
		if err := e.b.consume(t.Context(), td); err != nil {
			t.Fatal(err)
		}
		if calls, _ := e.sink.snapshot(); calls != 0 {
			t.Errorf("%d flushes for an empty request", calls)
		}
	})
}
