package prometheusremotewritereceiver

import (
	"math"
	"reflect"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const t0 = int64(1_704_067_200_000) // 2024-01-01T00:00:00Z in ms

// find returns the metric named name in md, with its resource's
// attributes, failing when it is not there exactly once.
func find(t *testing.T, md pmetric.Metrics, name string) (pmetric.Metric, map[string]any) {
	t.Helper()
	var found []pmetric.Metric
	var res map[string]any
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			if sm.Scope().Name() != ScopeName {
				t.Errorf("scope %q", sm.Scope().Name())
			}
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					found = append(found, m)
					res = rm.Resource().Attributes().AsRaw()
				}
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("metric %s found %d times", name, len(found))
	}
	return found[0], res
}

func TestTranslateV1(t *testing.T) {
	stale := math.Float64frombits(staleNaN)
	req := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{Labels: labels("__name__", "http_requests_total", "code", "200", "instance", "h:1", "job", "api"),
				Samples: []prompb.Sample{{Value: 1, Timestamp: t0}, {Value: 3, Timestamp: t0 + 1000}}},
			{Labels: labels("__name__", "temp", "job", "api", "sensor", "a..b"),
				Samples: []prompb.Sample{{Value: 21.5, Timestamp: t0}, {Value: stale, Timestamp: t0 + 1000}}},
			{Labels: labels("__name__", "legacy_counter"), Samples: []prompb.Sample{{Value: 7, Timestamp: t0}}},
			{Labels: labels("__name__", "odd_total"), Samples: []prompb.Sample{{Value: 2, Timestamp: t0}}},
			{Labels: labels("__name__", "rpc_seconds_bucket", "le", "0.5"), Samples: []prompb.Sample{{Value: 4, Timestamp: t0}}},
			{Labels: labels("__name__", "native"), Histograms: []prompb.Histogram{{
				Count: &prompb.Histogram_CountInt{CountInt: 5}, ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: 1},
				Sum: 100, Schema: 0, ZeroThreshold: 1e-128, Timestamp: t0,
				PositiveSpans:  []prompb.BucketSpan{{Offset: 5, Length: 2}, {Offset: 1, Length: 1}},
				PositiveDeltas: []int64{1, 1, -1},
				NegativeSpans:  []prompb.BucketSpan{{Offset: -1, Length: 1}},
				NegativeDeltas: []int64{0},
			}}},
			{Labels: labels("__name__", "native_float"), Histograms: []prompb.Histogram{
				{Count: &prompb.Histogram_CountFloat{CountFloat: 3}, ZeroCount: &prompb.Histogram_ZeroCountFloat{ZeroCountFloat: 0},
					Sum: 9, Schema: 2, Timestamp: t0,
					PositiveSpans: []prompb.BucketSpan{{Offset: -2, Length: 2}}, PositiveCounts: []float64{1, 2}},
				{Count: &prompb.Histogram_CountFloat{CountFloat: 2.5}, ZeroCount: &prompb.Histogram_ZeroCountFloat{ZeroCountFloat: 0},
					Sum: 9, Schema: 2, Timestamp: t0 + 1000,
					PositiveSpans: []prompb.BucketSpan{{Offset: 0, Length: 1}}, PositiveCounts: []float64{2.5}},
			}},
			{Labels: labels("__name__", "nhcb"), Histograms: []prompb.Histogram{{Schema: -53, CustomValues: []float64{1, 2}, Timestamp: t0,
				Count: &prompb.Histogram_CountInt{CountInt: 1}}}},
			{Labels: labels("le", "1"), Samples: []prompb.Sample{{Value: 1, Timestamp: t0}}},
			// Exemplars in entries of their own, as Prometheus sends them.
			{Labels: labels("__name__", "http_requests_total", "code", "200", "instance", "h:1", "job", "api"),
				Exemplars: []prompb.Exemplar{{Labels: labels("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", "span_id", "00f067aa0ba902b7", "user", "x"), Value: 1, Timestamp: t0 + 500}}},
			{Labels: labels("__name__", "nowhere_total"),
				Exemplars: []prompb.Exemplar{{Labels: labels("trace_id", "00"), Value: 1, Timestamp: t0}}},
		},
		Metadata: []prompb.MetricMetadata{
			{MetricFamilyName: "legacy_counter", Type: prompb.MetricMetadata_COUNTER},
			{MetricFamilyName: "odd", Type: prompb.MetricMetadata_GAUGE, Help: "Odd.", Unit: "total"},
			{MetricFamilyName: "http_requests", Type: prompb.MetricMetadata_COUNTER, Help: "Requests."},
			{MetricFamilyName: "rpc_seconds", Type: prompb.MetricMetadata_HISTOGRAM, Unit: "seconds"},
		},
	}
	cache := newMetadataCache(10)
	res := translateV1(req, cache, 1<<20)
	md := res.md

	m, resAttrs := find(t, md, "http_requests_total")
	if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative || m.Description() != "Requests." {
		t.Errorf("http_requests_total: %v monotonic=%v %q", m.Type(), m.Sum().IsMonotonic(), m.Description())
	}
	if want := map[string]any{"service.name": "api", "service.instance.id": "h:1"}; !reflect.DeepEqual(resAttrs, want) {
		t.Errorf("resource %v, want %v", resAttrs, want)
	}
	dps := m.Sum().DataPoints()
	if dps.Len() != 2 || dps.At(1).DoubleValue() != 3 || dps.At(1).Timestamp() != pcommon.Timestamp((t0+1000)*1e6) {
		t.Fatalf("http_requests_total points: %d", dps.Len())
	}
	if got := dps.At(0).Attributes().AsRaw(); !reflect.DeepEqual(got, map[string]any{"code": "200"}) {
		t.Errorf("attributes %v", got)
	}
	// The exemplar went to the series' latest point.
	if es := dps.At(1).Exemplars(); es.Len() != 1 || es.At(0).TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		es.At(0).SpanID().String() != "00f067aa0ba902b7" || es.At(0).FilteredAttributes().AsRaw()["user"] != "x" {
		t.Errorf("exemplars %d", es.Len())
	}

	m, resAttrs = find(t, md, "temp")
	if m.Type() != pmetric.MetricTypeGauge || !reflect.DeepEqual(resAttrs, map[string]any{"service.name": "api"}) {
		t.Errorf("temp: %v %v", m.Type(), resAttrs)
	}
	if dp := m.Gauge().DataPoints().At(1); !dp.Flags().NoRecordedValue() {
		t.Errorf("stale marker not flagged")
	}
	if got := m.Gauge().DataPoints().At(0).Attributes().AsRaw()["sensor"]; got != "a..b" {
		t.Errorf("sensor %v", got)
	}
	for name, want := range map[string]pmetric.MetricType{
		"legacy_counter":     pmetric.MetricTypeGauge, // a counter not named _total
		"odd_total":          pmetric.MetricTypeGauge, // metadata says gauge
		"rpc_seconds_bucket": pmetric.MetricTypeGauge,
	} {
		if m, _ := find(t, md, name); m.Type() != want {
			t.Errorf("%s: %v, want %v", name, m.Type(), want)
		}
	}
	// The unit is kept only where the name ends with it, so that the
	// remote-write exporter adds no suffix.
	if m, _ := find(t, md, "rpc_seconds_bucket"); m.Unit() != "" {
		t.Errorf("rpc_seconds_bucket unit %q", m.Unit())
	}

	m, _ = find(t, md, "native")
	if m.Type() != pmetric.MetricTypeExponentialHistogram {
		t.Fatalf("native: %v", m.Type())
	}
	h := m.ExponentialHistogram().DataPoints().At(0)
	if h.Count() != 5 || h.ZeroCount() != 1 || h.Sum() != 100 || h.Scale() != 0 || h.ZeroThreshold() != 1e-128 ||
		h.Positive().Offset() != 4 || !reflect.DeepEqual(h.Positive().BucketCounts().AsRaw(), []uint64{1, 2, 0, 1}) ||
		h.Negative().Offset() != -2 || !reflect.DeepEqual(h.Negative().BucketCounts().AsRaw(), []uint64{0}) {
		t.Errorf("native: count %d zero %d sum %g scale %d pos %d %v neg %d %v", h.Count(), h.ZeroCount(), h.Sum(), h.Scale(),
			h.Positive().Offset(), h.Positive().BucketCounts().AsRaw(), h.Negative().Offset(), h.Negative().BucketCounts().AsRaw())
	}
	m, _ = find(t, md, "native_float")
	if dps := m.ExponentialHistogram().DataPoints(); dps.Len() != 1 || dps.At(0).Count() != 3 || dps.At(0).Positive().Offset() != -3 ||
		!reflect.DeepEqual(dps.At(0).Positive().BucketCounts().AsRaw(), []uint64{1, 2}) {
		t.Errorf("native_float: %d points", dps.Len())
	}

	if want := map[string]int{reasonUnsupported: 2, reasonInvalid: 1}; !reflect.DeepEqual(res.refused, want) {
		t.Errorf("refused %v, want %v", res.refused, want)
	}
	if want := map[string]int{exemplarNoPoint: 1}; !reflect.DeepEqual(res.exemplarsDropped, want) {
		t.Errorf("exemplars dropped %v, want %v", res.exemplarsDropped, want)
	}
	if res.samples != 7 || res.histograms != 2 || res.exemplars != 1 || md.DataPointCount() != 9 {
		t.Errorf("written samples %d histograms %d exemplars %d, points %d", res.samples, res.histograms, res.exemplars, md.DataPointCount())
	}

	// The metadata is remembered for later requests, which carry none.
	later := translateV1(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: labels("__name__", "legacy_counter"), Samples: []prompb.Sample{{Value: 8, Timestamp: t0 + 1000}}},
		{Labels: labels("__name__", "odd_total"), Samples: []prompb.Sample{{Value: 8, Timestamp: t0 + 1000}}},
	}}, cache, 1<<20)
	if m, _ := find(t, later.md, "odd_total"); m.Type() != pmetric.MetricTypeGauge || m.Description() != "Odd." {
		t.Errorf("odd_total without metadata in the request: %v %q", m.Type(), m.Description())
	}
	// Without any metadata, _total makes a counter.
	none := translateV1(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: labels("__name__", "odd_total"), Samples: []prompb.Sample{{Value: 8, Timestamp: t0}}},
	}}, nil, 1<<20)
	if m, _ := find(t, none.md, "odd_total"); m.Type() != pmetric.MetricTypeSum {
		t.Errorf("odd_total without metadata: %v", m.Type())
	}
}

func TestMetadataCacheBounded(t *testing.T) {
	c := newMetadataCache(2)
	c.put([]prompb.MetricMetadata{{MetricFamilyName: "a"}, {MetricFamilyName: "b"}, {MetricFamilyName: "c"}})
	if _, ok := c.lookup("c"); ok || len(c.families) != 2 {
		t.Errorf("cache holds %d families", len(c.families))
	}
	c.put([]prompb.MetricMetadata{{MetricFamilyName: "a", Type: prompb.MetricMetadata_COUNTER}})
	if f, _ := c.lookup("a_total"); f.typ != prompb.MetricMetadata_COUNTER {
		t.Errorf("a known family is not updated")
	}
}

func TestTranslateV2(t *testing.T) {
	r := newV2()
	r.add(writev2.TimeSeries{
		LabelsRefs: r.refs("__name__", "process_cpu_seconds_total", "job", "node", "mode", "user"),
		Samples:    []writev2.Sample{{Value: 12, Timestamp: t0, StartTimestamp: t0 - 60_000}},
		Exemplars:  []writev2.Exemplar{{LabelsRefs: r.refs("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), Value: 0.5, Timestamp: t0}},
		Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: r.syms.Symbolize("CPU."), UnitRef: r.syms.Symbolize("seconds")},
	})
	r.add(writev2.TimeSeries{
		LabelsRefs: r.refs("__name__", "queue_length", "job", "node"),
		Samples:    []writev2.Sample{{Value: 3, Timestamp: t0}},
		Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE},
	})
	r.add(writev2.TimeSeries{
		LabelsRefs: r.refs("__name__", "latency_seconds", "job", "node"),
		Histograms: []writev2.Histogram{{Count: &writev2.Histogram_CountInt{CountInt: 2}, ZeroCount: &writev2.Histogram_ZeroCountInt{},
			Sum: 0.3, Schema: 3, Timestamp: t0, StartTimestamp: t0 - 1000,
			PositiveSpans: []writev2.BucketSpan{{Offset: -10, Length: 1}}, PositiveDeltas: []int64{2}}},
		Metadata: writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_HISTOGRAM},
	})
	res, err := translateV2(r.build(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	m, attrs := find(t, res.md, "process_cpu_seconds_total")
	dp := m.Sum().DataPoints().At(0)
	if m.Type() != pmetric.MetricTypeSum || m.Unit() != "seconds" || m.Description() != "CPU." ||
		dp.StartTimestamp() != pcommon.Timestamp((t0-60_000)*1e6) || dp.Exemplars().Len() != 1 || attrs["service.name"] != "node" {
		t.Errorf("counter: %v unit %q help %q start %v exemplars %d", m.Type(), m.Unit(), m.Description(), dp.StartTimestamp(), dp.Exemplars().Len())
	}
	if m, _ := find(t, res.md, "queue_length"); m.Type() != pmetric.MetricTypeGauge {
		t.Errorf("gauge: %v", m.Type())
	}
	m, _ = find(t, res.md, "latency_seconds")
	if h := m.ExponentialHistogram().DataPoints().At(0); h.Scale() != 3 || h.Positive().Offset() != -11 || h.StartTimestamp() != pcommon.Timestamp((t0-1000)*1e6) {
		t.Errorf("histogram: scale %d offset %d", h.Scale(), h.Positive().Offset())
	}
	if res.samples != 2 || res.histograms != 1 || res.exemplars != 1 {
		t.Errorf("written %d %d %d", res.samples, res.histograms, res.exemplars)
	}

	// A reference outside the symbol table invalidates the request.
	bad := r.build()
	bad.Timeseries[1].LabelsRefs = append(bad.Timeseries[1].LabelsRefs, 999, 0)
	if _, err := translateV2(bad, 1<<20); err == nil {
		t.Error("a reference outside the symbol table was accepted")
	}
}

// TestHistogramBucketRoom: spans that declare a long run of empty buckets
// cannot make the receiver allocate more than the request's size allows.
func TestHistogramBucketRoom(t *testing.T) {
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: labels("__name__", "wide"), Histograms: []prompb.Histogram{{
		Count: &prompb.Histogram_CountInt{CountInt: 2}, ZeroCount: &prompb.Histogram_ZeroCountInt{}, Timestamp: t0,
		PositiveSpans:  []prompb.BucketSpan{{Offset: 0, Length: 1}, {Offset: 1 << 30, Length: 1}},
		PositiveDeltas: []int64{1, 0},
	}}}}}
	res := translateV1(req, nil, 100)
	if res.refused[reasonInvalid] != 1 || res.md.DataPointCount() != 0 {
		t.Errorf("refused %v, points %d", res.refused, res.md.DataPointCount())
	}
	// A later span with a negative gap would go back before the first
	// bucket.
	h := &req.Timeseries[0].Histograms[0]
	h.PositiveSpans = []prompb.BucketSpan{{Offset: 0, Length: 1}, {Offset: -3, Length: 1}, {Offset: 10, Length: 1}}
	h.PositiveDeltas = []int64{1, 0, 0}
	res = translateV1(req, nil, 1<<20)
	if res.refused[reasonInvalid] != 1 || res.md.DataPointCount() != 0 {
		t.Errorf("negative gap: refused %v, points %d", res.refused, res.md.DataPointCount())
	}
}
