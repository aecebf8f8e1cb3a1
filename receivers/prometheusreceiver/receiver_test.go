package prometheusreceiver

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
)

const textContentType = "text/plain; version=0.0.4; charset=utf-8"
const omContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

const textExposition = `# HELP req_total Requests served.
# TYPE req_total counter
req_total{code="200"} 10
req_total{code="500"} 2
# TYPE temp gauge
temp{room="a"} 21.5
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="1"} 3
lat_seconds_bucket{le="+Inf"} 4
lat_seconds_sum 2.5
lat_seconds_count 4
# TYPE rpc summary
rpc{quantile="0.5"} 0.2
rpc{quantile="0.9"} 0.7
rpc_sum 12
rpc_count 30
untyped_thing 7
# TYPE target_info gauge
target_info{env="prod",region="eu"} 1
`

const omExposition = `# TYPE jobs_seconds counter
# UNIT jobs_seconds seconds
jobs_seconds_total 5 # {trace_id="0102030405060708090a0b0c0d0e0f10",span_id="0102030405060708",user="x"} 1 1700000000.000
jobs_seconds_created 1700000000.5
# EOF
`

// find returns the points of all accepted batches that match.
func find(s *sink, match func(p point) bool) []point {
	var out []point
	for _, md := range s.all() {
		for _, p := range points(md) {
			if match(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

func waitPoint(t *testing.T, s *sink, what string, match func(p point) bool) point {
	t.Helper()
	var got []point
	testutil.Eventually(t, 15*time.Second, what, func() bool {
		got = find(s, match)
		return len(got) > 0
	})
	return got[len(got)-1]
}

func named(name string) func(p point) bool {
	return func(p point) bool { return p.metric == name && !p.stale }
}

func TestScrapeTranslation(t *testing.T) {
	text := newTarget(t, textContentType, textExposition)
	om := newTarget(t, omContentType, omExposition)
	s := &sink{}
	startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 200ms, scrape_timeout: 150ms}
  scrape_configs:
    - job_name: text
      static_configs: [{targets: [%q]}]
    - job_name: om
      static_configs: [{targets: [%q]}]
`, text.addr(), om.addr()), s, nil)

	textRes := "text/" + text.addr()
	for _, tc := range []struct {
		metric string
		typ    pmetric.MetricType
		attrs  string
		value  float64
	}{
		{"req_total", pmetric.MetricTypeSum, "code=200", 10},
		{"req_total", pmetric.MetricTypeSum, "code=500", 2},
		{"temp", pmetric.MetricTypeGauge, "room=a", 21.5},
		{"untyped_thing", pmetric.MetricTypeGauge, "", 7},
		{"lat_seconds", pmetric.MetricTypeHistogram, "", 4},
		{"rpc", pmetric.MetricTypeSummary, "", 30},
		{"up", pmetric.MetricTypeGauge, "", 1},
		{"scrape_samples_scraped", pmetric.MetricTypeGauge, "", 14},
	} {
		p := waitPoint(t, s, tc.metric+" "+tc.attrs, func(p point) bool {
			return p.resource == textRes && p.metric == tc.metric && p.attrs == tc.attrs && !p.stale
		})
		if p.typ != tc.typ || p.value != tc.value {
			t.Errorf("%s{%s}: got %s %v, want %s %v", tc.metric, tc.attrs, p.typ, p.value, tc.typ, tc.value)
		}
		switch tc.metric {
		case "lat_seconds":
			if got := p.hist.ExplicitBounds().AsRaw(); fmt.Sprint(got) != "[0.1 1]" {
				t.Errorf("lat_seconds bounds %v", got)
			}
			if got := p.hist.BucketCounts().AsRaw(); fmt.Sprint(got) != "[1 2 1]" {
				t.Errorf("lat_seconds bucket counts %v, want [1 2 1]", got)
			}
			if p.hist.Sum() != 2.5 {
				t.Errorf("lat_seconds sum %v", p.hist.Sum())
			}
		case "rpc":
			qs := p.summary.QuantileValues()
			if qs.Len() != 2 || qs.At(0).Quantile() != 0.5 || qs.At(1).Value() != 0.7 || p.summary.Sum() != 12 {
				t.Errorf("rpc summary: %d quantiles, sum %v", qs.Len(), p.summary.Sum())
			}
		}
	}
	if got := find(s, named("target_info")); len(got) != 0 {
		t.Errorf("target_info stayed a metric: %v", got[0])
	}
	// Resource attributes: job, instance, the scrape URL, target_info.
	md := s.all()[0]
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ra := md.ResourceMetrics().At(i).Resource().Attributes().AsRaw()
		if ra[attrServiceName] != "text" {
			continue
		}
		host, port, _ := strings.Cut(text.addr(), ":")
		want := map[string]any{attrServiceName: "text", attrServiceInstanceID: text.addr(), attrServerAddress: host,
			attrURLScheme: "http", "env": "prod", "region": "eu"}
		for k, v := range want {
			if ra[k] != v {
				t.Errorf("resource attribute %s = %v, want %v", k, ra[k], v)
			}
		}
		if fmt.Sprint(ra[attrServerPort]) != port {
			t.Errorf("server.port = %v, want %s", ra[attrServerPort], port)
		}
	}

	// OpenMetrics: start timestamp from _created, exemplar, unit.
	p := waitPoint(t, s, "jobs_seconds_total", func(p point) bool { return p.metric == "jobs_seconds_total" && !p.stale })
	if p.typ != pmetric.MetricTypeSum || p.value != 5 {
		t.Fatalf("jobs_seconds_total: %s %v", p.typ, p.value)
	}
	if want := int64(1700000000500) * 1e6; p.start != want {
		t.Errorf("jobs_seconds_total start %d, want %d (jobs_seconds_created)", p.start, want)
	}
	if p.unit != "seconds" {
		t.Errorf("jobs_seconds_total unit %q", p.unit)
	}
	exs := p.number.Exemplars()
	if exs.Len() != 1 {
		t.Fatalf("jobs_seconds_total: %d exemplars", exs.Len())
	}
	ex := exs.At(0)
	if ex.TraceID().String() != "0102030405060708090a0b0c0d0e0f10" || ex.SpanID().String() != "0102030405060708" || ex.DoubleValue() != 1 {
		t.Errorf("exemplar %s %s %v", ex.TraceID(), ex.SpanID(), ex.DoubleValue())
	}
	if v, _ := ex.FilteredAttributes().Get("user"); v.AsString() != "x" {
		t.Errorf("exemplar attributes %v", ex.FilteredAttributes().AsRaw())
	}
	if got := find(s, named("jobs_seconds_created")); len(got) != 0 {
		t.Errorf("jobs_seconds_created became a series; it is the start timestamp")
	}
}

func TestNativeHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "op_seconds", Help: "x", NativeHistogramBucketFactor: 1.1})
	reg.MustRegister(h)
	for _, v := range []float64{0.001, 0.01, 0.01, 0.5, 3, -2, 0} {
		h.Observe(v)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	s := &sink{}
	startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 200ms, scrape_timeout: 150ms, scrape_protocols: [PrometheusProto, PrometheusText0.0.4]}
  scrape_configs:
    - job_name: native
      scrape_native_histograms: true
      static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(srv.URL, "http://")), s, nil)
	p := waitPoint(t, s, "op_seconds", func(p point) bool {
		return p.metric == "op_seconds" && p.typ == pmetric.MetricTypeExponentialHistogram
	})
	dp := p.exp
	if dp.Count() != 7 || dp.ZeroCount() != 1 || math.Abs(dp.Sum()-1.521) > 1e-9 {
		t.Errorf("count %d zero %d sum %v", dp.Count(), dp.ZeroCount(), dp.Sum())
	}
	var pos, neg uint64
	for _, c := range dp.Positive().BucketCounts().AsRaw() {
		pos += c
	}
	for _, c := range dp.Negative().BucketCounts().AsRaw() {
		neg += c
	}
	if pos != 5 || neg != 1 || dp.Scale() != 3 {
		t.Errorf("positive %d negative %d scale %d", pos, neg, dp.Scale())
	}
	// 3 falls in OTLP bucket offset+i with base^(offset+i) < 3 <= base^(offset+i+1).
	base := math.Pow(2, math.Pow(2, -float64(dp.Scale())))
	counts := dp.Positive().BucketCounts().AsRaw()
	last := int(dp.Positive().Offset()) + len(counts) - 1
	if lo, hi := math.Pow(base, float64(last)), math.Pow(base, float64(last+1)); !(lo < 3 && 3 <= hi) {
		t.Errorf("largest bucket (%v, %v] does not hold 3", lo, hi)
	}
}

// TestStaleness: a series that goes away becomes a point flagged
// NoRecordedValue; a refused scrape is skipped and counted, and the
// staleness markers it carried go with the next accepted scrape.
func TestStaleness(t *testing.T) {
	body := "# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\n# TYPE c gauge\nc 3\n"
	tg := newTarget(t, textContentType, body)
	s := &sink{}
	tel := selftelemetry.New()
	startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 200ms, scrape_timeout: 150ms}
  scrape_configs:
    - job_name: st
      static_configs: [{targets: [%q]}]
`, tg.addr()), s, tel)
	waitPoint(t, s, "b", named("b"))
	tg.set("# TYPE a gauge\na 1\n# TYPE c gauge\nc 3\n")
	waitPoint(t, s, "b stale", func(p point) bool { return p.metric == "b" && p.stale })

	// Refuse while c goes away: its marker is in a refused scrape.
	s.setRefuse(pipeline.NewThrottle(errors.New("queue full"), time.Second))
	tg.set("# TYPE a gauge\na 1\n")
	testutil.Eventually(t, 10*time.Second, "two refused scrapes", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.refused >= 2
	})
	before := s.count()
	s.setRefuse(nil)
	testutil.Eventually(t, 10*time.Second, "an accepted scrape after the refusals", func() bool { return s.count() > before })
	var stale []point
	for _, md := range s.all()[before:] {
		for _, p := range points(md) {
			if p.metric == "c" && p.stale {
				stale = append(stale, p)
			}
		}
	}
	if len(stale) == 0 {
		t.Fatalf("c's staleness marker, refused with its scrape, did not come with the next accepted one")
	}
	skipped := counterSum(t, tel, "outpost_receiver_scrapes_skipped_total", map[string]string{"reason": "throttled"})
	refused := counterSum(t, tel, "outpost_receiver_refused_items_total", map[string]string{"reason": "throttled"})
	accepted := counterSum(t, tel, "outpost_receiver_accepted_items_total", nil)
	t.Logf("skipped scrapes %v, refused points %v, accepted points %v", skipped, refused, accepted)
	if skipped < 2 || refused < 2*6 || accepted == 0 {
		t.Errorf("skipped %v refused %v accepted %v", skipped, refused, accepted)
	}

	// A permanent refusal is skipped the same way, by its own reason.
	s.setRefuse(consumererror.NewPermanent(errors.New("bad")))
	testutil.Eventually(t, 10*time.Second, "a permanent skip", func() bool {
		return counterSum(t, tel, "outpost_receiver_scrapes_skipped_total", map[string]string{"reason": "permanent"}) > 0
	})
	s.setRefuse(nil)
}

func TestRelabelAndLimits(t *testing.T) {
	tg := newTarget(t, textContentType, `# TYPE keep_me gauge
keep_me{path="/a",job="exposed"} 1
# TYPE drop_me gauge
drop_me 2
# TYPE old_name counter
old_name_total 3
`)
	many := newTarget(t, textContentType, "a 1\nb 2\nc 3\nd 4\n")
	s := &sink{}
	startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 200ms, scrape_timeout: 150ms}
  scrape_configs:
    - job_name: relabel
      honor_labels: true
      static_configs: [{targets: [%q], labels: {team: edge}}]
      relabel_configs:
        - target_label: zone
          replacement: z1
      metric_relabel_configs:
        - source_labels: [__name__]
          regex: drop_me
          action: drop
        - source_labels: [__name__]
          regex: old_name_total
          target_label: __name__
          replacement: new_name_total
    - job_name: limited
      sample_limit: 3
      static_configs: [{targets: [%q]}]
`, tg.addr(), many.addr()), s, nil)
	p := waitPoint(t, s, "keep_me", named("keep_me"))
	if p.resource != "exposed/"+tg.addr() || p.attrs != "path=/a,team=edge,zone=z1" {
		t.Errorf("keep_me: resource %s attrs %s (honor_labels keeps the exposed job)", p.resource, p.attrs)
	}
	waitPoint(t, s, "new_name_total", named("new_name_total"))
	up := waitPoint(t, s, "up of the limited target", func(p point) bool {
		return p.metric == "up" && strings.HasPrefix(p.resource, "limited/")
	})
	if up.value != 0 {
		t.Errorf("up of a target over sample_limit = %v, want 0", up.value)
	}
	if got := find(s, named("drop_me")); len(got) > 0 {
		t.Errorf("drop_me was not dropped")
	}
	if got := find(s, named("old_name_total")); len(got) > 0 {
		t.Errorf("old_name_total was not renamed")
	}
	if got := find(s, func(p point) bool { return strings.HasPrefix(p.resource, "limited/") && len(p.metric) == 1 }); len(got) > 0 {
		t.Errorf("samples of a scrape over sample_limit were handed on: %v", got[0].metric)
	}
	t.Logf("relabelled and limited scrapes: %d batches", s.count())
}

// TestDiscovery: targets from a file_sd file that is rewritten during the
// test (the old target's series go stale) and from http_sd.
func TestDiscovery(t *testing.T) {
	a := newTarget(t, textContentType, "# TYPE from_a gauge\nfrom_a 1\n")
	b := newTarget(t, textContentType, "# TYPE from_b gauge\nfrom_b 1\n")
	c := newTarget(t, textContentType, "# TYPE from_c gauge\nfrom_c 1\n")
	dir := t.TempDir()
	sd := filepath.Join(dir, "targets.json")
	writeSD := func(addr string) {
		tmp := sd + ".tmp"
		if err := os.WriteFile(tmp, fmt.Appendf(nil, `[{"targets": [%q], "labels": {"env": "test"}}]`, addr), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, sd); err != nil {
			t.Fatal(err)
		}
	}
	writeSD(a.addr())
	httpSD := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"targets": [%q], "labels": {"sd": "http"}}]`, c.addr())
	}))
	t.Cleanup(httpSD.Close)
	s := &sink{}
	startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 200ms, scrape_timeout: 150ms}
  scrape_configs:
    - job_name: files
      file_sd_configs: [{files: [%q], refresh_interval: 1s}]
    - job_name: http
      http_sd_configs: [{url: %q, refresh_interval: 1s}]
`, filepath.Join(dir, "*.json"), httpSD.URL), s, nil)
	p := waitPoint(t, s, "from_a", named("from_a"))
	if p.attrs != "env=test" {
		t.Errorf("from_a attrs %s", p.attrs)
	}
	p = waitPoint(t, s, "from_c (http_sd)", named("from_c"))
	if p.attrs != "sd=http" {
		t.Errorf("from_c attrs %s", p.attrs)
	}
	writeSD(b.addr())
	waitPoint(t, s, "from_b after the file changed", named("from_b"))
	waitPoint(t, s, "from_a stale after its target left", func(p point) bool { return p.metric == "from_a" && p.stale })
	waitPoint(t, s, "up of a stale", func(p point) bool {
		return p.metric == "up" && p.stale && p.resource == "files/"+a.addr()
	})
}

// TestNodeExporter scrapes a real node_exporter.
func TestNodeExporter(t *testing.T) {
	addr := testutil.NodeExporter(t)
	s := &sink{}
	startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 1s, scrape_timeout: 900ms}
  scrape_configs:
    - job_name: node
      static_configs: [{targets: [%q]}]
`, addr), s, nil)
	p := waitPoint(t, s, "node_cpu_seconds_total", named("node_cpu_seconds_total"))
	if p.typ != pmetric.MetricTypeSum || !strings.Contains(p.attrs, "mode=") || !strings.Contains(p.attrs, "cpu=") {
		t.Errorf("node_cpu_seconds_total: %s %s", p.typ, p.attrs)
	}
	if up := waitPoint(t, s, "up", named("up")); up.value != 1 {
		t.Errorf("up = %v", up.value)
	}
	g := waitPoint(t, s, "go_gc_duration_seconds", named("go_gc_duration_seconds"))
	if g.typ != pmetric.MetricTypeSummary {
		t.Errorf("go_gc_duration_seconds is %s", g.typ)
	}
	mem := waitPoint(t, s, "node_memory_MemTotal_bytes", named("node_memory_MemTotal_bytes"))
	if mem.typ != pmetric.MetricTypeGauge || mem.value <= 0 {
		t.Errorf("node_memory_MemTotal_bytes %s %v", mem.typ, mem.value)
	}
	md := s.all()[0]
	types := map[pmetric.MetricType]int{}
	for _, p := range points(md) {
		types[p.typ]++
	}
	t.Logf("node_exporter scrape: %d points (%v)", md.DataPointCount(), types)
}
