package batchprocessor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// BenchmarkBatchTraces sends 100-span requests from 4×GOMAXPROCS
// goroutines through a batcher into a next consumer that only counts.
// Each request is a fresh copy of a template (the callee owns what it is
// given), so allocations include that copy; "copy_only" measures it alone.
// items/batch shows group commit at work: batches grow when the next
// consumer is slower.
func BenchmarkBatchTraces(b *testing.B) {
	const spansPerRequest = 100
	template := genTraces(2, 2, spansPerRequest/4, 0)
	size := (&ptrace.ProtoMarshaler{}).TracesSize(template)

	b.Run("copy_only", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(size))
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				td := ptrace.NewTraces()
				template.CopyTo(td)
			}
		})
	})

	for _, bc := range []struct {
		name  string
		edit  func(*Config)
		delay time.Duration // per flush, as a disk queue append might take
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "max_in_flight=1", edit: func(c *Config) { c.MaxInFlight = 1 }},
		{name: "size=max=256", edit: func(c *Config) {
			c.SendBatchSize, c.SendBatchMaxSize, c.FlushWhenIdle = 256, 256, false
		}},
		{name: "next_takes_100us", edit: func(*Config) {}, delay: 100 * time.Microsecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := createDefaultConfig()
			bc.edit(cfg)
			var items, batches atomic.Int64
			next := func(_ context.Context, td ptrace.Traces) error {
				if bc.delay > 0 {
					time.Sleep(bc.delay)
				}
				items.Add(int64(td.SpanCount()))
				batches.Add(1)
				return nil
			}
			bt, err := newBatcher(testSettings(), cfg, tracesOps, next)
			if err != nil {
				b.Fatal(err)
			}
			if err := bt.Start(context.Background(), nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					td := ptrace.NewTraces()
					template.CopyTo(td)
					if err := bt.consume(ctx, td); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if err := bt.Shutdown(context.Background()); err != nil {
				b.Fatal(err)
			}
			if got, want := items.Load(), int64(b.N)*spansPerRequest; got != want {
				b.Fatalf("next consumer got %d spans, want %d", got, want)
			}
			b.ReportMetric(float64(items.Load())/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64(items.Load())/float64(batches.Load()), "items/batch")
		})
	}
}
