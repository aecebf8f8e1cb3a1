package batchprocessor

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TestDefaultsNeverCostTheTimeout: with the defaults (flush_when_idle), a
// caller waits for its batch only as long as the flush already in flight
// takes (here 30 ms, an exporter's queue append), never for the 200 ms
// timeout, under a steady stream of concurrent requests; each caller's
// latency is at most two flushes.
func TestDefaultsNeverCostTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const flush = 30 * time.Millisecond
		release := make(chan struct{})
		e := newTestBatcher(t, tracesOps, nil, func(s *sink[ptrace.Traces]) { s.block = release })
		defer e.shutdown(t)
		stop := make(chan struct{})
		go func() { // the queue: each flush takes 30 ms
			for {
				select {
				case <-stop:
					return
				case <-time.After(flush):
				}
				select {
				case release <- struct{}{}:
				case <-stop:
					return
				}
			}
		}()
		var mu sync.Mutex
		var worst time.Duration
		var wg sync.WaitGroup
		for i := range 40 { // a request every 7 ms
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 7 * time.Millisecond)
				start := time.Now()
				if err := e.b.consume(context.Background(), spans(2)); err != nil {
					t.Error(err)
				}
				mu.Lock()
				worst = max(worst, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		close(stop)
		_, sizes := e.sink.snapshot()
		t.Logf("40 requests of 2 spans every 7 ms, 30 ms per flush: batches %v, worst caller latency %v (timeout 200ms)", sizes, worst)
		if worst > 2*flush+time.Millisecond {
			t.Fatalf("a caller waited %v: more than the flush in flight and its own (%v)", worst, 2*flush)
		}
		if n := e.flushes(t, "timeout"); n != 0 {
			t.Errorf("%d flushes by timeout, want 0", n)
		}
	})
}
