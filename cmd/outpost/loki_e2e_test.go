package main

// The acceptance test of the loki exporter against a real Loki (bin/loki,
// 3.7.8, built by `make peers`; see tools/peers/loki.yaml): OTLP in →
// batch → loki exporter → Loki with multi-tenancy on, then Loki's query
// API must return every line with its labels and structured metadata.

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
)

const lokiTenant = "e2e-tenant"

// startLoki runs bin/loki from tools/peers/loki.yaml on free 127.0.0.1
// ports in a temporary directory, with auth_enabled so that every push
// and query needs X-Scope-OrgID, and waits until it is ready. It returns
// Loki's HTTP address. flags are added to Loki's command line, where they
// override the file (for example -ingester.max-chunk-age=24h).
func startLoki(t *testing.T, flags ...string) string {
	t.Helper()
	bin := testutil.Binary(t, "LOKI_BIN", "loki")
	tpl, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "tools", "peers", "loki.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	httpAddr, grpcAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	cfg := strings.NewReplacer(
		"{{.HTTP}}", port(httpAddr),
		"{{.GRPC}}", port(grpcAddr),
		"{{.Dir}}", dir,
		"\nauth_enabled: false\n", "\nauth_enabled: true\n",
	).Replace(string(tpl))
	if !strings.Contains(cfg, "\nauth_enabled: true\n") || strings.Contains(cfg, "{{") {
		t.Fatalf("tools/peers/loki.yaml changed shape; rendered:\n%s", cfg)
	}
	file := testutil.WriteFile(t, dir, "loki.yaml", cfg)
	start := time.Now()
	p := testutil.Start(t, bin, append([]string{"-config.file=" + file, "-target=all"}, flags...)...)
	testutil.Eventually(t, 60*time.Second, "loki /ready", func() bool {
		if p.Exited() {
			t.Fatalf("loki exited:\n%s", p.Output())
		}
		code, _, err := testutil.HTTPGet("http://" + httpAddr + "/ready")
		return err == nil && code == http.StatusOK
	})
	t.Logf("loki ready on %s after %s", httpAddr, time.Since(start).Round(time.Millisecond))
	return httpAddr
}

// lokiGet queries Loki's HTTP API as the test tenant and decodes the JSON
// answer's data into out.
func lokiGet(t *testing.T, addr, path string, q url.Values, out any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Scope-OrgID", lokiTenant)
	// Loki 3 returns structured metadata apart from the stream labels (as
	// a third element of each value) only when asked to.
	req.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Status != "success" {
		t.Fatalf("GET %s: HTTP %d, status %q, %v", path, resp.StatusCode, body.Status, err)
	}
	if err := json.Unmarshal(body.Data, out); err != nil {
		t.Fatalf("GET %s: data %s: %v", path, body.Data, err)
	}
}

// lokiLine is one entry as Loki's query_range returns it.
type lokiLine struct {
	labels   map[string]string
	ts       int64
	line     string
	metadata map[string]string
}

// queryLines returns every entry of the streams that match selector, in
// time order.
func queryLines(t *testing.T, addr, selector string, from, to time.Time) []lokiLine {
	t.Helper()
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Stream map[string]string   `json:"stream"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"result"`
	}
	lokiGet(t, addr, "/loki/api/v1/query_range", url.Values{
		"query":     {selector},
		"start":     {strconv.FormatInt(from.UnixNano(), 10)},
		"end":       {strconv.FormatInt(to.UnixNano(), 10)},
		"limit":     {"5000"},
		"direction": {"forward"},
	}, &data)
	var out []lokiLine
	for _, s := range data.Result {
		for _, v := range s.Values {
			if len(v) < 2 {
				t.Fatalf("value %s", v)
			}
			var l lokiLine
			var tsStr string
			if err := json.Unmarshal(v[0], &tsStr); err != nil {
				t.Fatal(err)
			}
			l.ts, _ = strconv.ParseInt(tsStr, 10, 64)
			if err := json.Unmarshal(v[1], &l.line); err != nil {
				t.Fatal(err)
			}
			l.labels = s.Stream
			if len(v) > 2 {
				var cat struct {
					StructuredMetadata map[string]string `json:"structuredMetadata"`
				}
				if err := json.Unmarshal(v[2], &cat); err != nil {
					t.Fatal(err)
				}
				l.metadata = cat.StructuredMetadata
			}
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b lokiLine) int { return int(a.ts - b.ts) })
	return out
}

// handLogs is the hand-made set: one record per case a Loki user cares
// about, one second apart from base.
func handLogs(base time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "e2e-hand")
	rl.Resource().Attributes().PutStr("host.name", "edge-host-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("e2e/scope")
	add := func(i int, sev plog.SeverityNumber, text string) plog.LogRecord {
		r := sl.LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Second)))
		r.SetSeverityNumber(sev)
		r.SetSeverityText(text)
		r.Attributes().PutInt("seq", int64(i))
		return r
	}
	r := add(0, plog.SeverityNumberInfo, "INFO")
	r.Body().SetStr("plain line: GET /cart 200")
	r.SetTraceID(pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
	r.SetSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})
	r.Attributes().PutStr("http.method", "GET")
	r = add(1, plog.SeverityNumberWarn, "")
	m := r.Body().SetEmptyMap()
	m.PutStr("msg", "order placed")
	m.PutInt("order_id", 123)
	m.PutEmptySlice("items").FromRaw([]any{"a", "b"})
	r = add(2, plog.SeverityNumberError, "ERROR")
	r.Body().SetStr("payment failed")
	r.Attributes().PutEmptyMap("ctx").PutStr("card", "visa")
	r = add(3, plog.SeverityNumberUnspecified, "Notice")
	r.Body().SetStr("notice without a number")
	r = add(4, plog.SeverityNumberDebug, "")
	r.Body().SetStr("debug detail")
	// An older record sent after newer ones in the same batch: the exporter
	// sorts each stream, so Loki takes it.
	r = add(-1, plog.SeverityNumberInfo, "")
	r.Body().SetStr("earliest, sent last")
	return ld
}

func TestLokiEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	loki := startLoki(t)
	o := newOutpost(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
node: {name: e2e-node, site: lab}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  loki:
    endpoint: http://%s/loki/api/v1/push
    tenant: %s
    retry_on_failure: {initial_interval: 50ms, max_interval: 500ms}
service:
  pipelines:
    logs: {receivers: [otlp], processors: [batch], exporters: [loki]}
`, loki, lokiTenant))

	from := time.Now().Add(-time.Minute)
	const genGRPC, genHTTP = 120, 45
	telemetrygen(t, "logs", "--otlp-endpoint", o.grpc, "--logs", strconv.Itoa(genGRPC), "--service", "e2e-telemetrygen",
		"--telemetry-attributes", `transport="grpc"`)
	telemetrygen(t, "logs", "--otlp-endpoint", o.http, "--otlp-http", "--logs", strconv.Itoa(genHTTP), "--service", "e2e-telemetrygen",
		"--severity-number", "17", "--severity-text", "Error", "--body", "generated error", "--telemetry-attributes", `transport="http"`)

	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := time.Now().Add(-30 * time.Second).Truncate(time.Millisecond)
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(handLogs(base))); err != nil {
		t.Fatal(err)
	}
	to := time.Now().Add(time.Minute)

	// telemetrygen's records: every one arrives, labelled by service,
	// node, site and level, with its attributes as metadata.
	var gen []lokiLine
	testutil.Eventually(t, 30*time.Second, "telemetrygen's logs in Loki", func() bool {
		gen = queryLines(t, loki, `{service_name="e2e-telemetrygen"}`, from, to)
		return len(gen) >= genGRPC+genHTTP
	})
	counts := map[string]int{}
	for _, l := range gen {
		transport := l.metadata["transport"]
		counts[transport]++
		wantLevel, wantLine, wantText, wantNum := "info", "the message", "Info", "9"
		if transport == "http" {
			wantLevel, wantLine, wantText, wantNum = "error", "generated error", "Error", "17"
		}
		wantLabels := map[string]string{"service_name": "e2e-telemetrygen", "node": "e2e-node", "site": "lab", "level": wantLevel}
		if !maps.Equal(l.labels, wantLabels) {
			t.Fatalf("telemetrygen stream labels %v, want %v", l.labels, wantLabels)
		}
		if l.line != wantLine || l.metadata["severity_text"] != wantText || l.metadata["severity_number"] != wantNum {
			t.Fatalf("telemetrygen entry %q %v", l.line, l.metadata)
		}
	}
	if counts["grpc"] != genGRPC || counts["http"] != genHTTP || len(gen) != genGRPC+genHTTP {
		t.Fatalf("Loki has %d telemetrygen entries (%v), want %d over gRPC and %d over HTTP", len(gen), counts, genGRPC, genHTTP)
	}

	// The hand-made set: every line, timestamp, label and structured
	// metadata exactly, in time order. (Loki 3.7 adds no detected_level
	// when the stream has a level label.)
	type want struct {
		line   string
		level  string
		offset time.Duration
		meta   map[string]string
	}
	common := map[string]string{"host_name": "edge-host-1", "scope_name": "e2e/scope"}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(common)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	wants := []want{
		{"earliest, sent last", "info", -time.Second, with("seq", "-1", "severity_number", "9")},
		{"plain line: GET /cart 200", "info", 0, with("seq", "0", "severity_number", "9", "severity_text", "INFO",
			"trace_id", "5b8efff798038103d269b633813fc60c", "span_id", "eee19b7ec3c1b174", "http_method", "GET")},
		{`{"msg":"order placed","order_id":123,"items":["a","b"]}`, "warn", time.Second, with("seq", "1", "severity_number", "13")},
		{"payment failed", "error", 2 * time.Second, with("seq", "2", "severity_number", "17", "severity_text", "ERROR", "ctx", `{"card":"visa"}`)},
		{"notice without a number", "notice", 3 * time.Second, with("seq", "3", "severity_text", "Notice")},
		{"debug detail", "debug", 4 * time.Second, with("seq", "4", "severity_number", "5")},
	}
	var hand []lokiLine
	testutil.Eventually(t, 30*time.Second, "the hand-made logs in Loki", func() bool {
		hand = queryLines(t, loki, `{service_name="e2e-hand"}`, from, to)
		return len(hand) >= len(wants)
	})
	if len(hand) != len(wants) {
		t.Fatalf("Loki has %d hand-made entries, want %d", len(hand), len(wants))
	}
	for i, w := range wants {
		l := hand[i]
		wantLabels := map[string]string{"service_name": "e2e-hand", "node": "e2e-node", "site": "lab", "level": w.level}
		if l.line != w.line || l.ts != base.Add(w.offset).UnixNano() || !maps.Equal(l.labels, wantLabels) || !maps.Equal(l.metadata, w.meta) {
			t.Errorf("entry %d:\n got %d %q %v %v\nwant %d %q %v %v", i,
				l.ts, l.line, l.labels, l.metadata, base.Add(w.offset).UnixNano(), w.line, wantLabels, w.meta)
		}
	}

	// Structured metadata is queryable as such (a label filter after the
	// selector, without parsing the line).
	traced := queryLines(t, loki, `{service_name="e2e-hand"} | trace_id="5b8efff798038103d269b633813fc60c"`, from, to)
	if len(traced) != 1 || traced[0].line != "plain line: GET /cart 200" {
		t.Errorf("trace_id filter found %d entries: %v", len(traced), traced)
	}

	// The tenant's label names are exactly the configured stream labels.
	var names []string
	lokiGet(t, loki, "/loki/api/v1/labels", url.Values{"start": {strconv.FormatInt(from.UnixNano(), 10)}, "end": {strconv.FormatInt(to.UnixNano(), 10)}}, &names)
	slices.Sort(names)
	if !slices.Equal(names, []string{"level", "node", "service_name", "site"}) {
		t.Errorf("label names %v, want level, node, service_name, site", names)
	}
	var services []string
	lokiGet(t, loki, "/loki/api/v1/label/service_name/values", url.Values{"start": {strconv.FormatInt(from.UnixNano(), 10)}, "end": {strconv.FormatInt(to.UnixNano(), 10)}}, &services)
	if !slices.Equal(services, []string{"e2e-hand", "e2e-telemetrygen"}) {
		t.Errorf("service_name values %v", services)
	}

	// Another tenant sees nothing: the data went in under X-Scope-OrgID.
	req, _ := http.NewRequest(http.MethodGet, "http://"+loki+"/loki/api/v1/labels", nil)
	req.Header.Set("X-Scope-OrgID", "someone-else")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var other struct {
		Data []string `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&other)
	resp.Body.Close()
	if len(other.Data) != 0 {
		t.Errorf("tenant someone-else sees labels %v", other.Data)
	}

	m := testutil.Scrape(t, o.telemetry)
	sent := m.Sum("outpost_exporter_sent_items_total", map[string]string{"exporter": "loki", "signal": "logs"})
	failed := m.Sum("outpost_exporter_failed_items_total", map[string]string{"exporter": "loki"})
	if int(sent) != genGRPC+genHTTP+len(wants) || failed != 0 {
		t.Errorf("exporter sent %v, failed %v; want %d and 0", sent, failed, genGRPC+genHTTP+len(wants))
	}

	// Loki refuses an entry older than its reject_old_samples_max_age (a
	// week) with a 400: permanent, counted, logged with Loki's message,
	// never retried.
	old := plog.NewLogs()
	rec := old.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-30 * 24 * time.Hour)))
	rec.Body().SetStr("a month late")
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(old)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the late entry refused for good", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_exporter_failed_items_total", map[string]string{"exporter": "loki", "reason": "permanent"}) == 1
	})
	if !strings.Contains(o.proc.Output(), "HTTP 400") || !strings.Contains(o.proc.Output(), "has timestamp too old") {
		t.Errorf("outpost did not log Loki's refusal:\n%s", o.proc.Output())
	}
	if got := testutil.Scrape(t, o.telemetry).Sum("outpost_exporter_send_retries_total", map[string]string{"exporter": "loki"}); got != 0 {
		t.Errorf("%v retries, want none", got)
	}

	t.Logf("loki e2e: %d telemetrygen entries (%d gRPC, %d HTTP) and %d hand-made entries in Loki under tenant %s; labels %v; exporter sent %v, failed %v; a month-old entry refused by Loki with 400, counted as permanent",
		len(gen), counts["grpc"], counts["http"], len(hand), lokiTenant, names, sent, failed)
}
