package probabilisticsamplerprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

type nopTraces struct{}

func (nopTraces) Capabilities() consumer.Capabilities                { return consumer.Capabilities{} }
func (nopTraces) ConsumeTraces(context.Context, ptrace.Traces) error { return nil }

type nopLogs struct{}

func (nopLogs) Capabilities() consumer.Capabilities          { return consumer.Capabilities{} }
func (nopLogs) ConsumeLogs(context.Context, plog.Logs) error { return nil }

// loop runs consume over fresh copies of src (copied with the timer
// stopped) and reports items/s on one core and allocations per item,
// counting only the mallocs while the timer runs.
func loop[T any](b *testing.B, items int, fresh func() T, consume func(T) error) {
	const copies = 64
	work := make([]T, copies)
	var ms runtime.MemStats
	var mallocs uint64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % copies
		if k == 0 {
			b.StopTimer()
			if i > 0 {
				runtime.ReadMemStats(&ms)
				mallocs += ms.Mallocs
			}
			for j := range work {
				work[j] = fresh()
			}
			runtime.ReadMemStats(&ms)
			mallocs -= ms.Mallocs
			b.StartTimer()
		}
		if err := consume(work[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	mallocs += ms.Mallocs
	b.ReportMetric(float64(b.N)*float64(items)/b.Elapsed().Seconds(), "items/s")
	b.ReportMetric(float64(mallocs)/(float64(b.N)*float64(items)), "allocs/item")
}

// BenchmarkTraces: batches of 1000 spans (100 traces of 10) sampled at
// 10 %: spans/s on one core and allocations per span. "tracestate" spans
// arrive head-sampled (ot=th:8), which takes the general path: parse,
// decide, write.
func BenchmarkTraces(b *testing.B) {
	for _, bc := range []struct {
		name, mode, ts string
	}{
		{"proportional", ModeProportional, ""},
		{"proportional/tracestate", ModeProportional, "ot=th:8"},
		{"equalizing/tracestate", ModeEqualizing, "ot=th:8"},
		{"hash_seed", ModeHashSeed, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := ptrace.NewTraces()
			rs := src.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "checkout")
			spans := rs.ScopeSpans().AppendEmpty().Spans()
			r := rand.New(rand.NewPCG(1, 1))
			for range 100 {
				tid := randomTID(r)
				for j := range 10 {
					sp := spans.AppendEmpty()
					sp.SetTraceID(tid)
					sp.SetName(fmt.Sprint("op", j))
					sp.Attributes().PutStr("http.route", "/cart")
					sp.TraceState().FromRaw(bc.ts)
				}
			}
			c := config(10, func(c *Config) { c.Mode = bc.mode; c.HashSeed = 5 })
			p, err := newTracesProcessor(pipeline.Settings{ID: pipeline.MustID(Type), Telemetry: selftelemetry.New()}, c, nopTraces{})
			if err != nil {
				b.Fatal(err)
			}
			loop(b, 1000, func() ptrace.Traces {
				td := ptrace.NewTraces()
				src.CopyTo(td)
				return td
			}, func(td ptrace.Traces) error { return p.ConsumeTraces(b.Context(), td) })
		})
	}
}

// BenchmarkLogs: batches of 1000 records sampled at 10 %, by their trace
// id or by the hash of their body.
func BenchmarkLogs(b *testing.B) {
	for _, bc := range []struct {
		name  string
		trace bool
	}{{"trace_id", true}, {"body_hash", false}} {
		b.Run(bc.name, func(b *testing.B) {
			src := plog.NewLogs()
			records := src.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			r := rand.New(rand.NewPCG(2, 2))
			for i := range 1000 {
				lr := records.AppendEmpty()
				if bc.trace {
					lr.SetTraceID(randomTID(r))
				}
				lr.Body().SetStr(fmt.Sprintf("GET /item/%d 200 3ms", i))
				lr.Attributes().PutStr("http.route", "/item")
			}
			c := config(10, func(c *Config) { c.LogsWithoutTraceID = UntracedSample })
			p, err := newLogsProcessor(pipeline.Settings{ID: pipeline.MustID(Type), Telemetry: selftelemetry.New()}, c, nopLogs{})
			if err != nil {
				b.Fatal(err)
			}
			loop(b, 1000, func() plog.Logs {
				ld := plog.NewLogs()
				src.CopyTo(ld)
				return ld
			}, func(ld plog.Logs) error { return p.ConsumeLogs(b.Context(), ld) })
		})
	}
}
