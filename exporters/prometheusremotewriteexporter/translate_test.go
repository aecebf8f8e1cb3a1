package prometheusremotewriteexporter

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// t0 is the test data's time: 2024-01-01T00:00:00Z, in ms.
const t0 = int64(1_704_067_200_000)

func nanos(ms int64) pcommon.Timestamp { return pcommon.Timestamp(ms * 1e6) }

// lbls makes sorted-by-caller labels from name, value pairs.
func lbls(kv ...string) []prompb.Label {
	out := make([]prompb.Label, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	sortLabels(out)
	return out
}

func series(ls []prompb.Label, samples ...prompb.Sample) prompb.TimeSeries {
	return prompb.TimeSeries{Labels: ls, Samples: samples}
}

func smp(ts int64, v float64) prompb.Sample { return prompb.Sample{Timestamp: ts, Value: v} }

// metrics returns a Metrics with one resource (attrs as key, value pairs)
// and one scope, and the scope's metric slice.
func metrics(attrs ...string) (pmetric.Metrics, pmetric.MetricSlice) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	for i := 0; i+1 < len(attrs); i += 2 {
		rm.Resource().Attributes().PutStr(attrs[i], attrs[i+1])
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("test")
	return md, sm.Metrics()
}

func gauge(ms pmetric.MetricSlice, name, unit string, ts int64, v float64, attrs ...string) pmetric.NumberDataPoint {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(nanos(ts))
	dp.SetDoubleValue(v)
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
	return dp
}

func sumMetric(ms pmetric.MetricSlice, name, unit string, monotonic bool, temp pmetric.AggregationTemporality) pmetric.Sum {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetIsMonotonic(monotonic)
	s.SetAggregationTemporality(temp)
	return s
}

func defaultTranslator(mod func(*Config)) *translator {
	c := createDefaultConfig()
	c.Endpoint = "http://prom/api/v1/write"
	if mod != nil {
		mod(c)
	}
	return newTranslator(c)
}

func TestTranslate(t *testing.T) {
	cumulative := pmetric.AggregationTemporalityCumulative
	for _, tc := range []struct {
		name    string
		cfg     func(*Config)
		md      func() pmetric.Metrics
		want    []prompb.TimeSeries
		meta    []prompb.MetricMetadata // nil: not checked
		dropped map[string]int
		points  int
	}{
		{
			name: "gauge with attributes on a resource with service.name",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "a")
				gauge(ms, "queue.depth", "", t0, 3.5, "queue", "orders", "http.method", "GET")
				return md
			},
			want: []prompb.TimeSeries{
				series(lbls("__name__", "queue_depth", "job", "a", "queue", "orders", "http_method", "GET"), smp(t0, 3.5)),
			},
			meta:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "queue_depth"}},
			points: 1,
		},
		{
			name: "job from namespace/name, instance, target_info from the other attributes",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api", "service.namespace", "shop", "service.instance.id", "pod-1", "host.name", "edge-7", "k8s.pod.uid", "")
				g := gauge(ms, "cpu.utilization", "1", t0, 0.25)
				g2 := ms.At(0).Gauge().DataPoints().AppendEmpty()
				g.CopyTo(g2)
				g2.SetTimestamp(nanos(t0 + 1000))
				return md
			},
			want: []prompb.TimeSeries{
				series(lbls("__name__", "cpu_utilization_ratio", "job", "shop/api", "instance", "pod-1"), smp(t0, 0.25), smp(t0+1000, 0.25)),
				series(lbls("__name__", "target_info", "job", "shop/api", "instance", "pod-1", "host_name", "edge-7"), smp(t0+1000, 1)),
			},
			meta: []prompb.MetricMetadata{
				{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "cpu_utilization_ratio"},
				{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "target_info", Help: "Target metadata"},
			},
			points: 2,
		},
		{
			name: "target_info off",
			cfg:  func(c *Config) { c.TargetInfo = false },
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api", "host.name", "edge-7")
				gauge(ms, "x", "", t0, 1)
				return md
			},
			want:   []prompb.TimeSeries{series(lbls("__name__", "x", "job", "api"), smp(t0, 1))},
			points: 1,
		},
		{
			name: "no target_info without job or instance",
			md: func() pmetric.Metrics {
				md, ms := metrics("host.name", "edge-7")
				gauge(ms, "x", "", t0, 1)
				return md
			},
			want:   []prompb.TimeSeries{series(lbls("__name__", "x"), smp(t0, 1))},
			points: 1,
		},
		{
			name: "promoted resource attributes and external labels; data point attributes win",
			cfg: func(c *Config) {
				c.PromoteResourceAttributes = []string{"site", "host.name"}
				c.ExternalLabels = map[string]string{"cluster": "eu-1", "site": "ext"}
				c.TargetInfo = false
			},
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api", "site", "berlin", "host.name", "edge-7", "os.type", "linux")
				gauge(ms, "x", "", t0, 1, "host.name", "override")
				return md
			},
			want: []prompb.TimeSeries{
				series(lbls("__name__", "x", "job", "api", "site", "berlin", "host_name", "override", "cluster", "eu-1"), smp(t0, 1)),
			},
			points: 1,
		},
		{
			name: "resource_to_telemetry_conversion promotes all",
			cfg:  func(c *Config) { c.ResourceToTelemetryConversion = true; c.TargetInfo = false },
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api", "os.type", "linux")
				gauge(ms, "x", "", t0, 1)
				return md
			},
			want:   []prompb.TimeSeries{series(lbls("__name__", "x", "job", "api", "service_name", "api", "os_type", "linux"), smp(t0, 1))},
			points: 1,
		},
		{
			name: "monotonic cumulative sum is a counter with _total and exemplars",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				s := sumMetric(ms, "http.server.requests", "1", true, cumulative)
				ms.At(0).SetDescription("Requests served.")
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(nanos(t0))
				dp.SetIntValue(42)
				dp.Attributes().PutInt("http.status_code", 200)
				ex := dp.Exemplars().AppendEmpty()
				ex.SetTimestamp(nanos(t0 - 5))
				ex.SetIntValue(1)
				ex.SetTraceID(pcommon.TraceID{0x01, 0x02, 15: 0xff})
				ex.SetSpanID(pcommon.SpanID{0xaa, 7: 0xbb})
				ex.FilteredAttributes().PutStr("user", "u1")
				return md
			},
			want: []prompb.TimeSeries{{
				Labels:  lbls("__name__", "http_server_requests_total", "job", "api", "http_status_code", "200"),
				Samples: []prompb.Sample{smp(t0, 42)},
				Exemplars: []prompb.Exemplar{{
					Labels:    lbls("trace_id", "010200000000000000000000000000ff", "span_id", "aa000000000000bb", "user", "u1"),
					Value:     1,
					Timestamp: t0 - 5,
				}},
			}},
			meta:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_server_requests_total", Help: "Requests served."}},
			points: 1,
		},
		{
			name: "non-monotonic cumulative sum is a gauge",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				s := sumMetric(ms, "active.connections", "{connection}", false, cumulative)
				dp := s.DataPoints().AppendEmpty()
				dp.SetTimestamp(nanos(t0))
				dp.SetIntValue(-3)
				return md
			},
			want:   []prompb.TimeSeries{series(lbls("__name__", "active_connections", "job", "api"), smp(t0, -3))},
			meta:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "active_connections"}},
			points: 1,
		},
		{
			name: "delta sums and histograms are refused",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				s := sumMetric(ms, "d", "", true, pmetric.AggregationTemporalityDelta)
				s.DataPoints().AppendEmpty().SetTimestamp(nanos(t0))
				s.DataPoints().AppendEmpty().SetTimestamp(nanos(t0 + 1))
				h := ms.AppendEmpty()
				h.SetName("h")
				h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
				h.Histogram().DataPoints().AppendEmpty().SetTimestamp(nanos(t0))
				u := sumMetric(ms, "u", "", true, pmetric.AggregationTemporalityUnspecified)
				u.DataPoints().AppendEmpty().SetTimestamp(nanos(t0))
				gauge(ms, "ok", "", t0, 1)
				return md
			},
			want:    []prompb.TimeSeries{series(lbls("__name__", "ok", "job", "api"), smp(t0, 1))},
			dropped: map[string]int{ReasonDelta: 3, ReasonUnspecifiedTemporality: 1},
			points:  1,
		},
		{
			name: "classic histogram: cumulative buckets, +Inf, _sum, _count, exemplars by bucket",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				m := ms.AppendEmpty()
				m.SetName("http.server.duration")
				m.SetUnit("s")
				h := m.SetEmptyHistogram()
				h.SetAggregationTemporality(cumulative)
				dp := h.DataPoints().AppendEmpty()
				dp.SetTimestamp(nanos(t0))
				dp.SetCount(10)
				dp.SetSum(4.5)
				dp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
				dp.BucketCounts().FromRaw([]uint64{2, 3, 4, 1})
				for _, v := range []float64{2, 0.3} {
					ex := dp.Exemplars().AppendEmpty()
					ex.SetDoubleValue(v)
					ex.SetTimestamp(nanos(t0))
					ex.SetTraceID(pcommon.TraceID{1})
				}
				return md
			},
			want: func() []prompb.TimeSeries {
				base := []string{"job", "api"}
				l := func(kv ...string) []prompb.Label { return lbls(append(kv, base...)...) }
				ex := func(v float64) []prompb.Exemplar {
					return []prompb.Exemplar{{Labels: lbls("trace_id", "01000000000000000000000000000000"), Value: v, Timestamp: t0}}
				}
				return []prompb.TimeSeries{
					series(l("__name__", "http_server_duration_seconds_sum"), smp(t0, 4.5)),
					series(l("__name__", "http_server_duration_seconds_count"), smp(t0, 10)),
					series(l("__name__", "http_server_duration_seconds_bucket", "le", "0.1"), smp(t0, 2)),
					{Labels: l("__name__", "http_server_duration_seconds_bucket", "le", "0.5"), Samples: []prompb.Sample{smp(t0, 5)}, Exemplars: ex(0.3)},
					series(l("__name__", "http_server_duration_seconds_bucket", "le", "1"), smp(t0, 9)),
					{Labels: l("__name__", "http_server_duration_seconds_bucket", "le", "+Inf"), Samples: []prompb.Sample{smp(t0, 10)}, Exemplars: ex(2)},
				}
			}(),
			meta:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "http_server_duration_seconds", Unit: "seconds"}},
			points: 1,
		},
		{
			name: "summary: quantiles, _sum, _count",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				m := ms.AppendEmpty()
				m.SetName("rpc.latency")
				m.SetUnit("ms")
				dp := m.SetEmptySummary().DataPoints().AppendEmpty()
				dp.SetTimestamp(nanos(t0))
				dp.SetCount(7)
				dp.SetSum(70)
				q := dp.QuantileValues().AppendEmpty()
				q.SetQuantile(0.5)
				q.SetValue(9)
				q = dp.QuantileValues().AppendEmpty()
				q.SetQuantile(0.99)
				q.SetValue(30)
				return md
			},
			want: []prompb.TimeSeries{
				series(lbls("__name__", "rpc_latency_milliseconds_sum", "job", "api"), smp(t0, 70)),
				series(lbls("__name__", "rpc_latency_milliseconds_count", "job", "api"), smp(t0, 7)),
				series(lbls("__name__", "rpc_latency_milliseconds", "job", "api", "quantile", "0.5"), smp(t0, 9)),
				series(lbls("__name__", "rpc_latency_milliseconds", "job", "api", "quantile", "0.99"), smp(t0, 30)),
			},
			meta:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_SUMMARY, MetricFamilyName: "rpc_latency_milliseconds", Unit: "milliseconds"}},
			points: 1,
		},
		{
			name: "exponential histogram as a native histogram",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				m := ms.AppendEmpty()
				m.SetName("payload.size")
				m.SetUnit("By")
				eh := m.SetEmptyExponentialHistogram()
				eh.SetAggregationTemporality(cumulative)
				dp := eh.DataPoints().AppendEmpty()
				dp.SetTimestamp(nanos(t0))
				dp.SetScale(1)
				dp.SetCount(9)
				dp.SetSum(100)
				dp.SetZeroCount(1)
				dp.Positive().SetOffset(2)
				dp.Positive().BucketCounts().FromRaw([]uint64{3, 0, 0, 0, 2})
				dp.Negative().SetOffset(-1)
				dp.Negative().BucketCounts().FromRaw([]uint64{1, 2})
				return md
			},
			want: []prompb.TimeSeries{{
				Labels: lbls("__name__", "payload_size_bytes", "job", "api"),
				Histograms: []prompb.Histogram{{
					Count: &prompb.Histogram_CountInt{CountInt: 9}, Sum: 100, Schema: 1,
					ZeroThreshold: defaultZeroThreshold, ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: 1},
					// OTLP index 2 is native index 3; a gap of 3 empty
					// buckets starts a new span.
					PositiveSpans:  []prompb.BucketSpan{{Offset: 3, Length: 1}, {Offset: 3, Length: 1}},
					PositiveDeltas: []int64{3, -1},
					NegativeSpans:  []prompb.BucketSpan{{Offset: 0, Length: 2}},
					NegativeDeltas: []int64{1, 1},
					Timestamp:      t0,
				}},
			}},
			meta:   []prompb.MetricMetadata{{Type: prompb.MetricMetadata_HISTOGRAM, MetricFamilyName: "payload_size_bytes", Unit: "bytes"}},
			points: 1,
		},
		{
			name: "exponential histogram dropped without native histograms; invalid one dropped",
			cfg:  func(c *Config) { c.SendNativeHistograms = false },
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				m := ms.AppendEmpty()
				m.SetName("e")
				m.SetEmptyExponentialHistogram().SetAggregationTemporality(cumulative)
				m.ExponentialHistogram().DataPoints().AppendEmpty().SetTimestamp(nanos(t0))
				return md
			},
			dropped: map[string]int{ReasonNativeHistogramsDisabled: 1},
		},
		{
			name: "native histogram with counts above its count is refused",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				m := ms.AppendEmpty()
				m.SetName("e")
				m.SetEmptyExponentialHistogram().SetAggregationTemporality(cumulative)
				dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
				dp.SetTimestamp(nanos(t0))
				dp.SetCount(1)
				dp.Positive().BucketCounts().FromRaw([]uint64{5})
				return md
			},
			dropped: map[string]int{ReasonInvalidHistogram: 1},
		},
		{
			name: "no recorded value is a stale marker",
			md: func() pmetric.Metrics {
				md, ms := metrics("service.name", "api")
				dp := gauge(ms, "x", "", t0, 5)
				dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				return md
			},
			want:   []prompb.TimeSeries{series(lbls("__name__", "x", "job", "api"), smp(t0, math.Float64frombits(staleNaN)))},
			points: 1,
		},
		{
			name: "samples of a series merged in time order; duplicates and missing timestamps dropped",
			md: func() pmetric.Metrics {
				md := pmetric.NewMetrics()
				for _, ts := range []int64{t0 + 2000, t0, t0 + 1000, t0} {
					rm := md.ResourceMetrics().AppendEmpty()
					rm.Resource().Attributes().PutStr("service.name", "api")
					gauge(rm.ScopeMetrics().AppendEmpty().Metrics(), "x", "", ts, float64(ts-t0))
				}
				gauge(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "x", "", 0, 1)
				return md
			},
			want:    []prompb.TimeSeries{series(lbls("__name__", "x", "job", "api"), smp(t0, 0), smp(t0+1000, 1000), smp(t0+2000, 2000))},
			dropped: map[string]int{ReasonDuplicate: 1, ReasonNoTimestamp: 1},
			points:  3,
		},
		{
			name: "colliding attribute names are joined; invalid UTF-8 repaired",
			md: func() pmetric.Metrics {
				md, ms := metrics()
				gauge(ms, "x", "", t0, 1, "a.b", "1", "a_b", "2", "v", "bad\xffvalue")
				return md
			},
			want:   []prompb.TimeSeries{series(lbls("__name__", "x", "a_b", "1;2", "v", "bad\uFFFDvalue"), smp(t0, 1))},
			points: 1,
		},
		{
			name: "an attribute name that cannot be made valid drops the point",
			md: func() pmetric.Metrics {
				md, ms := metrics()
				gauge(ms, "x", "", t0, 1, "...", "v")
				return md
			},
			dropped: map[string]int{ReasonInvalidName: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := defaultTranslator(tc.cfg).translate(tc.md())
			if got, want := dump(b.req.Timeseries), dump(tc.want); got != want {
				t.Errorf("series:\n got: %s\nwant: %s", got, want)
			}
			if tc.meta != nil && !reflect.DeepEqual(tc.meta, b.req.Metadata) {
				t.Errorf("metadata:\n got: %+v\nwant: %+v", b.req.Metadata, tc.meta)
			}
			if tc.dropped == nil {
				tc.dropped = map[string]int{}
			}
			if !reflect.DeepEqual(tc.dropped, b.Dropped) {
				t.Errorf("dropped = %v, want %v", b.Dropped, tc.dropped)
			}
			if b.Points != tc.points {
				t.Errorf("points = %d, want %d", b.Points, tc.points)
			}
		})
	}
}

// dump prints series one per line, floats as bits (stale markers are
// NaNs that == cannot compare).
func dump(ss []prompb.TimeSeries) string {
	var sb strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&sb, "\n  %v", s.Labels)
		for _, x := range s.Samples {
			fmt.Fprintf(&sb, " [%d %g %#x]", x.Timestamp, x.Value, math.Float64bits(x.Value))
		}
		for _, e := range s.Exemplars {
			fmt.Fprintf(&sb, " ex%v", e)
		}
		for _, h := range s.Histograms {
			fmt.Fprintf(&sb, " h{count=%v sum=%g schema=%d zt=%g zc=%v pos=%v %v neg=%v %v hint=%v ts=%d}",
				h.Count, h.Sum, h.Schema, h.ZeroThreshold, h.ZeroCount, h.PositiveSpans, h.PositiveDeltas, h.NegativeSpans, h.NegativeDeltas, h.ResetHint, h.Timestamp)
		}
	}
	return sb.String()
}

// TestStrategies: names and suffixes per translation_strategy.
func TestStrategies(t *testing.T) {
	type metric struct {
		name, unit string
		kind       string // gauge, counter, updown
	}
	ms := []metric{
		{"http.server.request.count", "1", "counter"},
		{"memory.usage", "By", "gauge"},
		{"cpu.utilization", "1", "gauge"},
		{"net.io", "By/s", "updown"},
		{"process.runtime.gc_total", "", "counter"},
	}
	for _, tc := range []struct {
		strategy string
		want     []string // family names, in ms order
		attr     string   // the label name of attribute "http.method"
	}{
		{"UnderscoreEscapingWithSuffixes", []string{"http_server_request_count_total", "memory_usage_bytes", "cpu_utilization_ratio", "net_io_bytes_per_second", "process_runtime_gc_total"}, "http_method"},
		{"UnderscoreEscapingWithoutSuffixes", []string{"http_server_request_count", "memory_usage", "cpu_utilization", "net_io", "process_runtime_gc_total"}, "http_method"},
		{"NoUTF8EscapingWithSuffixes", []string{"http.server.request.count_total", "memory.usage_bytes", "cpu.utilization_ratio", "net.io_bytes_per_second", "process.runtime.gc_total"}, "http.method"},
		{"NoTranslation", []string{"http.server.request.count", "memory.usage", "cpu.utilization", "net.io", "process.runtime.gc_total"}, "http.method"},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			md, slice := metrics()
			for _, m := range ms {
				switch m.kind {
				case "gauge":
					gauge(slice, m.name, m.unit, t0, 1, "http.method", "GET")
				default:
					s := sumMetric(slice, m.name, m.unit, m.kind == "counter", pmetric.AggregationTemporalityCumulative)
					dp := s.DataPoints().AppendEmpty()
					dp.SetTimestamp(nanos(t0))
					dp.Attributes().PutStr("http.method", "GET")
				}
			}
			b := defaultTranslator(func(c *Config) { c.TranslationStrategy = tc.strategy }).translate(md)
			if len(b.req.Timeseries) != len(tc.want) {
				t.Fatalf("%d series, want %d", len(b.req.Timeseries), len(tc.want))
			}
			for i, s := range b.req.Timeseries {
				want := lbls("__name__", tc.want[i], tc.attr, "GET")
				if !reflect.DeepEqual(want, s.Labels) {
					t.Errorf("%s: got %v, want %v", ms[i].name, s.Labels, want)
				}
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	md, ms := metrics("service.name", "api", "host.name", "h")
	gauge(ms, "x", "", t0, 1)
	b := defaultTranslator(func(c *Config) { c.Namespace = "edge" }).translate(md)
	var names []string
	for _, s := range b.req.Timeseries {
		names = append(names, s.Labels[0].Value)
	}
	if want := []string{"edge_x", "edge_target_info"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
}

// TestBucketLayoutRoundTrip decodes the spans and deltas of many random
// bucket layouts back into absolute counts per native bucket index and
// compares them with the OTLP buckets merged by hand.
func TestBucketLayoutRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		counts := make([]uint64, rng.IntN(20))
		for i := range counts {
			if rng.IntN(3) > 0 {
				counts[i] = uint64(rng.IntN(5))
			}
		}
		offset := int32(rng.IntN(41) - 20)
		scaleDown := int32(rng.IntN(3))
		want := map[int32]int64{}
		for i, c := range counts {
			if c > 0 {
				want[(offset+int32(i))>>scaleDown+1] += int64(c)
			}
		}
		spans, deltas := bucketLayout(counts, offset, scaleDown)
		got := map[int32]int64{}
		idx, k, abs := int32(0), 0, int64(0)
		for si, sp := range spans {
			if si == 0 {
				idx = sp.Offset
			} else {
				idx += sp.Offset
			}
			for range sp.Length {
				abs += deltas[k]
				k++
				if abs != 0 {
					got[idx] = abs
				}
				idx++
			}
		}
		if k != len(deltas) {
			t.Fatalf("case %d: spans cover %d buckets, %d deltas", n, k, len(deltas))
		}
		if !maps.Equal(got, want) {
			t.Fatalf("case %d: counts %v offset %d scaleDown %d: decoded %v, want %v (spans %v deltas %v)", n, counts, offset, scaleDown, got, want, spans, deltas)
		}
	}
}

// TestLabelNames pins the label names of attributes that start with
// underscores or hold runs of separators: Prometheus 3's defaults
// (label_name_underscore_sanitization and
// label_name_preserve_multiple_underscores both true), and each of the
// other behaviours the two keys select.
func TestLabelNames(t *testing.T) {
	keys := []string{"_private", "__reserved", "a..b", "1st", "ok.key", "ä.b"}
	for _, tc := range []struct {
		name                 string
		strategy             string
		underscore, multiple bool
		want                 []string // the label name of each key
	}{
		{"prometheus defaults", "UnderscoreEscapingWithSuffixes", true, true,
			[]string{"key_private", "__reserved", "a__b", "key_1st", "ok_key", "__b"}},
		{"collapse underscores", "UnderscoreEscapingWithSuffixes", true, false,
			[]string{"key_private", "key_reserved", "a_b", "key_1st", "ok_key", "key_b"}},
		{"no underscore prefix", "UnderscoreEscapingWithSuffixes", false, true,
			[]string{"_private", "__reserved", "a__b", "key_1st", "ok_key", "__b"}},
		{"opentelemetry specification", "UnderscoreEscapingWithoutSuffixes", false, false,
			[]string{"_private", "_reserved", "a_b", "key_1st", "ok_key", "_b"}},
		{"utf-8 kept", "NoUTF8EscapingWithSuffixes", true, true,
			[]string{"_private", "__reserved", "a..b", "1st", "ok.key", "ä.b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := defaultTranslator(func(c *Config) {
				c.TranslationStrategy = tc.strategy
				c.LabelNameUnderscoreSanitization = tc.underscore
				c.LabelNamePreserveMultipleUnderscores = tc.multiple
			})
			for i, k := range keys {
				md, ms := metrics()
				gauge(ms, "g", "", t0, 1, k, "v")
				b := tr.translate(md)
				if len(b.req.Timeseries) != 1 {
					t.Fatalf("%s: %d series, want 1", k, len(b.req.Timeseries))
				}
				want := lbls("__name__", "g", tc.want[i], "v")
				if got := b.req.Timeseries[0].Labels; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: labels %v, want %v", k, got, want)
				}
			}
		})
	}
}
