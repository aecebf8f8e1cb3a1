package logdedupprocessor

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// BenchmarkDedup measures records/s on one core: batches of 1000 records
// like a chatty service's, 1 in 10 distinct, each with five attributes.
func BenchmarkDedup(b *testing.B) {
	const perBatch = 1000
	batches := make([]plog.Logs, 16)
	for i := range batches {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "checkout")
		rl.Resource().Attributes().PutStr("host.name", "edge-17")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("app")
		for j := range perBatch {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARN")
			lr.Body().SetStr(fmt.Sprintf("upstream %d timed out after 30s, retrying", j%100))
			a := lr.Attributes()
			a.PutStr("http.method", "GET")
			a.PutStr("http.route", "/api/cart")
			a.PutInt("http.status_code", 504)
			a.PutStr("peer", "10.0.0.7")
			a.PutStr("request.id", fmt.Sprint(j))
		}
		batches[i] = ld
	}
	cfg := createDefaultConfig()
	cfg.Interval = time.Hour
	cfg.ExcludeFields = []string{"attributes.request\\.id"}
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("log_dedup"), Telemetry: selftelemetry.New()}, cfg, &sink{})
	if err != nil {
		b.Fatal(err)
	}
	work := make([]plog.Logs, len(batches))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % len(batches)
		if k == 0 {
			b.StopTimer()
			for j := range batches {
				work[j] = plog.NewLogs()
				batches[j].CopyTo(work[j])
			}
			b.StartTimer()
		}
		if err := p.ConsumeLogs(b.Context(), work[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*perBatch/b.Elapsed().Seconds(), "records/s")
	_ = p.Shutdown(b.Context())
}
