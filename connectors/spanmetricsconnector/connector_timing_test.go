package spanmetricsconnector

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchTraces is a batch of n spans from 4 services, 25 span names, 2
// kinds, 3 status codes and an http.method dimension: 600 series.
func benchTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	methods := []string{"GET", "POST"}
	for svc := range 4 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", svc))
		rs.Resource().Attributes().PutStr("host.name", "edge-1")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range n / 4 {
			sp := spans.AppendEmpty()
			sp.SetName(fmt.Sprintf("op-%d", i%25))
			sp.SetKind(ptrace.SpanKind(1 + i%2))
			sp.Status().SetCode(ptrace.StatusCode(i % 3))
			sp.SetTraceID(pcommon.TraceID{byte(i), byte(i >> 8), 1})
			sp.SetSpanID(pcommon.SpanID{byte(i), 2})
			start := epoch.Add(time.Duration(i) * time.Microsecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i%1000) * 37 * time.Microsecond)))
			sp.Attributes().PutStr("http.method", methods[i%2])
			sp.Attributes().PutInt("http.status_code", 200)
		}
	}
	return td
}

// BenchmarkConsumeTraces measures the connector's hot path: counting a
// batch of 1000 spans into existing series (one op is one batch). It
// reports spans/s on one goroutine (per core) and allocations per span.
func BenchmarkConsumeTraces(b *testing.B) {
	const batch = 1000
	for _, bc := range []struct {
		name string
		edit func(*Config)
	}{
		{"explicit", func(*Config) {}},
		{"exponential", func(c *Config) { c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 160} }},
		{"explicit+exemplars", func(c *Config) { c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 5} }},
		{"no-histogram", func(c *Config) { c.Histogram.Disable = true }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, func(c *Config) {
				c.Dimensions = []Dimension{{Name: "http.method"}}
				bc.edit(c)
			}, nil)
			td := benchTraces(batch)
			sz, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			b.SetBytes(int64(len(sz)))
			ctx := context.Background()
			_ = e.k.ConsumeTraces(ctx, td) // series exist: measure the steady state
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = e.k.ConsumeTraces(ctx, td)
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			spans := float64(b.N) * batch
			b.ReportMetric(spans/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/spans, "allocs/span")
			if got := e.k.nSeries; got != 600 {
				b.Fatalf("%d series, want 600", got)
			}
		})
	}
}

// BenchmarkFlush measures building the metrics of 600 series (one op is
// one flush, cumulative).
func BenchmarkFlush(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.Dimensions = []Dimension{{Name: "http.method"}} }, nil)
	_ = e.k.ConsumeTraces(context.Background(), benchTraces(1000))
	b.ReportAllocs()
	for b.Loop() {
		e.k.mu.Lock()
		md, _ := e.k.buildLocked(pcommon.NewTimestampFromTime(epoch))
		e.k.mu.Unlock()
		if md.DataPointCount() != 1200 {
			b.Fatalf("%d points", md.DataPointCount())
		}
	}
}
