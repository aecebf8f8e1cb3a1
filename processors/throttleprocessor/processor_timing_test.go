package throttleprocessor

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/consumer"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// BenchmarkThrottle measures records/s on one core: batches of 1000
// records of 50 streams keyed by a resource and a record attribute.
func BenchmarkThrottle(b *testing.B) {
	const perBatch = 1000
	src := plog.NewLogs()
	rl := src.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range perBatch {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr("request served")
		lr.Attributes().PutStr("node", fmt.Sprint("n", i%50))
	}
	cfg := createDefaultConfig()
	cfg.KeyFields = []string{"resource.service.name", "attributes.node"}
	cfg.Threshold = 1 << 30 // measure the bookkeeping, not the removal
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("throttle"), Telemetry: selftelemetry.New()}, cfg, nopSink{})
	if err != nil {
		b.Fatal(err)
	}
	work := make([]plog.Logs, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(work)
		if k == 0 {
			b.StopTimer()
			for j := range work {
				work[j] = plog.NewLogs()
				src.CopyTo(work[j])
			}
			b.StartTimer()
		}
		if err := p.ConsumeLogs(b.Context(), work[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*perBatch/b.Elapsed().Seconds(), "records/s")
}

type nopSink struct{}

func (nopSink) Capabilities() consumer.Capabilities          { return consumer.Capabilities{} }
func (nopSink) ConsumeLogs(context.Context, plog.Logs) error { return nil }
