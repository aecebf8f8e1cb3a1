package prometheusremotewriteexporter

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// benchMetrics makes a realistic batch: resources × (a counter with 10
// series, a gauge with 10 series, a 10-bucket histogram with 5 series and
// an exponential histogram with 5 series), each point with 3 attributes.
func benchMetrics(resources, points int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("service.instance.id", fmt.Sprintf("pod-%d", r))
		ra.PutStr("host.name", "edge-7")
		ra.PutStr("os.type", "linux")
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		attrs := func(m pcommon.Map, i int) {
			m.PutStr("http.method", "GET")
			m.PutStr("http.route", fmt.Sprintf("/api/v%d", i%10))
			m.PutInt("http.status_code", 200)
		}
		c := ms.AppendEmpty()
		c.SetName("http.server.requests")
		cs := c.SetEmptySum()
		cs.SetIsMonotonic(true)
		cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		g := ms.AppendEmpty()
		g.SetName("queue.depth")
		g.SetUnit("{item}")
		gg := g.SetEmptyGauge()
		h := ms.AppendEmpty()
		h.SetName("http.server.duration")
		h.SetUnit("s")
		hh := h.SetEmptyHistogram()
		hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		e := ms.AppendEmpty()
		e.SetName("payload.size")
		e.SetUnit("By")
		eh := e.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for p := range points {
			ts := nanos(t0 + int64(p/10)*1000)
			dp := cs.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(int64(p))
			attrs(dp.Attributes(), p)
			dp = gg.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(float64(p))
			attrs(dp.Attributes(), p)
			if p%2 == 0 {
				hp := hh.DataPoints().AppendEmpty()
				hp.SetTimestamp(ts)
				hp.SetCount(55)
				hp.SetSum(12.5)
				hp.ExplicitBounds().FromRaw([]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})
				hp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0})
				attrs(hp.Attributes(), p/2)
				ep := eh.DataPoints().AppendEmpty()
				ep.SetTimestamp(ts)
				ep.SetScale(3)
				ep.SetCount(21)
				ep.SetSum(1000)
				ep.Positive().SetOffset(10)
				ep.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3, 0, 0, 0, 0, 4, 5, 6})
				attrs(ep.Attributes(), p/2)
			}
		}
	}
	return md
}

// BenchmarkTranslate measures OTLP → WriteRequest (the translation alone)
// and the whole encoding (translation, marshalling, snappy) in data points
// per second.
func BenchmarkTranslate(b *testing.B) {
	md := benchMetrics(4, 100)
	n := md.DataPointCount()
	tr := defaultTranslator(nil)
	b.Run("translate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tr.translate(md)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var size int
		for b.Loop() {
			raw, err := tr.translate(md).req.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			size = len(snappy.Encode(nil, raw))
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		b.ReportMetric(float64(size)/float64(n), "wire_bytes/point")
	})
}
