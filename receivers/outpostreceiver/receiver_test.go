package outpostreceiver

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type sink struct {
	mu      sync.Mutex
	batches []pmetric.Metrics
	got     chan struct{}
}

func newSink() *sink { return &sink{got: make(chan struct{}, 100)} }

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	s.batches = append(s.batches, md)
	s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) last(t *testing.T) pmetric.Metrics {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		t.Fatal("no batch")
	}
	return s.batches[len(s.batches)-1]
}

func metricsByName(md pmetric.Metrics) map[string]pmetric.Metric {
	out := map[string]pmetric.Metric{}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		out[ms.At(i).Name()] = ms.At(i)
	}
	return out
}

func newTest(t *testing.T, src string, tel *selftelemetry.Metrics, s *sink) *receiver {
	t.Helper()
	cfg := createDefaultConfig()
	if err := configs.Decode("t.yaml", []byte(src), cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := newReceiver(pipeline.Settings{ID: pipeline.ID{Type: Type}, Telemetry: tel}, cfg, pipeline.Consumers{Metrics: s})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"collection_interval: 0s", "collection_interval: must be > 0"},
		{"include: []", "include: must list at least one pattern"},
		{"exclude: ['outpost_(']", "exclude[0]: invalid regular expression"},
		{"initial_delay: -1s", "initial_delay: must be ≥ 0"},
	} {
		cfg := createDefaultConfig()
		if err := configs.Decode("t.yaml", []byte(tc.src), cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
	if err := createDefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestOwnMetrics reads a selftelemetry registry: outpost_* and process_*
// families, not go_*; the resource names outpost and its version; and the
// receiver's own accepted counter shows the previous cycle's points.
func TestOwnMetrics(t *testing.T) {
	tel := selftelemetry.New()
	tel.SetBuildInfo("v1.2.3", "abc", "cfg1")
	tel.QueueBytes.WithLabelValues("prometheusremotewrite", "normal").Set(4096)
	tel.QueueOldestAge.WithLabelValues("prometheusremotewrite", "normal").Set(12.5)
	tel.QueueDropped.WithLabelValues("prometheusremotewrite", "low", "queue_full").Add(7)
	tel.ExporterSendDuration.WithLabelValues("prometheusremotewrite", "metrics").Observe(0.02)
	s := newSink()
	r := newTest(t, "", tel, s)
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := s.last(t)
	res := first.ResourceMetrics().At(0).Resource().Attributes()
	if v, _ := res.Get("service.name"); v.Str() != "outpost" {
		t.Errorf("service.name %v", v.AsString())
	}
	if v, _ := res.Get("service.version"); v.Str() != "v1.2.3" {
		t.Errorf("service.version %v", v.AsString())
	}
	ms := metricsByName(first)
	for name := range ms {
		if !strings.HasPrefix(name, "outpost_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("%s read although not included by default", name)
		}
	}
	for _, name := range []string{"outpost_build_info", "outpost_queue_bytes", "outpost_queue_oldest_age_seconds", "outpost_queue_dropped_items_total", "outpost_exporter_send_duration_seconds"} {
		if _, ok := ms[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if m := ms["outpost_queue_bytes"]; m.Gauge().DataPoints().Len() != 1 || m.Gauge().DataPoints().At(0).DoubleValue() != 4096 {
		t.Errorf("outpost_queue_bytes %v", m.Gauge().DataPoints().At(0).DoubleValue())
	}
	d := ms["outpost_queue_dropped_items_total"].Sum()
	if !d.IsMonotonic() || d.AggregationTemporality() != pmetric.AggregationTemporalityCumulative || d.DataPoints().At(0).DoubleValue() != 7 {
		t.Errorf("dropped: %v %v", d.IsMonotonic(), d.DataPoints().At(0).DoubleValue())
	}
	if a, _ := d.DataPoints().At(0).Attributes().Get("reason"); a.Str() != "queue_full" {
		t.Errorf("reason attribute %v", a.AsString())
	}
	if dp := d.DataPoints().At(0); dp.StartTimestamp() == 0 || dp.StartTimestamp() > dp.Timestamp() {
		t.Errorf("start %s time %s", dp.StartTimestamp(), dp.Timestamp())
	}
	n := first.DataPointCount()
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	acc := metricsByName(s.last(t))["outpost_receiver_accepted_items_total"]
	if acc.Sum().DataPoints().Len() != 1 || acc.Sum().DataPoints().At(0).DoubleValue() != float64(n) {
		t.Errorf("second cycle: own accepted counter %v, want the first cycle's %d points", acc.Sum().DataPoints().At(0).DoubleValue(), n)
	}
	t.Logf("first cycle: %d points in %d metrics", n, first.MetricCount())
}

// TestConvertEveryType: counter, gauge, untyped, histogram and summary
// from a registry of test metrics.
func TestConvertEveryType(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t_requests_total", Help: "Requests."}, []string{"code"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "t_depth", Help: "Depth."})
	u := prometheus.NewUntypedFunc(prometheus.UntypedOpts{Name: "t_untyped", Help: "U."}, func() float64 { return 3 })
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "t_latency_seconds", Help: "L.", Buckets: []float64{0.1, 1}})
	sm := prometheus.NewSummary(prometheus.SummaryOpts{Name: "t_size_bytes", Help: "S.", Objectives: map[float64]float64{0.5: 0.05}})
	reg.MustRegister(c, g, u, h, sm)
	c.WithLabelValues("200").Add(5)
	g.Set(-2)
	for _, v := range []float64{0.05, 0.5, 0.7, 3} {
		h.Observe(v)
	}
	sm.Observe(10)
	s := newSink()
	r := newTest(t, "include: ['t_.*']", selftelemetry.New(), s)
	r.gatherer = reg
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms := metricsByName(s.last(t))
	if len(ms) != 5 {
		t.Fatalf("%d metrics: %v", len(ms), ms)
	}
	if m := ms["t_requests_total"]; m.Type() != pmetric.MetricTypeSum || m.Sum().DataPoints().At(0).DoubleValue() != 5 || m.Description() != "Requests." {
		t.Errorf("counter %v", m.Type())
	}
	if m := ms["t_depth"]; m.Type() != pmetric.MetricTypeGauge || m.Gauge().DataPoints().At(0).DoubleValue() != -2 {
		t.Errorf("gauge %v", m.Type())
	}
	if m := ms["t_untyped"]; m.Type() != pmetric.MetricTypeGauge || m.Gauge().DataPoints().At(0).DoubleValue() != 3 {
		t.Errorf("untyped %v", m.Type())
	}
	hm := ms["t_latency_seconds"]
	if hm.Type() != pmetric.MetricTypeHistogram {
		t.Fatalf("histogram %v", hm.Type())
	}
	dp := hm.Histogram().DataPoints().At(0)
	if got := dp.BucketCounts().AsRaw(); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 1 || dp.Count() != 4 || dp.Sum() != 4.25 {
		t.Errorf("histogram buckets %v bounds %v count %d sum %v", got, dp.ExplicitBounds().AsRaw(), dp.Count(), dp.Sum())
	}
	if b := dp.ExplicitBounds().AsRaw(); len(b) != 2 || b[0] != 0.1 || b[1] != 1 {
		t.Errorf("bounds %v", b)
	}
	if dp.StartTimestamp() == 0 {
		t.Error("histogram without start time")
	}
	sdp := ms["t_size_bytes"].Summary().DataPoints().At(0)
	if sdp.Count() != 1 || sdp.Sum() != 10 || sdp.QuantileValues().Len() != 1 || sdp.QuantileValues().At(0).Value() != 10 {
		t.Errorf("summary %d %v", sdp.Count(), sdp.Sum())
	}
}

func TestLifecycle(t *testing.T) {
	tel := selftelemetry.New()
	s := newSink()
	r := newTest(t, "collection_interval: 20ms\ninitial_delay: 0s", tel, s)
	if err := r.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case <-s.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no batch within 10s")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if testutil.ToFloat64(tel.ReceiverAccepted.WithLabelValues("outpost", "metrics", "self")) == 0 {
		t.Error("nothing counted as accepted")
	}
}

// TestDocExample: the example in docs/configuration.md decodes, is valid
// and shows the defaults.
func TestDocExample(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = s[strings.Index(s, "\n### `outpost`\n"):]
	s = s[strings.Index(s, "```yaml\n")+8:]
	s = s[:strings.Index(s, "```")]
	s = strings.TrimPrefix(s, "receivers:\n  outpost:\n")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		lines = append(lines, strings.TrimPrefix(l, "    "))
	}
	cfg := createDefaultConfig()
	if err := configs.Decode("doc.yaml", []byte(strings.Join(lines, "\n")), cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if def := createDefaultConfig(); fmt.Sprint(cfg) != fmt.Sprint(def) {
		t.Errorf("documented %+v, defaults %+v", cfg, def)
	}
}
