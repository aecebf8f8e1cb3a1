package aggregateprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
)

// BenchmarkDedup measures points deduplicated per second on one core
// (dedup runs under the processor's lock): requests of 4096 series of
// one metric, as a 1 s scrape feeds a 1m dedup_interval: the window is
// emitted every 60 requests, so 1 point in 60 starts a series in its
// window and the rest replace the kept one. Each request is a fresh copy
// (the processor takes its points); the copy is not measured.
func BenchmarkDedup(b *testing.B) {
	const series = 4096
	for _, bc := range []struct {
		name string
		typ  pmetric.MetricType
	}{
		{"gauge", pmetric.MetricTypeGauge},
		{"counter", pmetric.MetricTypeSum},
		{"histogram/12_buckets", pmetric.MetricTypeHistogram},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := dedupConfig(time.Hour)
			cfg.MaxBytes = 1 << 30
			p, err := newProcessor(pipeline.Settings{}, cfg, nop)
			if err != nil {
				b.Fatal(err)
			}
			src := benchRequest(bc.typ, series, 1)
			ctx := context.Background()
			b.ReportAllocs()
			var cpu, wall time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				md := pmetric.NewMetrics()
				src.CopyTo(md)
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime(b)
				if i%60 == 0 {
					p.mu.Lock()
					p.flushDedupLocked(newEmitter(ScopeName))
					p.mu.Unlock()
				}
				if err := p.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				cpu += cpuTime(b) - cpu0
			}
			b.ReportMetric(float64(b.N)*series/wall.Seconds(), "points/s")
			b.ReportMetric(float64(b.N)*series/cpu.Seconds(), "points/cpu-s")
			b.ReportMetric(float64(wall.Nanoseconds())/float64(b.N)/series, "ns/point")
			if err := p.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkDedupStateBytesPerSeries reports what one series held by
// dedup_interval costs: as counted against max_bytes (accounted-B/series)
// and as measured on the heap (heap-B/series), for 65536 series of one
// metric with 3 resource and 3 point attributes.
func BenchmarkDedupStateBytesPerSeries(b *testing.B) {
	const series = 65536
	for _, bc := range []struct {
		name string
		typ  pmetric.MetricType
	}{
		{"gauge", pmetric.MetricTypeGauge},
		{"counter", pmetric.MetricTypeSum},
		{"histogram/12_buckets", pmetric.MetricTypeHistogram},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var accounted, heap float64
			for b.Loop() {
				b.StopTimer()
				var before, after runtime.MemStats
				// The request's points move into the state: measure from
				// before the request is built to after it is consumed and
				// dropped, so that the held points count.
				runtime.GC()
				runtime.ReadMemStats(&before)
				md := benchRequest(bc.typ, series, 1)
				cfg := dedupConfig(time.Hour)
				cfg.MaxBytes = 1 << 30
				p, err := newProcessor(pipeline.Settings{}, cfg, nop)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := p.ConsumeMetrics(context.Background(), md); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				md = pmetric.Metrics{}
				runtime.GC()
				runtime.ReadMemStats(&after)
				accounted = float64(p.bytes) / series
				heap = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / series
				runtime.KeepAlive(p)
				b.StartTimer()
			}
			b.ReportMetric(accounted, "accounted-B/series")
			b.ReportMetric(heap, "heap-B/series")
		})
	}
}
