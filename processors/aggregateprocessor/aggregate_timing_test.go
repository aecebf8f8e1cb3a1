package aggregateprocessor

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
)

// benchRequest is one request of `series` points of one metric, with
// node_exporter-like attributes: 3 on the resource, 3 on each point.
func benchRequest(typ pmetric.MetricType, series int, value float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("node.name", "edge-1")
	rm.Resource().Attributes().PutStr("service.name", "node")
	rm.Resource().Attributes().PutStr("service.instance.id", "10.0.0.1:9100")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("m")
	now := pcommon.NewTimestampFromTime(time.Now())
	attrs := func(a pcommon.Map, i int) {
		a.PutStr("cpu", fmt.Sprint(i%64))
		a.PutStr("mode", fmt.Sprint("mode", i/64%8))
		a.PutStr("device", fmt.Sprint("dev", i/512))
	}
	switch typ {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		var dps pmetric.NumberDataPointSlice
		if typ == pmetric.MetricTypeGauge {
			dps = m.SetEmptyGauge().DataPoints()
		} else {
			s := m.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = s.DataPoints()
		}
		for i := range series {
			dp := dps.AppendEmpty()
			attrs(dp.Attributes(), i)
			dp.SetTimestamp(now)
			dp.SetDoubleValue(value + float64(i))
		}
	case pmetric.MetricTypeHistogram:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i := range series {
			dp := h.DataPoints().AppendEmpty()
			attrs(dp.Attributes(), i)
			dp.SetTimestamp(now)
			dp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
			c := uint64(value)
			dp.BucketCounts().FromRaw([]uint64{c, c, c, c, c, c, c, c, c, c, c, c})
			dp.SetCount(12 * c)
			dp.SetSum(value)
		}
	}
	return md
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAggregate measures samples aggregated per second on one core
// (the processor aggregates under one lock, so this is its per-core rate):
// 4096 series per request, already known (the steady state), kept as input
// so that the request needs no copy per iteration.
func BenchmarkAggregate(b *testing.B) {
	const series = 4096
	for _, bc := range []struct {
		name    string
		typ     pmetric.MetricType
		outputs []string
	}{
		{"gauge/sum_min_max_avg_count", pmetric.MetricTypeGauge, []string{"sum", "min", "max", "avg", "count_samples", "count_series"}},
		{"gauge/quantiles", pmetric.MetricTypeGauge, []string{"quantiles(0.5, 0.99)"}},
		{"counter/total_increase", pmetric.MetricTypeSum, []string{"total", "increase"}},
		{"histogram/12_buckets", pmetric.MetricTypeHistogram, []string{"histogram"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := rules(Rule{Match: Match{MetricName: "m"}, Interval: time.Hour, By: []string{"mode"}, Outputs: bc.outputs, KeepInput: true})
			cfg.MaxBytes = 1 << 30
			p, err := newProcessor(pipeline.Settings{}, cfg, nop)
			if err != nil {
				b.Fatal(err)
			}
			md := benchRequest(bc.typ, series, 1)
			ctx := context.Background()
			if err := p.ConsumeMetrics(ctx, md); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime(b)
			for i := 0; b.Loop(); i++ {
				if i%64 == 0 && bc.outputs[0] == "quantiles(0.5, 0.99)" {
					// Quantiles keep every sample of the interval: flush now
					// and then, as the interval would.
					p.mu.Lock()
					p.flushRuleLocked(p.rules[0], newEmitter(ScopeName), time.Now())
					p.mu.Unlock()
				}
				if err := p.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
			}
			elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
			b.ReportMetric(float64(b.N)*series/elapsed.Seconds(), "samples/s")
			// On a shared machine the wall clock counts time the process
			// waited for a core; per CPU second is the per-core rate.
			b.ReportMetric(float64(b.N)*series/cpu.Seconds(), "samples/cpu-s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/series, "ns/sample")
			if err := p.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkStateBytesPerSeries reports the state each input series costs:
// as the processor counts it against max_bytes (accounted-B/series) and as
// measured on the heap (heap-B/series), for 65536 series aggregated into
// 8 groups.
func BenchmarkStateBytesPerSeries(b *testing.B) {
	const series = 65536
	for _, bc := range []struct {
		name    string
		typ     pmetric.MetricType
		outputs []string
	}{
		{"gauge", pmetric.MetricTypeGauge, []string{"sum", "max"}},
		{"counter", pmetric.MetricTypeSum, []string{"total", "increase"}},
		{"histogram", pmetric.MetricTypeHistogram, []string{"histogram"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var accounted, heap float64
			for b.Loop() {
				b.StopTimer()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				md := benchRequest(bc.typ, series, 1)
				cfg := rules(Rule{Match: Match{MetricName: "m"}, Interval: time.Hour, By: []string{"mode"}, Outputs: bc.outputs})
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
				md = pmetric.Metrics{} // the request is consumed; only the state stays
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

// nop accepts everything and keeps nothing.
var nop, _ = consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return nil })
