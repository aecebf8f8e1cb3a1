package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestEdgeSidecarConfig runs configs/edge-sidecar.yaml itself, its ports
// and URLs moved through its ${env:...} variables, against a real
// Prometheus and a real Jaeger, with telemetrygen traces of two spans:
// plain ones, error ones and slow ones (600 ms spans). The RED calls in
// Prometheus count every span sent, before sampling, with the node_site
// label the remote-write exporter adds; every error and every slow trace
// arrives whole in Jaeger; fewer plain traces arrive than were sent, and
// those whole. The node's own sources arrive too: node_exporter and an
// application scraped (prometheus receiver), host metrics, outpost's own
// metrics (in Prometheus), an application's log file and syslog (in Loki).
func TestEdgeSidecarConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	j := startJaegerPeer(t)
	loki := startLoki(t)
	nodeExporter := testutil.NodeExporter(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE edge_app_requests_total counter\nedge_app_requests_total 42\n")
	}))
	t.Cleanup(app.Close)
	logDir := t.TempDir()
	appLog := testutil.WriteFile(t, logDir, "app.log", "") // start_at: end reads what comes after
	syslogPort := freeUDPPort(t)
	bin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	grpcAddr, telemetry := testutil.FreeAddr(t), testutil.FreeAddr(t)
	for k, v := range map[string]string{
		"OUTPOST_DATA":       t.TempDir(),
		"TELEMETRY_ADDRESS":  telemetry,
		"OTLP_GRPC_ENDPOINT": grpcAddr,
		"OTLP_HTTP_ENDPOINT": testutil.FreeAddr(t),
		"PROMETHEUS_URL":     "http://" + prom.addr + "/api/v1/write",
		"JAEGER_ENDPOINT":    j.otlpGRPC,
		"LOKI_URL":           "http://" + loki + "/loki/api/v1/push",
		"LOKI_TENANT":        lokiTenant,
		"NODE_EXPORTER_ADDR": nodeExporter,
		"APP_METRICS_ADDR":   strings.TrimPrefix(app.URL, "http://"),
		"APP_LOG_DIR":        logDir,
		"SYSLOG_ENDPOINT":    "127.0.0.1:" + syslogPort,
		"SCRAPE_INTERVAL":    "1s",
		"METRICS_RESOLUTION": "1s", // sent as scraped, so the test need not wait for a minute
		"NODE_SITE":          "e2e-site",
		"NODE_NAME":          "e2e-node",
		"UPLINK_RATE":        "4MiB/s",
	} {
		t.Setenv(k, v)
	}
	p := testutil.Start(t, bin, "run", "-c", filepath.Join(testutil.RepoRoot(t), "configs", "edge-sidecar.yaml"), "-watch-interval", "0")
	testutil.Eventually(t, 20*time.Second, "outpost /readyz", func() bool {
		if p.Exited() {
			t.Fatalf("outpost exited:\n%s", p.Output())
		}
		code, _, err := testutil.HTTPGet("http://" + telemetry + "/readyz")
		return err == nil && code == http.StatusOK
	})

	// Logs: an application's file and syslog over TCP, all distinct (so
	// that log_dedup leaves every one).
	const fileLines, syslogLines = 20, 10
	logStart := time.Now().Add(-time.Minute)
	f, err := os.OpenFile(appLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range fileLines {
		fmt.Fprintf(f, "2026-11-30T12:00:%02dZ edge-file line %02d\n", i, i)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	runLogger(t, numbered("edge-syslog", syslogLines), "--tcp", "--octet-count", "--rfc5424", "--server", "127.0.0.1", "--port", syslogPort, "--tag", "edge-device")

	// Runs of 500 traces: telemetrygen's SDK drops spans beyond its
	// 2048-span export queue when it sends unthrottled.
	const plain, failed, slow = 1000, 200, 100
	for range plain / 500 {
		telemetrygen(t, "traces", "--otlp-endpoint", grpcAddr, "--service", "sidecar-plain", "--traces", "500", "--status-code", "Ok")
	}
	telemetrygen(t, "traces", "--otlp-endpoint", grpcAddr, "--service", "sidecar-error", "--traces", strconv.Itoa(failed), "--status-code", "Error")
	telemetrygen(t, "traces", "--otlp-endpoint", grpcAddr, "--service", "sidecar-slow", "--traces", strconv.Itoa(slow), "--status-code", "Ok", "--span-duration", "600ms")
	sent := map[string]float64{"sidecar-plain": 2 * plain, "sidecar-error": 2 * failed, "sidecar-slow": 2 * slow}

	// RED metrics: spanmetrics flushes every 15 s.
	testutil.Eventually(t, 40*time.Second, "every span counted in Prometheus", func() bool {
		return prom.scalar(t, `sum(traces_span_metrics_calls_total{job=~"sidecar-.*"})`) == 2*(plain+failed+slow)
	})
	for job, want := range sent {
		status := "STATUS_CODE_OK"
		if job == "sidecar-error" {
			status = "STATUS_CODE_ERROR"
		}
		q := fmt.Sprintf(`sum(traces_span_metrics_calls_total{job=%q, status_code=%q, node_site="e2e-site", node_name="e2e-node", site=""})`, job, status)
		if got := prom.scalar(t, q); got != want {
			t.Errorf("%s = %v, want %v (every span, before sampling)", q, got, want)
		}
	}

	// Traces: decided 10 s after their first span.
	testutil.Eventually(t, 30*time.Second, "every error and slow trace in Jaeger", func() bool {
		return len(j.serviceTraces(t, "sidecar-error")) >= failed && len(j.serviceTraces(t, "sidecar-slow")) >= slow
	})
	for service, want := range map[string]int{"sidecar-error": failed, "sidecar-slow": slow} {
		got := j.serviceTraces(t, service)
		if len(got) != want {
			t.Errorf("%s: %d traces in Jaeger, want %d", service, len(got), want)
		}
		for id, n := range got {
			if n != 2 {
				t.Errorf("%s trace %s arrived with %d of its 2 spans", service, id, n)
			}
		}
	}
	// Plain traces were decided with the others; wait for the jaeger
	// queue to be empty before counting them.
	testutil.Eventually(t, 20*time.Second, "the jaeger queue drained", func() bool {
		m := testutil.Scrape(t, telemetry)
		return m.Sum("outpost_queue_items", map[string]string{"exporter": "jaeger"}) == 0 &&
			m.Sum("outpost_processor_tail_sampling_held_spans", nil) == 0
	})
	got := j.serviceTraces(t, "sidecar-plain")
	if len(got) == 0 || len(got) >= plain {
		t.Errorf("sidecar-plain: %d of %d traces in Jaeger, want fewer but some (5 %% by hash)", len(got), plain)
	}
	for id, n := range got {
		if n != 2 {
			t.Errorf("plain trace %s arrived with %d of its 2 spans", id, n)
		}
	}
	// The node's own sources.
	sources := map[string]string{
		"node_exporter series": `count({job="node", node_name="e2e-node", __name__=~"node_.*"})`,
		"application series":   `sum(edge_app_requests_total{job="apps", node_name="e2e-node"})`,
		"host metrics series":  `count({node_name="e2e-node", __name__=~"system_.*"})`,
		"outpost's own series": `count({node_name="e2e-node", __name__=~"outpost_.*", job="outpost"})`,
	}
	found := map[string]float64{}
	testutil.Eventually(t, 30*time.Second, "the node's metrics in Prometheus", func() bool {
		for what, q := range sources {
			if r := prom.query(t, q); len(r) == 1 {
				found[what] = value(t, r[0])
			}
		}
		return len(found) == len(sources)
	})
	if found["application series"] != 42 {
		t.Errorf("edge_app_requests_total = %v, want 42", found["application series"])
	}
	var fromFile, fromSyslog int
	testutil.Eventually(t, 30*time.Second, "the file's and syslog's lines in Loki", func() bool {
		fromFile, fromSyslog = 0, 0
		for _, l := range queryLines(t, loki, `{node="e2e-node"}`, logStart, time.Now().Add(time.Minute)) {
			switch {
			case strings.Contains(l.line, "edge-file line"):
				fromFile++
			case strings.Contains(l.line, "edge-syslog line"):
				fromSyslog++
			}
		}
		return fromFile >= fileLines && fromSyslog >= syslogLines
	})
	if fromFile != fileLines || fromSyslog != syslogLines {
		t.Errorf("Loki holds %d file lines and %d syslog lines, want %d and %d", fromFile, fromSyslog, fileLines, syslogLines)
	}
	t.Logf("edge-sidecar.yaml: node sources in Prometheus: %v; Loki holds %d/%d file lines and %d/%d syslog lines",
		found, fromFile, fileLines, fromSyslog, syslogLines)

	m := testutil.Scrape(t, telemetry)
	t.Logf("edge-sidecar.yaml: Prometheus counts all %d spans; Jaeger holds %d/%d error, %d/%d slow and %d/%d plain traces; adaptive sampler at %v %%",
		2*(plain+failed+slow), failed, failed, slow, slow, len(got), plain,
		m.Sum("outpost_processor_sampler_probability", nil)*100)
}
