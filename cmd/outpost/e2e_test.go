package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// outpost is a running outpost binary with its addresses.
type outpost struct {
	proc      *testutil.Process
	grpc      string
	http      string
	telemetry string
	config    string
}

// otlpInYAML is the part of a test configuration that the e2e tests
// share: storage under storage, the telemetry server on telemetry, and an
// OTLP receiver on the gRPC and HTTP addresses. The rest of a
// configuration follows it.
func otlpInYAML(storage, telemetry, grpc, http string) string {
	return testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: %s}
      http: {endpoint: %s}
`, storage, telemetry, grpc, http)
}

// otlpIn is otlpInYAML for o: its data directory and addresses.
func (o *outpost) otlpIn() string {
	return otlpInYAML(filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, o.grpc, o.http)
}

// relayConfig is OTLP in (gRPC and HTTP) → batch → OTLP/gRPC out to sink.
func relayConfig(o *outpost, sink, site, extra string) string {
	return o.otlpIn() + testutil.Sprintf(`
node: {name: e2e-node, site: %s}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    compression: zstd
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 2s}
%s
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [otlp]}
    logs: {receivers: [otlp], processors: [batch], exporters: [otlp]}
`, site, sink, extra)
}

func newOutpost(t *testing.T) *outpost {
	dir := t.TempDir()
	return &outpost{
		grpc:      testutil.FreeAddr(t),
		http:      testutil.FreeAddr(t),
		telemetry: testutil.FreeAddr(t),
		config:    filepath.Join(dir, "outpost.yaml"),
	}
}

func (o *outpost) start(t *testing.T, config string, flags ...string) {
	t.Helper()
	if err := os.WriteFile(o.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	if len(flags) == 0 {
		flags = []string{"-watch-interval", "0"}
	}
	o.proc = testutil.Start(t, bin, append([]string{"run", "-c", o.config}, flags...)...)
	testutil.Eventually(t, 20*time.Second, "outpost /readyz", func() bool {
		code, _, err := testutil.HTTPGet("http://" + o.telemetry + "/readyz")
		return err == nil && code == http.StatusOK
	})
}

// telemetrygen runs the real OTLP load generator to completion.
func telemetrygen(t *testing.T, args ...string) {
	t.Helper()
	bin := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--otlp-insecure", "--rate", "0", "--workers", "1")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("telemetrygen %v: %v\n%s", args, err, out)
	}
}

func TestTelemetrygenThroughOutpost(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 16, KeepRequests: 16})
	o := newOutpost(t)
	o.start(t, relayConfig(o, sink.GRPCAddr(), "lab", ""))

	// Each telemetrygen trace is a parent span and one child span.
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--traces", "150")
	telemetrygen(t, "traces", "--otlp-endpoint", o.http, "--otlp-http", "--traces", "70")
	telemetrygen(t, "logs", "--otlp-endpoint", o.grpc, "--logs", "230")
	telemetrygen(t, "logs", "--otlp-endpoint", o.http, "--otlp-http", "--logs", "90")
	telemetrygen(t, "metrics", "--otlp-endpoint", o.grpc, "--metrics", "120")
	telemetrygen(t, "metrics", "--otlp-endpoint", o.http, "--otlp-http", "--metrics", "45")

	want := struct{ spans, logs, points int64 }{2 * (150 + 70), 230 + 90, 120 + 45}
	testutil.Eventually(t, 10*time.Second, "all items at the sink", func() bool {
		return sink.Spans() >= want.spans && sink.LogRecords() >= want.logs && sink.DataPoints() >= want.points
	})
	if sink.Spans() != want.spans || sink.LogRecords() != want.logs || sink.DataPoints() != want.points {
		t.Fatalf("sink got %d spans, %d log records, %d data points; want %+v",
			sink.Spans(), sink.LogRecords(), sink.DataPoints(), want)
	}
	t.Logf("sink: %d spans, %d log records, %d data points", sink.Spans(), sink.LogRecords(), sink.DataPoints())

	m := testutil.Scrape(t, o.telemetry)
	for _, c := range []struct {
		signal, transport string
		want              int64
	}{
		{"traces", "grpc", 300}, {"traces", "http", 140},
		{"logs", "grpc", 230}, {"logs", "http", 90},
		{"metrics", "grpc", 120}, {"metrics", "http", 45},
	} {
		got := m.Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "otlp", "signal": c.signal, "transport": c.transport})
		if int64(got) != c.want {
			t.Errorf("accepted %s over %s = %v, want %d", c.signal, c.transport, got, c.want)
		}
	}
	for sig, n := range map[string]int64{"traces": want.spans, "logs": want.logs, "metrics": want.points} {
		if got := m.Sum("outpost_exporter_sent_items_total", map[string]string{"exporter": "otlp", "signal": sig}); int64(got) != n {
			t.Errorf("exporter sent %s = %v, want %d", sig, got, n)
		}
		if got := m.Sum("outpost_receiver_refused_items_total", map[string]string{"signal": sig}); got != 0 {
			t.Errorf("refused %s = %v", sig, got)
		}
	}
	if m.Sum("outpost_build_info", nil) != 1 {
		t.Error("outpost_build_info missing")
	}

	// Node identity reached the far side.
	td := sink.Traces()[0]
	attrs := td.ResourceSpans().At(0).Resource().Attributes()
	if v, _ := attrs.Get("node.name"); v.Str() != "e2e-node" {
		t.Errorf("node.name at the sink = %q", v.Str())
	}
	if req, ok := sink.LastRequest(); !ok || req.Compression != "zstd" {
		t.Errorf("exporter compression at the sink = %+v", req.Compression)
	}

	checkMetricsDocumented(t, m)

	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}

// checkMetricsDocumented fails if the binary exposes a metric family that
// docs/metrics.md does not list.
func checkMetricsDocumented(t *testing.T, m testutil.Metrics) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range m {
		if !bytes.Contains(doc, []byte("| `"+name+"` |")) {
			t.Errorf("the binary exposes %s, which docs/metrics.md does not list", name)
		}
	}
}

func TestBackPressureAndBadRequests(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	sink.FailAlways(otlpsink.Failure{Code: codes.ResourceExhausted, RetryAfter: 300 * time.Millisecond, Message: "sink full"})
	o := newOutpost(t)
	// Without a queue, the client's acknowledgement waits for the sink's,
	// so the sink's throttling reaches the client. (With a queue it
	// reaches the client only once the queue is full: TestDiskFullBlock.)
	o.start(t, strings.Replace(relayConfig(o, sink.GRPCAddr(), "lab", ""),
		"    compression: zstd\n", "    compression: zstd\n    queue: {enabled: false}\n", 1))

	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("x")

	// gRPC: the downstream keeps refusing with a retryable throttle, so the
	// receiver answers RESOURCE_EXHAUSTED with a retry hint.
	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("gRPC status = %v, want RESOURCE_EXHAUSTED", st)
	}
	hasRetryInfo := false
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			hasRetryInfo = true
		}
	}
	if !hasRetryInfo {
		t.Errorf("RESOURCE_EXHAUSTED without RetryInfo: %v", st.Details())
	}

	// HTTP: 429 with Retry-After.
	body, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	resp := post(t, "http://"+o.http+"/v1/traces", "application/x-protobuf", body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP status %d, Retry-After %q; want 429 with a hint", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// A malformed body is a permanent 400, and outpost keeps serving.
	sink.SetFail(nil)
	resp = post(t, "http://"+o.http+"/v1/traces", "application/x-protobuf", []byte("\xff\xff\xff not protobuf"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed body: status %d, want 400", resp.StatusCode)
	}
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	if err != nil {
		t.Fatalf("after a malformed request: %v", err)
	}
	resp = post(t, "http://"+o.http+"/v1/traces", "application/x-protobuf", body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after a malformed request: HTTP %d", resp.StatusCode)
	}
	m := testutil.Scrape(t, o.telemetry)
	if got := m.Sum("outpost_receiver_refused_items_total", map[string]string{"reason": "throttled"}); got != 2 {
		t.Errorf("refused throttled = %v, want 2", got)
	}
	if got := m.Sum("outpost_receiver_bad_requests_total", map[string]string{"reason": "decode"}); got != 1 {
		t.Errorf("bad requests (decode) = %v, want 1", got)
	}
}

func post(t *testing.T, url, contentType string, body []byte) *http.Response {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestValidateBinary(t *testing.T) {
	bin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	cmd := exec.Command(bin, "validate", "-c", "testdata/three-errors.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("validate: %v, want exit 1\n%s", err, stderr.String())
	}
	located := regexp.MustCompile(`^testdata/three-errors\.yaml:(\d+):\d+: `)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if located.MatchString(l) {
			lines = append(lines, l)
		}
	}
	t.Logf("validate printed:\n%s", stderr.String())
	want := []string{
		`:6:9: receivers.otlp.protocols.grpc.max_recv_msg_sise: unknown key`,
		`:9:14: processors.batch.timeout: invalid duration "soon"`,
		`:15:25: service.pipelines.traces.receivers[1]: receiver "zipkin" is not defined`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d located errors, want %d", len(lines), len(want))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
		}
	}
	out, err := exec.Command(bin, "validate", "-c", filepath.Join(testutil.RepoRoot(t), "configs", "default.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("default.yaml: %v\n%s", err, out)
	}
}

// TestReload changes the pipeline under load with SIGHUP, then sends a
// broken config: nothing acknowledged is lost, the change takes effect, and
// the broken config is refused with the pipeline kept.
func TestReload(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 20})
	o := newOutpost(t)
	o.start(t, relayConfig(o, sink.GRPCAddr(), "before", ""))
	filePath := filepath.Join(filepath.Dir(o.config), "after.jsonl")

	done := make(chan struct{})
	go func() {
		defer close(done)
		// 4000 traces of 2 spans at ~2000 spans/s: about 4 s of load.
		telemetrygenRate(t, "2000", "traces", "--otlp-endpoint", o.grpc, "--traces", "4000", "--child-spans", "1")
	}()

	time.Sleep(1200 * time.Millisecond)
	after := strings.Replace(relayConfig(o, sink.GRPCAddr(), "after",
		"  file/after: {path: "+filePath+", flush_interval: 100ms}"),
		"traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}",
		"traces: {receivers: [otlp], processors: [batch], exporters: [otlp, file/after]}", 1)
	if err := os.WriteFile(o.config, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	o.proc.Signal(t, syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, "reload success", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", map[string]string{"result": "success"}) == 1
	})

	time.Sleep(500 * time.Millisecond)
	if err := os.WriteFile(o.config, []byte(after+"\nbogus_section: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o.proc.Signal(t, syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, "broken reload refused", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", map[string]string{"result": "invalid"}) == 1
	})

	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("telemetrygen did not finish")
	}
	const total = 8000
	testutil.Eventually(t, 10*time.Second, "all spans at the sink", func() bool { return sink.Spans() >= total })
	if sink.Spans() != total {
		t.Fatalf("sink got %d spans, want %d", sink.Spans(), total)
	}
	bySite := map[string]int{}
	for _, td := range sink.Traces() {
		rs := td.ResourceSpans()
		for i := 0; i < rs.Len(); i++ {
			v, _ := rs.At(i).Resource().Attributes().Get("node.site")
			bySite[v.Str()] += countSpans(rs.At(i))
		}
	}
	t.Logf("spans by node.site: %v", bySite)
	if bySite["before"] == 0 || bySite["after"] == 0 || bySite["before"]+bySite["after"] != total {
		t.Fatalf("spans by node.site %v: want both configs to have carried spans, %d in all", bySite, total)
	}
	b, err := os.ReadFile(filePath)
	if err != nil || len(b) == 0 {
		t.Fatalf("the file exporter added by the reload wrote nothing: %v", err)
	}
	if code, _, _ := testutil.HTTPGet("http://" + o.telemetry + "/readyz"); code != http.StatusOK {
		t.Fatalf("readyz after a refused reload: %d", code)
	}
	if !strings.Contains(o.proc.Output(), "reload refused") {
		t.Error("the refused reload was not logged")
	}
}

func countSpans(rs ptrace.ResourceSpans) int {
	n := 0
	for j := 0; j < rs.ScopeSpans().Len(); j++ {
		n += rs.ScopeSpans().At(j).Spans().Len()
	}
	return n
}

func telemetrygenRate(t *testing.T, rate string, args ...string) {
	bin := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--otlp-insecure", "--rate", rate, "--workers", "1")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("telemetrygen %v: %v\n%s", args, err, out)
	}
}

// TestReloadOnFileChange: saving the file is enough; no signal needed.
func TestReloadOnFileChange(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 10})
	o := newOutpost(t)
	o.start(t, relayConfig(o, sink.GRPCAddr(), "before", ""), "-watch-interval", "100ms")
	if err := os.WriteFile(o.config, []byte(relayConfig(o, sink.GRPCAddr(), "after", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "reload after the file changed", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", map[string]string{"result": "success"}) == 1
	})
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--traces", "5")
	testutil.Eventually(t, 10*time.Second, "spans at the sink", func() bool { return sink.Spans() >= 10 })
	for _, td := range sink.Traces() {
		if v, _ := td.ResourceSpans().At(0).Resource().Attributes().Get("node.site"); v.Str() != "after" {
			t.Fatalf("node.site = %q after the file changed", v.Str())
		}
	}
	// An unchanged file is not reloaded again.
	time.Sleep(500 * time.Millisecond)
	if n := testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", nil); n != 1 {
		t.Fatalf("reloads = %v, want 1", n)
	}
}
