package tailsamplingprocessor

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// benchRequest is a request of traces × spans spans with a few attributes
// each, 1 trace in 10 with an error; base numbers the traces.
func benchRequest(base uint64, traces, spans int) ptrace.Traces {
	var specs []spanSpec
	for i := range traces {
		for j := range spans {
			sp := spanSpec{trace: base + uint64(i), name: "GET /api/orders", dur: time.Duration(j+1) * time.Millisecond,
				attrs: map[string]any{"http.request.method": "GET", "http.response.status_code": 200, "url.path": "/api/orders/12345"}}
			if i%10 == 0 && j == spans-1 {
				sp.status = ptrace.StatusCodeError
			}
			specs = append(specs, sp)
		}
	}
	return request(map[string]any{"host.name": "edge-7", "service.version": "1.2.3"}, specs...)
}

func benchPolicies() []PolicyConfig {
	return []PolicyConfig{
		errorsPolicy(),
		policy("slow", Latency, func(p *PolicyConfig) { p.Latency = &LatencyConfig{ThresholdMs: 500} }),
		policy("rest", Probabilistic, func(p *PolicyConfig) { p.Probabilistic = &ProbabilisticConfig{SamplingPercentage: 10} }),
	}
}

// BenchmarkConsume: one goroutine (one core) holding spans and deciding
// traces in steady state (num_traces makes room by early decisions), with
// three policies. Reports spans/s and allocations per span.
func BenchmarkConsume(b *testing.B) {
	const traces, spans = 20, 5
	cfg := configWith(benchPolicies()...)
	cfg.NumTraces = 2000
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("tail_sampling"), Telemetry: selftelemetry.New()}, cfg, &sink{})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]ptrace.Traces, 64)
	b.ReportAllocs()
	b.ResetTimer()
	var base uint64
	for i := 0; b.Loop(); i++ {
		if i%len(reqs) == 0 {
			b.StopTimer()
			for k := range reqs {
				reqs[k] = benchRequest(base, traces, spans)
				base += traces
			}
			b.StartTimer()
		}
		if err := p.ConsumeTraces(context.Background(), reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N * traces * spans)
	b.ReportMetric(n/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/span")
	_ = p.Shutdown(context.Background())
}

// BenchmarkHeldBytesPerSpan holds 100 000 spans and reports the heap they
// take per span (measured) beside what the processor charges per span
// (estimated, against max_bytes and memory_limit).
func BenchmarkHeldBytesPerSpan(b *testing.B) {
	const traces, spans, reqs = 100, 5, 200
	for b.Loop() {
		cfg := configWith(benchPolicies()...)
		cfg.NumTraces = 1 << 20
		cfg.MaxBytes = 1 << 40
		cfg.DecisionCache = DecisionCacheConfig{}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var in []ptrace.Traces
		for r := range reqs {
			in = append(in, benchRequest(uint64(r*traces), traces, spans))
		}
		p, err := newProcessor(pipeline.Settings{}, cfg, &sink{})
		if err != nil {
			b.Fatal(err)
		}
		for _, td := range in {
			_ = p.ConsumeTraces(context.Background(), td)
		}
		in = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		n := float64(traces * spans * reqs)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heap-bytes/span")
		b.ReportMetric(float64(stateBytes(p))/n, "charged-bytes/span")
		runtime.KeepAlive(in)
		_ = p.Shutdown(context.Background())
	}
}
