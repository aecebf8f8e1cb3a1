package main

// The dashboards, alert rules and correlation links of dashboards/ against
// real servers: outpost under telemetrygen load, a real Prometheus that
// scrapes its /metrics, evaluates dashboards/alerts/outpost.rules.yml and
// receives spanmetrics with exemplars by remote write, a real Loki and a
// real Jaeger. Every panel's query must return data; one rule must fire;
// every correlation link must resolve.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/dashboards"
	"github.com/outpost-edge/outpost/internal/testutil"
)

// startScrapingPrometheus runs bin/prometheus scraping outpost's telemetry
// address every second, with the node labels a fleet's scrape config
// sets, evaluating rules every second, and receiving remote write with
// exemplar storage on.
func startRulesPrometheus(t *testing.T, telemetry, rulesFile string) *prometheus {
	t.Helper()
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	dir := t.TempDir()
	cfg := testutil.WriteFile(t, dir, "prometheus.yml", testutil.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%s]
scrape_configs:
  - job_name: outpost
    static_configs:
      - targets: [%s]
        labels: {node_name: e2e-node, node_site: lab}
`, rulesFile, telemetry))
	p := &prometheus{addr: testutil.FreeAddr(t), dir: filepath.Join(dir, "data")}
	p.proc = testutil.Start(t, bin, "--config.file="+cfg, "--web.listen-address="+p.addr, "--storage.tsdb.path="+p.dir,
		"--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage", "--log.level=warn")
	testutil.Eventually(t, 60*time.Second, "prometheus /-/ready", func() bool {
		code, _, err := testutil.HTTPGet("http://" + p.addr + "/-/ready")
		return err == nil && code == http.StatusOK
	})
	return p
}

// shortRules is dashboards/alerts/outpost.rules.yml with every `for:` cut
// to 1s, so that a rule fires within the test.
func shortRules(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "dashboards", "alerts", "outpost.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s+for:) \S+$`)
	if !re.Match(b) {
		t.Fatal("outpost.rules.yml has no for: clause")
	}
	return testutil.WriteFile(t, t.TempDir(), "outpost.rules.yml", re.ReplaceAllString(string(b), "$1 1s"))
}

// correlatedData is n traces of two spans of service checkout, each span
// with a log record carrying its trace and span id. The spans carry
// sampling.priority 1, so the sampler keeps them whole and every exemplar
// of checkout points at a trace Jaeger holds.
func correlatedData(n int) (ptrace.Traces, plog.Logs) {
	td, ld := ptrace.NewTraces(), plog.NewLogs()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	now := time.Now()
	for i := range n {
		var tid [16]byte
		tid[0], tid[1], tid[15] = 0xd5, byte(now.Unix()), byte(i+1)
		copy(tid[2:10], strconv.FormatInt(now.UnixNano(), 16))
		for j := range 2 {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID([8]byte{byte(i + 1), byte(j + 1), 1, 2, 3, 4, 5, 6})
			if j == 1 {
				sp.SetParentSpanID([8]byte{byte(i + 1), 1, 1, 2, 3, 4, 5, 6})
				sp.SetKind(ptrace.SpanKindClient)
				sp.SetName("charge card")
			} else {
				sp.SetKind(ptrace.SpanKindServer)
				sp.SetName("POST /checkout")
			}
			if i%5 == 0 {
				sp.Status().SetCode(ptrace.StatusCodeError)
			}
			sp.Attributes().PutInt("sampling.priority", 1)
			start := now.Add(-time.Duration(i+1) * 10 * time.Millisecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(j+1+i) * time.Millisecond)))
			lr := sl.LogRecords().AppendEmpty()
			lr.SetTimestamp(pcommon.NewTimestampFromTime(start))
			lr.SetTraceID(tid)
			lr.SetSpanID(sp.SpanID())
			lr.SetSeverityNumber(plog.SeverityNumberInfo)
			lr.SetSeverityText("INFO")
			lr.Body().SetStr(fmt.Sprintf("%s: trace %d step %d", sp.Name(), i, j))
		}
	}
	return td, ld
}

func TestDashboardsAgainstRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	began := time.Now()
	// The far side of the exporters that must fail: 401 (blocked,
	// credentials) and 400 (permanent).
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/permanent/") {
			http.Error(w, "entry for stream has bad labels", http.StatusBadRequest)
			return
		}
		http.Error(w, "bad token", http.StatusUnauthorized)
	}))
	t.Cleanup(deny.Close)

	o := newOutpost(t)
	prom := startRulesPrometheus(t, o.telemetry, shortRules(t))
	loki := startLoki(t)
	jaeger := startJaegerPeer(t)
	refusing := testutil.FreeAddr(t)
	config := o.otlpIn() + testutil.Sprintf(`  otlp/refusing:
    protocols:
      grpc: {endpoint: %s}
node: {name: e2e-node, site: lab}
memory_limit: 256MiB
uplink: {bytes_per_second: 64MiB/s, burst: 64MiB}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
  probabilistic_sampler: {sampling_percentage: 50}
  log_dedup: {interval: 1s}
  aggregate:
    dedup_interval: 1s
    rules:
      - match: {metric_name: gen}
        interval: 1s
        outputs: [max]
        keep_input: true
connectors:
  spanmetrics:
    metrics_flush_interval: 500ms
    exemplars: {enabled: true}
  forward: {}
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
  loki:
    endpoint: http://%s/loki/api/v1/push
    tenant: %s
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
  jaeger:
    endpoint: %s
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
  loki/blocked:
    endpoint: %s/loki/api/v1/push
    queue: {max_bytes: 64KiB, full_policy: drop_oldest}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
  loki/permanent:
    endpoint: %s/permanent/loki/api/v1/push
  prometheusremotewrite/refused:
    endpoint: %s/api/v1/write
    queue: {max_bytes: 16KiB, full_policy: block}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [spanmetrics, forward]}
    traces/sampled: {receivers: [forward], processors: [probabilistic_sampler], exporters: [jaeger]}
    metrics/red: {receivers: [spanmetrics], exporters: [prometheusremotewrite]}
    metrics: {receivers: [otlp], processors: [aggregate], exporters: [prometheusremotewrite]}
    logs: {receivers: [otlp], processors: [log_dedup], exporters: [loki, loki/blocked, loki/permanent]}
    metrics/refusing: {receivers: [otlp/refusing], exporters: [prometheusremotewrite/refused]}
`, refusing, prom.addr, loki, lokiTenant, jaeger.otlpGRPC, deny.URL, deny.URL, deny.URL)
	o.start(t, config)
	// A reload, for the reloads panel.
	o.proc.Signal(t, syscall.SIGHUP)
	testutil.Eventually(t, 20*time.Second, "reload counted", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", map[string]string{"result": "success"}) == 1
	})

	// Load: telemetrygen traces (service loadgen), metrics and logs.
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--service", "loadgen", "--traces", "300")
	telemetrygen(t, "metrics", "--otlp-endpoint", o.grpc, "--metrics", "300", "--metric-type", "Gauge")
	telemetrygen(t, "logs", "--otlp-endpoint", o.grpc, "--logs", "500")
	// A malformed request: bad requests by reason.
	resp := post(t, "http://"+o.http+"/v1/traces", "application/x-protobuf", []byte("not protobuf"))
	resp.Body.Close()
	// Refusals: the blocked queue of otlp/refusing fills and its receiver
	// answers with back-pressure.
	conn, err := grpc.NewClient(refusing, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	refused := false
	for i := 0; i < 500 && !refused; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(everyType(time.Now())))
		cancel()
		refused = err != nil
	}
	if !refused {
		t.Fatal("the full blocking queue never refused a request")
	}

	// Correlated traces and logs of checkout.
	td, ld := correlatedData(20)
	gconn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer gconn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ptraceotlp.NewGRPCClient(gconn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		t.Fatal(err)
	}
	if _, err := plogotlp.NewGRPCClient(gconn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
		t.Fatal(err)
	}

	checkPanels(t, prom, loki)
	checkAlertFires(t, prom, "OutpostExporterCredentialsRejected", map[string]string{"exporter": "loki/blocked", "reason": "unauthorized", "node_name": "e2e-node"})
	checkCorrelation(t, prom, loki, jaeger)
	t.Logf("wall time %s", time.Since(began).Round(100*time.Millisecond))
}

// checkPanels runs every query of every dashboard, with its variables at
// "All", against the real Prometheus (instant query) or Loki (range query
// over the last 5 minutes), until it returns data.
func checkPanels(t *testing.T, prom *prometheus, loki string) {
	t.Helper()
	dashes, err := dashboards.Load(filepath.Join(testutil.RepoRoot(t), "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	panels, promQueries, lokiQueries, vars := 0, 0, 0, 0
	for _, d := range dashes {
		panels += d.Panels
		for _, q := range d.Queries {
			expr, err := dashboards.Expand(q.Expr, d.Vars)
			if err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("%s: %s %s: %s", d.File, q.Panel, q.RefID, expr)
			switch {
			case q.Datasource == dashboards.LokiVar:
				lokiQueries++
				testutil.Eventually(t, 20*time.Second, what, func() bool {
					var data struct {
						Result []json.RawMessage `json:"result"`
					}
					lokiGet(t, loki, "/loki/api/v1/query_range", url.Values{
						"query": {expr}, "start": {strconv.FormatInt(time.Now().Add(-5*time.Minute).UnixNano(), 10)},
						"end": {strconv.FormatInt(time.Now().UnixNano(), 10)}, "step": {"15s"}, "limit": {"100"},
					}, &data)
					return len(data.Result) > 0
				})
			case strings.HasPrefix(q.Panel, "variable "):
				vars++
				sel, label, err := dashboards.LabelValuesQuery(expr)
				if err != nil {
					t.Fatal(err)
				}
				testutil.Eventually(t, 20*time.Second, what, func() bool {
					var out struct {
						Data []string `json:"data"`
					}
					prom.get(t, "/api/v1/label/"+label+"/values?match[]="+url.QueryEscape(sel), &out)
					return len(out.Data) > 0
				})
			default:
				promQueries++
				testutil.Eventually(t, 20*time.Second, what, func() bool { return len(prom.query(t, expr)) > 0 })
			}
		}
	}
	t.Logf("dashboards: %d panels checked; %d PromQL queries and %d variables returned data from Prometheus, %d LogQL queries from Loki",
		panels, promQueries, vars, lokiQueries)
}

// checkAlertFires waits until Prometheus reports the alert firing with
// the labels want.
func checkAlertFires(t *testing.T, prom *prometheus, name string, want map[string]string) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, name+" firing", func() bool {
		var out struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		prom.get(t, "/api/v1/alerts", &out)
		for _, a := range out.Data.Alerts {
			if a.Labels["alertname"] != name || a.State != "firing" {
				continue
			}
			ok := true
			for k, v := range want {
				ok = ok && a.Labels[k] == v
			}
			if ok {
				t.Logf("alert %s firing in Prometheus: %v", name, a.Labels)
				return true
			}
		}
		return false
	})
}

// checkCorrelation follows every link of dashboards/provisioning with real
// values: the traces of checkout that Jaeger holds, their logs in Loki by
// trace_id (structured metadata), the exemplars of checkout's duration
// histogram in Prometheus, and the RED queries a trace links to.
func checkCorrelation(t *testing.T, prom *prometheus, loki string, jaeger *jaegerPeer) {
	t.Helper()
	links, err := dashboards.ReadLinks(filepath.Join(testutil.RepoRoot(t), "dashboards", "provisioning", "datasources", "outpost.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[string][]dashboards.Link{}
	for _, l := range links {
		byKind[l.Kind] = append(byKind[l.Kind], l)
	}
	for _, k := range []string{dashboards.LinkExemplar, dashboards.LinkDerivedField, dashboards.LinkTraceToLogs, dashboards.LinkTraceToMetrics} {
		if len(byKind[k]) == 0 {
			t.Fatalf("no %s link in the provisioning", k)
		}
	}
	attrs := map[string]string{"service.name": "checkout"}
	resolved := 0
	// The traces of checkout in Jaeger.
	var traceIDs []string
	testutil.Eventually(t, 20*time.Second, "20 checkout traces in jaeger", func() bool {
		code, body, err := testutil.HTTPGet(jaeger.query + "/api/traces?service=checkout&limit=100&lookback=1h")
		if err != nil || code != http.StatusOK {
			return false
		}
		var resp struct {
			Data []struct {
				TraceID string `json:"traceID"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(body), &resp) != nil {
			return false
		}
		traceIDs = traceIDs[:0]
		for _, d := range resp.Data {
			traceIDs = append(traceIDs, d.TraceID)
		}
		return len(traceIDs) == 20
	})
	jaegerHas := func(id string) bool {
		code, _, err := testutil.HTTPGet(jaeger.query + "/api/v3/traces/" + id)
		return err == nil && code == http.StatusOK
	}
	// Trace -> logs: the provisioned LogQL for each trace finds its two
	// lines, and each line's trace_id (the derived field) leads back to the
	// trace in Jaeger.
	for _, id := range traceIDs {
		for _, l := range byKind[dashboards.LinkTraceToLogs] {
			q := l.Apply(attrs, id)
			var lines []lokiLine
			testutil.Eventually(t, 20*time.Second, "logs of "+id+": "+q, func() bool {
				lines = queryLines(t, loki, q, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
				return len(lines) == 2
			})
			resolved++
			for _, line := range lines {
				for _, df := range byKind[dashboards.LinkDerivedField] {
					v := line.metadata[df.Field]
					if v != id {
						t.Fatalf("log line %q: %s = %q, want the trace id %s (metadata %v)", line.line, df.Field, v, id, line.metadata)
					}
					if target := df.Apply(attrs, v); !jaegerHas(target) {
						t.Fatalf("derived field of %q: trace %s not in jaeger", line.line, target)
					}
					resolved++
				}
			}
		}
	}
	// Exemplar -> trace: every exemplar of checkout's durations names a
	// trace Jaeger holds and whose logs Loki holds.
	var ex struct {
		Data []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	exemplars := 0
	testutil.Eventually(t, 20*time.Second, "exemplars of checkout", func() bool {
		prom.get(t, "/api/v1/query_exemplars?query="+url.QueryEscape(`traces_span_metrics_duration_milliseconds_bucket{service_name="checkout"}`)+
			fmt.Sprintf("&start=%d&end=%d", time.Now().Add(-time.Hour).Unix(), time.Now().Add(time.Minute).Unix()), &ex)
		exemplars = 0
		for _, d := range ex.Data {
			exemplars += len(d.Exemplars)
		}
		return exemplars > 0
	})
	for _, d := range ex.Data {
		for _, e := range d.Exemplars {
			for _, l := range byKind[dashboards.LinkExemplar] {
				id := l.Apply(attrs, e.Labels[l.Field])
				if !jaegerHas(id) {
					t.Errorf("exemplar %v: trace %q not in jaeger", e.Labels, id)
				}
				q := byKind[dashboards.LinkTraceToLogs][0].Apply(attrs, id)
				if n := len(queryLines(t, loki, q, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))); n != 2 {
					t.Errorf("exemplar trace %s: %d log lines, want 2", id, n)
				}
				resolved++
			}
		}
	}
	// Trace -> RED metrics of its service.
	for _, l := range byKind[dashboards.LinkTraceToMetrics] {
		q := l.Apply(attrs, traceIDs[0])
		testutil.Eventually(t, 20*time.Second, "trace to metrics "+q, func() bool { return len(prom.query(t, q)) > 0 })
		resolved++
	}
	t.Logf("correlation: %d links checked (%d link templates; %d traces, %d exemplars), every one resolved",
		resolved, len(links), len(traceIDs), exemplars)
}
