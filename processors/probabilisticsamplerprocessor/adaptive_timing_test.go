package probabilisticsamplerprocessor

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// BenchmarkTracesAdaptive: batches of 1000 spans (100 traces of 10, one
// trace in 10 with an ERROR span) with the adaptive sampler lowered from
// 100 % to 10 %: the extra pass that finds the error traces, which are
// decided at 100 %. Compare with BenchmarkTraces/proportional.
func BenchmarkTracesAdaptive(b *testing.B) {
	src := ptrace.NewTraces()
	rs := src.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 100 {
		tid := randomTID(r)
		for j := range 10 {
			sp := spans.AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetName(fmt.Sprint("op", j))
			sp.Attributes().PutStr("http.route", "/cart")
			if i%10 == 0 && j == 9 {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
		}
	}
	c := config(100, func(c *Config) {
		c.Adaptive = &AdaptiveConfig{Exporter: "otlp", TargetBudgetWait: time.Second}
	})
	p, err := newTracesProcessor(pipeline.Settings{ID: pipeline.MustID(Type), Telemetry: selftelemetry.New()}, c, nopTraces{})
	if err != nil {
		b.Fatal(err)
	}
	p.setPercentage(10) // as the control loop would; it is not started
	loop(b, 1000, func() ptrace.Traces {
		td := ptrace.NewTraces()
		src.CopyTo(td)
		return td
	}, func(td ptrace.Traces) error { return p.ConsumeTraces(b.Context(), td) })
}
