package prometheusremotewriteexporter

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// benchMetrics makes a realistic batch: resources × (a counter with 10
// series, a gauge with 10 series, a 10-bucket histogram with 5 series, an
// exponential histogram with 5 series and a 3-quantile summary with 5
// series), the counters and gauges in one scope and the distributions in
// another, each resource with 6 attributes and each point with 3; points
// is the number of counter points per resource (the distributions have
// half as many). Exemplars, with trace context, ride on one counter point
// and one histogram point in ten.
func benchMetrics(resources, points int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		ra.PutStr("service.name", "checkout")
		ra.PutStr("service.namespace", "shop")
		ra.PutStr("service.instance.id", fmt.Sprintf("pod-%d", r))
		ra.PutStr("host.name", "edge-7")
		ra.PutStr("os.type", "linux")
		ra.PutStr("node.site", "plant-3")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		sm.Scope().SetVersion("0.60.0")
		ms := sm.Metrics()
		sd := rm.ScopeMetrics().AppendEmpty()
		sd.Scope().SetName("github.com/example/checkout/metrics")
		sd.Scope().Attributes().PutStr("library.kind", "custom")
		ds := sd.Metrics()
		attrs := func(m pcommon.Map, i int) {
			m.PutStr("http.method", "GET")
			m.PutStr("http.route", fmt.Sprintf("/api/v%d", i%10))
			m.PutInt("http.status_code", 200)
		}
		exemplar := func(es pmetric.ExemplarSlice, ts pcommon.Timestamp, v float64) {
			e := es.AppendEmpty()
			e.SetTimestamp(ts)
			e.SetDoubleValue(v)
			e.SetTraceID(pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
			e.SetSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})
		}
		c := ms.AppendEmpty()
		c.SetName("http.server.requests")
		cs := c.SetEmptySum()
		cs.SetIsMonotonic(true)
		cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		g := ms.AppendEmpty()
		g.SetName("queue.depth")
		g.SetUnit("{item}")
		g.SetDescription("Items waiting in the queue.")
		gg := g.SetEmptyGauge()
		h := ds.AppendEmpty()
		h.SetName("http.server.duration")
		h.SetUnit("s")
		hh := h.SetEmptyHistogram()
		hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		e := ds.AppendEmpty()
		e.SetName("payload.size")
		e.SetUnit("By")
		eh := e.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		s := ds.AppendEmpty()
		s.SetName("gc.pause")
		s.SetUnit("ms")
		ss := s.SetEmptySummary()
		for p := range points {
			ts := nanos(t0 + int64(p/10)*1000)
			dp := cs.DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetIntValue(int64(p))
			attrs(dp.Attributes(), p)
			if p%10 == 0 {
				exemplar(dp.Exemplars(), ts, 1)
			}
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
				if p%20 == 0 {
					exemplar(hp.Exemplars(), ts, 0.07)
				}
				ep := eh.DataPoints().AppendEmpty()
				ep.SetTimestamp(ts)
				ep.SetScale(3)
				ep.SetCount(21)
				ep.SetSum(1000)
				ep.Positive().SetOffset(10)
				ep.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3, 0, 0, 0, 0, 4, 5, 6})
				attrs(ep.Attributes(), p/2)
				sp := ss.DataPoints().AppendEmpty()
				sp.SetTimestamp(ts)
				sp.SetCount(40)
				sp.SetSum(180.5)
				for i, q := range []float64{0.5, 0.9, 0.99} {
					qv := sp.QuantileValues().AppendEmpty()
					qv.SetQuantile(q)
					qv.SetValue(float64(2 + 3*i))
				}
				attrs(sp.Attributes(), p/2)
			}
		}
	}
	return md
}

// BenchmarkTranslate measures OTLP → WriteRequest (the translation alone)
// and the whole encoding (translation, marshalling, snappy), per data
// point: ns/point, B/point and allocs/point besides the per-batch figures.
// "large" is a 1000-item batch as the batch processor forms them, "small"
// one SDK export (a resource with 35 points). Bytes/s are of the batch as
// OTLP protobuf.
func BenchmarkTranslate(b *testing.B) {
	for _, size := range []struct {
		name              string
		resources, points int
	}{{"large", 4, 100}, {"small", 1, 10}} {
		md := benchMetrics(size.resources, size.points)
		n := md.DataPointCount()
		otlp, err := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		if err != nil {
			b.Fatal(err)
		}
		tr := defaultTranslator(nil)
		b.Run("translate/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(otlp)))
			testutil.PerItem(b, n, "point", func() { tr.translate(md) })
		})
		b.Run("encode/"+size.name, func(b *testing.B) {
			b.SetBytes(int64(len(otlp)))
			var wire int
			testutil.PerItem(b, n, "point", func() {
				raw, err := tr.translate(md).req.Marshal()
				if err != nil {
					b.Fatal(err)
				}
				wire = len(snappy.Encode(nil, raw))
			})
			b.ReportMetric(float64(wire)/float64(n), "wire_bytes/point")
		})
	}
}
