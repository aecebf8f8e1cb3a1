package cardinalitylimitprocessor

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

type nopSink struct{}

func (nopSink) Capabilities() consumer.Capabilities                   { return consumer.Capabilities{} }
func (nopSink) ConsumeMetrics(context.Context, pmetric.Metrics) error { return nil }

// BenchmarkCardinality measures points/s on one core: requests of 1000
// cumulative counter points with three attributes, from 5000 series of
// which 2000 fit the limit (the rest fold into the overflow series).
func BenchmarkCardinality(b *testing.B) {
	const perBatch, seriesN = 1000, 5000
	batches := make([]pmetric.Metrics, seriesN/perBatch)
	for i := range batches {
		md, m := newMetric(kindCumSum, "http_requests_total")
		for j := range perBatch {
			id := i*perBatch + j
			dp := m.Sum().DataPoints().AppendEmpty()
			dp.Attributes().PutStr("route", fmt.Sprint("/api/v1/item/", id))
			dp.Attributes().PutStr("method", "GET")
			dp.Attributes().PutInt("code", 200)
			dp.SetStartTimestamp(1)
			dp.SetTimestamp(2)
			dp.SetIntValue(int64(id))
		}
		batches[i] = md
	}
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("cardinality_limit"), Telemetry: selftelemetry.New()},
		&Config{Limit: 2000, ExpireAfter: DefaultExpireAfter, MaxSeries: 10000}, nopSink{})
	if err != nil {
		b.Fatal(err)
	}
	work := make([]pmetric.Metrics, len(batches))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := i % len(batches)
		if k == 0 {
			b.StopTimer()
			for j := range batches {
				work[j] = pmetric.NewMetrics()
				batches[j].CopyTo(work[j])
			}
			b.StartTimer()
		}
		if err := p.ConsumeMetrics(b.Context(), work[k]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*perBatch/b.Elapsed().Seconds(), "points/s")
}
