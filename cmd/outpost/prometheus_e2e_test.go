package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// prometheus is a real Prometheus server (bin/prometheus) receiving
// remote write.
type prometheus struct {
	addr, dir string
	proc      *testutil.Process
}

func startPrometheus(t *testing.T, addr, dir string) *prometheus {
	t.Helper()
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	p := &prometheus{addr: addr, dir: dir}
	p.proc = testutil.Start(t, bin,
		"--config.file="+filepath.Join(testutil.RepoRoot(t), "tools", "peers", "prometheus.yml"),
		"--web.listen-address="+addr,
		"--storage.tsdb.path="+dir,
		"--web.enable-remote-write-receiver",
		"--enable-feature=exemplar-storage",
		"--log.level=warn",
	)
	testutil.Eventually(t, 60*time.Second, "prometheus /-/ready", func() bool {
		code, _, err := testutil.HTTPGet("http://" + addr + "/-/ready")
		return err == nil && code == http.StatusOK
	})
	return p
}

func (p *prometheus) stop(t *testing.T) {
	t.Helper()
	p.proc.Signal(t, syscall.SIGTERM)
	if code := p.proc.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("prometheus exit code %d", code)
	}
}

// promResult is one element of an instant query's result.
type promResult struct {
	Metric    map[string]string `json:"metric"`
	Value     []any             `json:"value"`
	Histogram []json.RawMessage `json:"histogram"`
}

// query runs an instant PromQL query and returns its vector.
func (p *prometheus) query(t *testing.T, q string) []promResult {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []promResult `json:"result"`
		} `json:"data"`
		Error string `json:"error"`
	}
	p.get(t, "/api/v1/query?query="+url.QueryEscape(q), &out)
	if out.Status != "success" {
		t.Fatalf("query %s: %s", q, out.Error)
	}
	sort.Slice(out.Data.Result, func(i, j int) bool {
		return fmt.Sprint(out.Data.Result[i].Metric) < fmt.Sprint(out.Data.Result[j].Metric)
	})
	return out.Data.Result
}

func (p *prometheus) get(t *testing.T, path string, v any) {
	t.Helper()
	code, body, err := testutil.HTTPGet("http://" + p.addr + path)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, code, err, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// scalar runs a query whose answer is one number (or none: -1).
func (p *prometheus) scalar(t *testing.T, q string) float64 {
	t.Helper()
	r := p.query(t, q)
	if len(r) == 0 {
		return -1
	}
	return value(t, r[0])
}

func value(t *testing.T, r promResult) float64 {
	t.Helper()
	s, _ := r.Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("value %v: %v", r.Value, err)
	}
	return v
}

func prwConfig(o *outpost, endpoint, extra string) string {
	return o.otlpIn() + testutil.Sprintf(`
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  prometheusremotewrite:
    endpoint: %s
    external_labels: {site: lab}
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
%s
service:
  pipelines:
    metrics: {receivers: [otlp], processors: [batch], exporters: [prometheusremotewrite]}
`, endpoint, extra)
}

// exportOTLP sends md to outpost over OTLP/gRPC.
func exportOTLP(t *testing.T, addr string, md pmetric.Metrics) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedDataPoints() != 0 {
		t.Fatalf("export: %d rejected: %s", ps.RejectedDataPoints(), ps.ErrorMessage())
	}
}

// everyType is a hand-made batch with one metric of each OTLP type, on a
// resource with job, instance and target_info attributes, at ts.
func everyType(ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.namespace", "shop")
	ra.PutStr("service.instance.id", "pod-1")
	ra.PutStr("host.name", "edge-7")
	ra.PutStr("deployment.environment", "lab")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	at := pcommon.NewTimestampFromTime(ts)

	g := ms.AppendEmpty()
	g.SetName("e2e.queue.depth")
	g.SetUnit("{item}")
	g.SetDescription("Items waiting.")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(at)
	dp.SetDoubleValue(12.5)
	dp.Attributes().PutStr("queue", "orders")

	c := ms.AppendEmpty()
	c.SetName("e2e.requests")
	cs := c.SetEmptySum()
	cs.SetIsMonotonic(true)
	cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp = cs.DataPoints().AppendEmpty()
	dp.SetTimestamp(at)
	dp.SetIntValue(42)
	dp.Attributes().PutStr("http.method", "GET")
	ex := dp.Exemplars().AppendEmpty()
	ex.SetTimestamp(at)
	ex.SetIntValue(1)
	ex.SetTraceID(pcommon.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36})
	ex.SetSpanID(pcommon.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7})

	u := ms.AppendEmpty()
	u.SetName("e2e.connections")
	us := u.SetEmptySum()
	us.SetIsMonotonic(false)
	us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp = us.DataPoints().AppendEmpty()
	dp.SetTimestamp(at)
	dp.SetIntValue(-3)

	h := ms.AppendEmpty()
	h.SetName("e2e.latency")
	h.SetUnit("s")
	hh := h.SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := hh.DataPoints().AppendEmpty()
	hp.SetTimestamp(at)
	hp.SetCount(10)
	hp.SetSum(4.5)
	hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
	hp.BucketCounts().FromRaw([]uint64{2, 3, 4, 1})

	e := ms.AppendEmpty()
	e.SetName("e2e.payload")
	e.SetUnit("By")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	ep := eh.DataPoints().AppendEmpty()
	ep.SetTimestamp(at)
	ep.SetScale(0)
	ep.SetCount(6)
	ep.SetSum(300)
	ep.Positive().SetOffset(4)
	ep.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3})

	s := ms.AppendEmpty()
	s.SetName("e2e.rpc")
	s.SetUnit("ms")
	sp := s.SetEmptySummary().DataPoints().AppendEmpty()
	sp.SetTimestamp(at)
	sp.SetCount(7)
	sp.SetSum(70)
	for _, q := range [][2]float64{{0.5, 9}, {0.99, 30}} {
		qv := sp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q[0])
		qv.SetValue(q[1])
	}
	return md
}

func TestPrometheusEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	o := newOutpost(t)
	o.start(t, prwConfig(o, "http://"+prom.addr+"/api/v1/write", ""))

	telemetrygen(t, "metrics", "--otlp-endpoint", o.grpc, "--metrics", "60", "--unique-timeseries", "--otlp-metric-name", "tgen_gauge")
	telemetrygen(t, "metrics", "--otlp-endpoint", o.http, "--otlp-http", "--metrics", "40", "--unique-timeseries",
		"--otlp-metric-name", "tgen_sum", "--metric-type", "Sum", "--aggregation-temporality", "cumulative")
	exportOTLP(t, o.grpc, everyType(time.Now().Add(-2*time.Second)))

	testutil.Eventually(t, 20*time.Second, "every series in Prometheus", func() bool {
		return prom.scalar(t, `count({__name__=~"tgen_.*|e2e_.*|target_info"})`) >= 60+40+12+2
	})

	// telemetrygen: one series per data point (--unique-timeseries), job
	// from service.name, the external label.
	if got := prom.scalar(t, `count(tgen_gauge{job="telemetrygen", site="lab"})`); got != 60 {
		t.Errorf("tgen_gauge series = %v, want 60", got)
	}
	if got := prom.scalar(t, `count(tgen_sum_total{job="telemetrygen", site="lab"})`); got != 40 {
		t.Errorf("tgen_sum_total series = %v, want 40", got)
	}

	base := `job="shop/checkout", instance="pod-1", site="lab"`
	for _, c := range []struct {
		query string
		want  float64
	}{
		{`e2e_queue_depth{` + base + `, queue="orders"}`, 12.5},
		{`e2e_requests_total{` + base + `, http_method="GET"}`, 42},
		{`e2e_connections{` + base + `}`, -3},
		{`e2e_latency_seconds_bucket{` + base + `, le="0.1"}`, 2},
		{`e2e_latency_seconds_bucket{` + base + `, le="0.5"}`, 5},
		{`e2e_latency_seconds_bucket{` + base + `, le="1"}`, 9},
		{`e2e_latency_seconds_bucket{` + base + `, le="+Inf"}`, 10},
		{`e2e_latency_seconds_sum{` + base + `}`, 4.5},
		{`e2e_latency_seconds_count{` + base + `}`, 10},
		{`e2e_rpc_milliseconds{` + base + `, quantile="0.5"}`, 9},
		{`e2e_rpc_milliseconds{` + base + `, quantile="0.99"}`, 30},
		{`e2e_rpc_milliseconds_sum{` + base + `}`, 70},
		{`e2e_rpc_milliseconds_count{` + base + `}`, 7},
		{`histogram_count(e2e_payload_bytes{` + base + `})`, 6},
		{`histogram_sum(e2e_payload_bytes{` + base + `})`, 300},
		// Scale 0: OTLP bucket 4 is (16, 32], 5 is (32, 64], 6 is (64, 128].
		{`histogram_fraction(0, 32, e2e_payload_bytes{` + base + `})`, 1.0 / 6},
		{`histogram_fraction(0, 64, e2e_payload_bytes{` + base + `})`, 3.0 / 6},
		{`target_info{` + base + `, host_name="edge-7", deployment_environment="lab"}`, 1},
	} {
		if got := prom.scalar(t, c.query); got != c.want {
			t.Errorf("%s = %v, want %v", c.query, got, c.want)
		}
	}

	// Exact label sets: nothing more than expected.
	r := prom.query(t, `e2e_queue_depth`)
	want := map[string]string{"__name__": "e2e_queue_depth", "job": "shop/checkout", "instance": "pod-1", "site": "lab", "queue": "orders"}
	if len(r) != 1 || fmt.Sprint(r[0].Metric) != fmt.Sprint(want) {
		t.Errorf("e2e_queue_depth = %v, want one series %v", r, want)
	}
	r = prom.query(t, `e2e_payload_bytes`)
	if len(r) != 1 || len(r[0].Histogram) != 2 {
		t.Errorf("e2e_payload_bytes is not a native histogram: %+v", r)
	}
	r = prom.query(t, `target_info`)
	var infos []string
	for _, x := range r {
		infos = append(infos, x.Metric["job"])
	}
	if strings.Join(infos, ",") != "shop/checkout" {
		t.Errorf("target_info for jobs %v, want only shop/checkout (telemetrygen's resource has only service.name)", infos)
	}

	// The counter's exemplar.
	var exq struct {
		Data []struct {
			SeriesLabels map[string]string `json:"seriesLabels"`
			Exemplars    []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	now := time.Now()
	prom.get(t, fmt.Sprintf("/api/v1/query_exemplars?query=%s&start=%d&end=%d",
		url.QueryEscape("e2e_requests_total"), now.Add(-time.Hour).Unix(), now.Add(time.Minute).Unix()), &exq)
	if len(exq.Data) != 1 || len(exq.Data[0].Exemplars) != 1 ||
		exq.Data[0].Exemplars[0].Labels["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		exq.Data[0].Exemplars[0].Labels["span_id"] != "00f067aa0ba902b7" {
		t.Errorf("exemplars = %+v", exq.Data)
	}

	// Every series is listed by the series API with the labels above.
	var series struct {
		Data []map[string]string `json:"data"`
	}
	prom.get(t, "/api/v1/series?match[]="+url.QueryEscape(`{__name__=~"e2e_.*|target_info"}`), &series)
	var names []string
	for _, s := range series.Data {
		names = append(names, s["__name__"]+"{"+s["le"]+s["quantile"]+"}")
	}
	sort.Strings(names)
	wantNames := "e2e_connections{},e2e_latency_seconds_bucket{+Inf},e2e_latency_seconds_bucket{0.1},e2e_latency_seconds_bucket{0.5}," +
		"e2e_latency_seconds_bucket{1},e2e_latency_seconds_count{},e2e_latency_seconds_sum{},e2e_payload_bytes{},e2e_queue_depth{}," +
		"e2e_requests_total{},e2e_rpc_milliseconds_count{},e2e_rpc_milliseconds_sum{},e2e_rpc_milliseconds{0.5},e2e_rpc_milliseconds{0.99},target_info{}"
	if got := strings.Join(names, ","); got != wantNames {
		t.Errorf("series:\n got %s\nwant %s", got, wantNames)
	}

	m := testutil.Scrape(t, o.telemetry)
	sent := m.Sum("outpost_exporter_sent_items_total", map[string]string{"exporter": "prometheusremotewrite"})
	failedItems := m.Sum("outpost_exporter_failed_items_total", map[string]string{"exporter": "prometheusremotewrite"})
	if sent != 60+40+6 || failedItems != 0 {
		t.Errorf("exporter sent %v, failed %v; want 106 sent, 0 failed", sent, failedItems)
	}
	t.Logf("prometheus e2e: %d series listed, %v data points sent (60 telemetrygen gauge, 40 telemetrygen sum, 6 hand-made: one of each OTLP type), 0 failed", len(series.Data), sent)
}

// TestPrometheusOutage: Prometheus stops while outpost keeps receiving;
// the disk queue holds the requests and delivers every sample once it is
// back on the same address and storage.
func TestPrometheusOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	addr, dir := testutil.FreeAddr(t), t.TempDir()
	prom := startPrometheus(t, addr, dir)
	o := newOutpost(t)
	o.start(t, prwConfig(o, "http://"+addr+"/api/v1/write", ""))

	const seriesPerRound = 20
	rounds := 0
	send := func() {
		// Each round is one sample of each series, one second after the
		// last: in order per series, recent enough for the head.
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "outage")
		g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("outage.gauge")
		dps := g.SetEmptyGauge().DataPoints()
		at := pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute).Add(time.Duration(rounds) * time.Second))
		for s := range seriesPerRound {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(at)
			dp.SetIntValue(int64(rounds))
			dp.Attributes().PutInt("series", int64(s))
		}
		exportOTLP(t, o.grpc, md)
		rounds++
	}
	total := func() float64 {
		return prom.scalar(t, `sum(count_over_time(outage_gauge[1h]))`)
	}

	for range 3 {
		send()
	}
	testutil.Eventually(t, 20*time.Second, "first rounds in Prometheus", func() bool { return total() == 3*seriesPerRound })

	prom.stop(t)
	for range 10 {
		send()
		time.Sleep(200 * time.Millisecond)
	}
	m := testutil.Scrape(t, o.telemetry)
	queued := m.Sum("outpost_queue_records", map[string]string{"exporter": "prometheusremotewrite"})
	retries := m.Sum("outpost_exporter_send_retries_total", map[string]string{"exporter": "prometheusremotewrite"})
	prom = startPrometheus(t, addr, dir)
	for range 2 {
		send()
	}

	want := float64(rounds * seriesPerRound)
	testutil.Eventually(t, 60*time.Second, "every sample after the outage", func() bool { return total() == want })
	m = testutil.Scrape(t, o.telemetry)
	if f := m.Sum("outpost_exporter_failed_items_total", map[string]string{"exporter": "prometheusremotewrite"}); f != 0 {
		t.Errorf("failed items %v", f)
	}
	t.Logf("prometheus outage: %d rounds × %d series = %v samples sent, %v in Prometheus after restart; during the outage %v records queued, %v retries",
		rounds, seriesPerRound, want, total(), queued, retries)
}
