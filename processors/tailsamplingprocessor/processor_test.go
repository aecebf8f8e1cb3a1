package tailsamplingprocessor

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

	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func consume(t *testing.T, p *processor, td ptrace.Traces) {
	t.Helper()
	if err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
}

// TestDecisionWaitAndLateSpans: nothing leaves before decision_wait; then
// the error trace leaves whole and the other is dropped; late spans follow
// the decision at once.
func TestDecisionWaitAndLateSpans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &sink{}
		cfg := configWith(errorsPolicy())
		cfg.DecisionWait = 5 * time.Second
		p, tel := newTest(t, cfg, next, nil)
		if err := p.Start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		defer p.Shutdown(context.Background())

		consume(t, p, request(nil, spanSpec{trace: 1, name: "a1"}, spanSpec{trace: 2, name: "b1"}))
		time.Sleep(2 * time.Second)
		consume(t, p, request(nil, spanSpec{trace: 1, name: "a2", status: ptrace.StatusCodeError}, spanSpec{trace: 2, name: "b2"}))
		time.Sleep(2900 * time.Millisecond)
		synctest.Wait()
		if n := next.count(); n != 0 {
			t.Fatalf("%d spans left before decision_wait", n)
		}
		if c := checkBalance(t, tel); c.held != 4 {
			t.Fatalf("held %v, want 4", c.held)
		}
		time.Sleep(p.tick + 100*time.Millisecond)
		synctest.Wait()
		if got := next.names(traceID(1)); !slices.Equal(got, []string{"a1", "a2"}) {
			t.Fatalf("error trace: %v, want [a1 a2]", got)
		}
		if got := next.names(traceID(2)); len(got) != 0 {
			t.Fatalf("ok trace passed: %v", got)
		}
		// Late spans: after the decision.
		consume(t, p, request(nil, spanSpec{trace: 1, name: "a3"}, spanSpec{trace: 2, name: "b3"}, spanSpec{trace: 2, name: "b4"}))
		if got := next.names(traceID(1)); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
			t.Fatalf("late span of the sampled trace: %v, want [a1 a2 a3]", got)
		}
		c := checkBalance(t, tel)
		if c.sampled != 3 || c.notSampled != 2 || c.late != 2 || c.lateSampled != 1 || c.lateNotSampled != 2 || c.held != 0 {
			t.Fatalf("counts %+v", c)
		}
		if decisions(tel, "sampled", triggerWait) != 1 || decisions(tel, "not_sampled", triggerWait) != 1 {
			t.Fatal("decisions not counted under decision_wait")
		}
	})
}

// TestNoCacheLateSpansStartOver: without a decision cache a late span is a
// new trace, decided after its own decision_wait.
func TestNoCacheLateSpansStartOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &sink{}
		cfg := configWith(errorsPolicy())
		cfg.DecisionWait = time.Second
		cfg.DecisionCache = DecisionCacheConfig{}
		p, tel := newTest(t, cfg, next, nil)
		_ = p.Start(context.Background(), nil)
		defer p.Shutdown(context.Background())
		consume(t, p, request(nil, spanSpec{trace: 1, name: "a1", status: ptrace.StatusCodeError}))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		consume(t, p, request(nil, spanSpec{trace: 1, name: "a2"}))
		if c := checkBalance(t, tel); c.held != 1 || c.sampled != 1 {
			t.Fatalf("counts %+v: want the late span held as a new trace", c)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if c := checkBalance(t, tel); c.notSampled != 1 {
			t.Fatalf("counts %+v: the late span alone has no error and is not sampled", c)
		}
	})
}

// TestEarlyDecisionNumTraces: past num_traces the oldest traces are
// decided early, on what has arrived, and never dropped whole.
func TestEarlyDecisionNumTraces(t *testing.T) {
	next := &sink{}
	cfg := configWith(policy("all", AlwaysSample, nil))
	cfg.NumTraces = 4
	p, tel := newTest(t, cfg, next, nil)
	for i := range uint64(100) {
		consume(t, p, request(nil, spanSpec{trace: i, name: "x"}, spanSpec{trace: i, name: "y"}))
		c := checkBalance(t, tel)
		if c.held > 2*4 {
			t.Fatalf("after %d traces %v spans held, more than num_traces allows", i+1, c.held)
		}
	}
	early := decisions(tel, "sampled", triggerNumTraces)
	if early < 96 {
		t.Fatalf("%v early decisions, want ≥ 96", early)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := checkBalance(t, tel)
	if c.sampled != 200 || c.held != 0 || next.count() != 200 {
		t.Fatalf("counts %+v, next got %d: every span of every (sampled) trace must pass", c, next.count())
	}
	for i := range uint64(100) {
		if got := next.names(traceID(i)); !slices.Equal(got, []string{"x", "y"}) {
			t.Fatalf("trace %d: %v, want whole", i, got)
		}
	}
}

// TestEarlyDecisionMaxBytes: the bytes held never pass max_bytes; the
// oldest traces are decided early instead.
func TestEarlyDecisionMaxBytes(t *testing.T) {
	next := &sink{}
	cfg := configWith(errorsPolicy())
	cfg.MaxBytes = 64 << 10
	p, tel := newTest(t, cfg, next, nil)
	for i := range uint64(2000) {
		status := ptrace.StatusCodeUnset
		if i%10 == 0 {
			status = ptrace.StatusCodeError
		}
		consume(t, p, request(map[string]any{"host": "h"},
			spanSpec{trace: i, name: "a", status: status, attrs: map[string]any{"k": "some value of a size"}},
			spanSpec{trace: i, name: "b"}))
		if b := stateBytes(p); b > int64(cfg.MaxBytes) {
			t.Fatalf("state %d bytes > max_bytes %d", b, cfg.MaxBytes)
		}
	}
	if decisions(tel, "not_sampled", triggerMaxBytes) == 0 || decisions(tel, "sampled", triggerMaxBytes) == 0 {
		t.Fatal("no early decisions at max_bytes")
	}
	_ = p.Shutdown(context.Background())
	c := checkBalance(t, tel)
	if c.sampled != 400 || c.notSampled != 3600 {
		t.Fatalf("counts %+v: want 200 error traces of 2 spans sampled whole, the rest dropped", c)
	}
	for i := uint64(0); i < 2000; i += 10 {
		if n := len(next.names(traceID(i))); n != 2 {
			t.Fatalf("error trace %d: %d spans, want 2", i, n)
		}
	}
}

func stateBytes(p *processor) int64 {
	var n int64
	for _, sh := range p.shards {
		sh.mu.Lock()
		n += sh.bytes
		sh.mu.Unlock()
	}
	return n
}

// TestMemoryLimit: held spans are charged to memory_limit; when it has no
// room the oldest traces are decided early, and every byte is given back.
func TestMemoryLimit(t *testing.T) {
	next := &sink{}
	cfg := configWith(policy("all", AlwaysSample, nil))
	cfg.MaxBytes = 1 << 30
	mem := memlimit.New(1<<20, nil) // capacity 512KiB for everything in flight
	p, tel := newTest(t, cfg, next, mem)
	for i := range uint64(5000) {
		consume(t, p, request(nil, spanSpec{trace: i, name: "a", attrs: map[string]any{"k": "v"}}))
		if got := mem.InFlight(); got != stateBytes(p) || got > mem.Capacity() {
			t.Fatalf("in flight %d, state %d, capacity %d", got, stateBytes(p), mem.Capacity())
		}
	}
	if decisions(tel, "sampled", triggerMemoryLimit) == 0 {
		t.Fatal("no early decision at memory_limit")
	}
	// Another request in flight now finds the room the processor holds
	// taken: the charge is real.
	if _, err := mem.Admit(mem.Capacity() - mem.InFlight() + 1); !errors.Is(err, memlimit.ErrLimit) && !errors.Is(err, memlimit.ErrTooLarge) {
		t.Fatalf("admission past the held bytes: %v", err)
	}
	_ = p.Shutdown(context.Background())
	if mem.InFlight() != 0 {
		t.Fatalf("%d bytes still charged after Shutdown", mem.InFlight())
	}
	if c := checkBalance(t, tel); c.sampled != 5000 {
		t.Fatalf("counts %+v", c)
	}
}

// TestRefusedHandOff: sampled spans the next consumer refuses with a
// retryable error are kept and sent again, in order, and new spans are
// refused (back-pressure) meanwhile; a permanent refusal drops them.
func TestRefusedHandOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		full := consumererror.NewRetryableError(errors.New("queue full"))
		var accept atomic.Bool
		next := &sink{errFor: func(int) error {
			if accept.Load() {
				return nil
			}
			return full
		}}
		cfg := configWith(policy("all", AlwaysSample, nil))
		cfg.DecisionWait = time.Second
		cfg.NumTraces = 1
		p, tel := newTest(t, cfg, next, nil)
		_ = p.Start(context.Background(), nil)
		defer p.Shutdown(context.Background())
		consume(t, p, request(nil, spanSpec{trace: 1, name: "a"}, spanSpec{trace: 1, name: "b"}))
		// The second trace decides the first early; its hand-off is
		// refused and kept; the caller's own spans are held.
		consume(t, p, request(nil, spanSpec{trace: 2, name: "c"}))
		if err := p.ConsumeTraces(context.Background(), request(nil, spanSpec{trace: 3})); !errors.Is(err, errBackPressure) {
			t.Fatalf("while refused spans wait: %v, want back-pressure", err)
		}
		time.Sleep(2 * time.Second) // retries fail; trace 2 is decided and kept too
		synctest.Wait()
		if c := checkBalance(t, tel); c.held != 3 || c.refused != 0 || c.sampled != 0 || c.received != 3 {
			t.Fatalf("counts %+v", c)
		}
		accept.Store(true)
		time.Sleep(time.Second)
		synctest.Wait()
		if c := checkBalance(t, tel); c.held != 0 || c.sampled != 3 {
			t.Fatalf("counts %+v after the next consumer recovered", c)
		}
		if got := next.names(traceID(1)); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("trace 1: %v", got)
		}
		consume(t, p, request(nil, spanSpec{trace: 4}))
	})
}

func TestRefusedPermanentAndBounded(t *testing.T) {
	t.Run("permanent", func(t *testing.T) {
		next := &sink{errFor: func(int) error { return consumererror.NewPermanent(errors.New("bad data")) }}
		cfg := configWith(policy("all", AlwaysSample, nil))
		cfg.NumTraces = 1
		p, tel := newTest(t, cfg, next, nil)
		consume(t, p, request(nil, spanSpec{trace: 1}, spanSpec{trace: 1}))
		consume(t, p, request(nil, spanSpec{trace: 2}))
		if c := checkBalance(t, tel); c.refused != 2 || c.held != 1 {
			t.Fatalf("counts %+v", c)
		}
		_ = p.Shutdown(context.Background())
		if c := checkBalance(t, tel); c.refused != 3 {
			t.Fatalf("counts %+v", c)
		}
	})
	t.Run("bounded by max_bytes", func(t *testing.T) {
		next := &sink{errFor: func(int) error { return errors.New("down") }}
		cfg := configWith(policy("all", AlwaysSample, nil))
		cfg.NumTraces = 1
		cfg.MaxBytes = 4 << 10
		p, tel := newTest(t, cfg, next, nil)
		consume(t, p, request(nil, spanSpec{trace: 0}))
		for i := range uint64(50) {
			// Each request decides the held trace early and its
			// refused spans join those kept. The back-pressure flag
			// is lowered to let the next request in, as a retry
			// would between requests.
			p.backlogged.Store(false)
			consume(t, p, request(nil, spanSpec{trace: i + 1, attrs: map[string]any{"pad": "0123456789012345678901234567890123456789"}}))
		}
		p.pendMu.Lock()
		pend := p.pendBytes
		p.pendMu.Unlock()
		if pend > int64(cfg.MaxBytes) {
			t.Fatalf("%d bytes of refused spans kept, max_bytes %d", pend, cfg.MaxBytes)
		}
		if c := checkBalance(t, tel); c.refused == 0 {
			t.Fatalf("counts %+v: the oldest refused spans were not dropped", c)
		}
		_ = p.Shutdown(context.Background())
		checkBalance(t, tel)
	})
}

// TestShutdown: held traces are decided at Shutdown; later calls are
// refused with a retryable error.
func TestShutdown(t *testing.T) {
	next := &sink{}
	p, tel := newTest(t, configWith(errorsPolicy()), next, nil)
	if err := p.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	consume(t, p, request(nil, spanSpec{trace: 1, status: ptrace.StatusCodeError}, spanSpec{trace: 2}))
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	c := checkBalance(t, tel)
	if c.sampled != 1 || c.notSampled != 1 || decisions(tel, "sampled", triggerShutdown) != 1 {
		t.Fatalf("counts %+v", c)
	}
	err := p.ConsumeTraces(context.Background(), request(nil, spanSpec{trace: 3}))
	if err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("after Shutdown: %v, want retryable", err)
	}
	if checkBalance(t, tel).received != 2 {
		t.Fatal("a refused request was counted received")
	}
}

// TestShutdownRefused: what the final hand-off cannot deliver is counted
// (shutdown) and returned.
func TestShutdownRefused(t *testing.T) {
	next := &sink{errFor: func(int) error { return errors.New("down") }}
	p, tel := newTest(t, configWith(policy("all", AlwaysSample, nil)), next, nil)
	consume(t, p, request(nil, spanSpec{trace: 1}, spanSpec{trace: 1}))
	if err := p.Shutdown(context.Background()); err == nil {
		t.Fatal("nil error, want the refusal")
	}
	if c := checkBalance(t, tel); c.shutdown != 2 {
		t.Fatalf("counts %+v", c)
	}
}

func TestDecisionCacheEvicts(t *testing.T) {
	c := newDecisionCache(2, 1)
	c.put(traceID(1), true)
	c.put(traceID(2), true)
	c.put(traceID(3), false)
	c.put(traceID(4), true)  // evicts 1
	c.put(traceID(5), false) // evicts 3
	for id, want := range map[uint64]int{1: -1, 2: 1, 3: -1, 4: 1, 5: 0} {
		keep, ok := c.get(traceID(id))
		got := -1
		if ok {
			got = 0
			if keep {
				got = 1
			}
		}
		if got != want {
			t.Errorf("trace %d: %d, want %d", id, got, want)
		}
	}
	if c.len() != 3 {
		t.Errorf("len %d, want 3", c.len())
	}
}

// TestQueueStaysBounded: in steady state (traces decided as fast as they
// come) a shard's arrival queue does not grow with the traces seen.
func TestQueueStaysBounded(t *testing.T) {
	cfg := configWith(policy("all", AlwaysSample, nil))
	cfg.NumTraces = 16
	p, _ := newTest(t, cfg, &sink{}, nil)
	for i := range uint64(20000) {
		consume(t, p, request(nil, spanSpec{trace: i}))
	}
	for i, sh := range p.shards {
		if cap(sh.queue) > 64 {
			t.Errorf("shard %d: queue capacity %d after 20000 traces, holding %d", i, cap(sh.queue), len(sh.traces))
		}
	}
	_ = p.Shutdown(context.Background())
}

// TestConcurrentConsumeAndShutdown: calls racing with Shutdown either are
// refused or have every span accounted for once Shutdown returns.
func TestConcurrentConsumeAndShutdown(t *testing.T) {
	next := &sink{}
	cfg := configWith(policy("all", AlwaysSample, nil))
	p, tel := newTest(t, cfg, next, nil)
	_ = p.Start(context.Background(), nil)
	var wg sync.WaitGroup
	for w := range uint64(4) {
		wg.Go(func() {
			for i := range uint64(200) {
				_ = p.ConsumeTraces(context.Background(), request(nil, spanSpec{trace: w<<32 | i}, spanSpec{trace: w<<32 | i}))
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	c := checkBalance(t, tel)
	if c.held != 0 || c.sampled != c.received || int(c.sampled) != next.count() {
		t.Fatalf("counts %+v, next got %d", c, next.count())
	}
}
