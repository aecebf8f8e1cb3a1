package batchprocessor

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// testMoveItems moves every possible prefix of gen() into a batch that
// already holds other data, and checks that nothing is lost, duplicated,
// reordered or stripped of its resource, scope or metric metadata.
func testMoveItems[T any](t *testing.T, ops signalOps[T], gen func(first int) T, flatten func(T) []string) {
	total := ops.count(gen(0))
	for n := 1; n < total; n++ {
		src := gen(0)
		want := flatten(src)
		dst := gen(1000) // what the batch held already
		before := flatten(dst)

		ops.moveItems(src, dst, n)

		if got := ops.count(dst); got != len(before)+n {
			t.Fatalf("n=%d: batch has %d items, want %d", n, got, len(before)+n)
		}
		if got := ops.count(src); got != total-n {
			t.Fatalf("n=%d: %d items left, want %d", n, got, total-n)
		}
		got := append(flatten(dst)[len(before):], flatten(src)...)
		equalLines(t, "moved then left", got, want)
		equalLines(t, "batch's earlier items", flatten(dst)[:len(before)], before)
	}
}

func TestMoveItemsTraces(t *testing.T) {
	testMoveItems(t, tracesOps, func(first int) ptrace.Traces { return genTraces(3, 2, 4, first) }, flattenTraces)
}

func TestMoveItemsLogs(t *testing.T) {
	testMoveItems(t, logsOps, func(first int) plog.Logs { return genLogs(3, 2, 4, first) }, flattenLogs)
}

func TestMoveItemsMetrics(t *testing.T) {
	testMoveItems(t, metricsOps, func(first int) pmetric.Metrics { return genMetrics(2, 2, 3, first) }, flattenMetrics)
}

// testSplitThroughBatcher sends one request larger than
// send_batch_max_size and checks the batches the next consumer gets.
func testSplitThroughBatcher[T any](t *testing.T, ops signalOps[T], data T, flatten func(T) []string, maxSize int, wantSizes []int) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestBatcher(t, ops, func(c *Config) {
			c.SendBatchSize, c.SendBatchMaxSize = maxSize, maxSize
			c.FlushWhenIdle = false
			c.MaxInFlight = 1 // batches arrive in order
		}, nil)
		defer e.shutdown(t)
		want := flatten(data)
		start := time.Now()
		if err := e.b.consume(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		// The last part waits for the timeout; the caller waits for it too.
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("caller waited %s, want 200ms", got)
		}
		_, sizes := e.sink.snapshot()
		if !slices.Equal(sizes, wantSizes) {
			t.Fatalf("batch sizes %v, want %v", sizes, wantSizes)
		}
		var got []string
		for _, d := range e.sink.batches {
			got = append(got, flatten(d)...)
		}
		equalLines(t, "batches", got, want)
		if n := e.flushes(t, "size"); n != len(wantSizes)-1 {
			t.Errorf("size flushes %d, want %d", n, len(wantSizes)-1)
		}
		if n := e.flushes(t, "timeout"); n != 1 {
			t.Errorf("timeout flushes %d, want 1", n)
		}
	})
}

func TestSplitTraces(t *testing.T) {
	testSplitThroughBatcher(t, tracesOps, genTraces(3, 2, 6, 0), flattenTraces, 10, []int{10, 10, 10, 6})
}

func TestSplitLogs(t *testing.T) {
	testSplitThroughBatcher(t, logsOps, genLogs(2, 3, 5, 0), flattenLogs, 7, []int{7, 7, 7, 7, 2})
}

func TestSplitMetrics(t *testing.T) {
	testSplitThroughBatcher(t, metricsOps, genMetrics(2, 2, 3, 0), flattenMetrics, 25, []int{25, 25, 10})
}
