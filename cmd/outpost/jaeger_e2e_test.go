package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// jaegerPeer is a real Jaeger v2 (bin/jaeger) on free 127.0.0.1 ports,
// from tools/peers/jaeger.yaml: OTLP in, memory storage, query API out.
type jaegerPeer struct {
	otlpGRPC, query string
}

func startJaegerPeer(t *testing.T) *jaegerPeer {
	t.Helper()
	bin := testutil.Binary(t, "JAEGER_BIN", "jaeger")
	tpl, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "tools", "peers", "jaeger.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	port := func() string { a := testutil.FreeAddr(t); return a[strings.LastIndexByte(a, ':')+1:] }
	ports := map[string]string{"OTLPGRPC": port(), "OTLPHTTP": port(), "QueryHTTP": port(), "QueryGRPC": port(), "Health": port()}
	cfg := string(tpl)
	for k, v := range ports {
		cfg = strings.ReplaceAll(cfg, "{{."+k+"}}", v)
	}
	p := testutil.Start(t, bin, "--config", testutil.WriteFile(t, t.TempDir(), "jaeger.yaml", cfg))
	testutil.Eventually(t, 60*time.Second, "jaeger ready", func() bool {
		if p.Exited() {
			t.Fatalf("jaeger exited:\n%s", p.Output())
		}
		code, _, err := testutil.HTTPGet("http://127.0.0.1:" + ports["Health"] + "/status")
		return err == nil && code == http.StatusOK
	})
	return &jaegerPeer{otlpGRPC: "127.0.0.1:" + ports["OTLPGRPC"], query: "http://127.0.0.1:" + ports["QueryHTTP"]}
}

// trace reads a trace back from Jaeger's API v3 (OTLP JSON) once it holds
// want spans of it.
func (j *jaegerPeer) trace(t *testing.T, id pcommon.TraceID, want int) ptrace.Traces {
	t.Helper()
	var td ptrace.Traces
	testutil.Eventually(t, 20*time.Second, "trace "+id.String()+" in jaeger", func() bool {
		code, body, err := testutil.HTTPGet(j.query + "/api/v3/traces/" + id.String())
		if err != nil || code != http.StatusOK {
			return false
		}
		var resp struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(body), &resp) != nil {
			return false
		}
		td, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(resp.Result)
		return err == nil && td.SpanCount() >= want
	})
	return td
}

// serviceSpans counts the spans Jaeger holds for a service (API v1
// search) and how many of their processes carry node.name = node.
func (j *jaegerPeer) serviceSpans(t *testing.T, service, node string) (spans, stamped int) {
	t.Helper()
	code, body, err := testutil.HTTPGet(j.query + "/api/traces?service=" + service + "&limit=100000&lookback=1h")
	if err != nil || code != http.StatusOK {
		t.Fatalf("search %s: %d %v", service, code, err)
	}
	var resp struct {
		Data []struct {
			Spans []struct {
				ProcessID string `json:"processID"`
			} `json:"spans"`
			Processes map[string]struct {
				Tags []struct {
					Key   string `json:"key"`
					Value any    `json:"value"`
				} `json:"tags"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	for _, tr := range resp.Data {
		for _, sp := range tr.Spans {
			spans++
			for _, tag := range tr.Processes[sp.ProcessID].Tags {
				if tag.Key == "node.name" && tag.Value == node {
					stamped++
				}
			}
		}
	}
	return spans, stamped
}

// handMadeTraces is one trace of n spans with everything Jaeger stores:
// resource and scope, every span kind, parent ids, attributes of each
// type, events, links, status, trace state and flags.
func handMadeTraces(seed byte, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("deployment.environment", "plant-3")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("outpost.e2e")
	ss.Scope().SetVersion("0.1.0")
	traceID := pcommon.TraceID{0xe2, 0xe0, seed, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	start := pcommon.Timestamp(time.Now().Add(-time.Minute).UnixNano())
	kinds := []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindInternal, ptrace.SpanKindProducer, ptrace.SpanKindConsumer}
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(traceID)
		sp.SetSpanID(pcommon.SpanID{0xe2, seed, byte(i), 4, 5, 6, 7, byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{0xe2, seed, 0, 4, 5, 6, 7, 1})
		}
		sp.SetName(fmt.Sprintf("POST /orders/%d", i))
		sp.SetKind(kinds[i%len(kinds)])
		sp.TraceState().FromRaw("vendor=edge")
		sp.SetFlags(1)
		sp.SetStartTimestamp(start + pcommon.Timestamp(i)*1_234_567)
		sp.SetEndTimestamp(start + pcommon.Timestamp(i)*1_234_567 + 9_876_543)
		if i == 0 {
			// Children inside their parent: Jaeger's query service flags
			// a child outside it as clock skew (a @jaeger@warnings
			// attribute added when reading).
			sp.SetEndTimestamp(start + 100_000_000)
		}
		sp.Attributes().PutStr("http.request.method", "POST")
		sp.Attributes().PutInt("http.response.status_code", int64(200+i))
		sp.Attributes().PutDouble("load", 0.75)
		sp.Attributes().PutBool("retried", i%2 == 1)
		ev := sp.Events().AppendEmpty()
		ev.SetName("queued")
		ev.SetTimestamp(start + pcommon.Timestamp(i)*1_234_567 + 500)
		ev.Attributes().PutStr("queue", "orders")
		if i%2 == 1 {
			ln := sp.Links().AppendEmpty()
			ln.SetTraceID(pcommon.TraceID{0xe2, 0x11, seed})
			ln.SetSpanID(pcommon.SpanID{0xe2, 0x11, seed, 1})
			ln.Attributes().PutInt("batch.index", int64(i))
		}
		switch i % 3 {
		case 1:
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("payment declined")
		case 2:
			sp.Status().SetCode(ptrace.StatusCodeOk)
		}
	}
	return td
}

// sortTraceAttributes sorts every attribute map of td by key, as Jaeger
// stores them.
func sortTraceAttributes(td ptrace.Traces) {
	sortMap := func(m pcommon.Map) {
		keys := make([]string, 0, m.Len())
		for k := range m.All() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		tmp := pcommon.NewMap()
		m.CopyTo(tmp)
		m.Clear()
		for _, k := range keys {
			v, _ := tmp.Get(k)
			v.CopyTo(m.PutEmpty(k))
		}
	}
	for _, rs := range td.ResourceSpans().All() {
		sortMap(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			sortMap(ss.Scope().Attributes())
			for _, sp := range ss.Spans().All() {
				sortMap(sp.Attributes())
				for _, ev := range sp.Events().All() {
					sortMap(ev.Attributes())
				}
				for _, ln := range sp.Links().All() {
					sortMap(ln.Attributes())
				}
			}
		}
	}
}

// TestJaegerThroughOutpost: OTLP in → batch → jaeger exporter (OTLP/gRPC,
// gzip, disk queue) → a real Jaeger. telemetrygen's traces all arrive with
// the node's identity; hand-made traces read back from Jaeger's API v3 are
// what was sent plus node.name and node.site, field for field.
func TestJaegerThroughOutpost(t *testing.T) {
	j := startJaegerPeer(t)
	o := newOutpost(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
node: {name: e2e-node, site: lab}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  jaeger:
    endpoint: %s
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [jaeger]}
`, j.otlpGRPC))

	const genTraces = 200
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--traces", fmt.Sprint(genTraces), "--service", "e2e-telemetrygen")

	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	var sent []ptrace.Traces
	handMade := 0
	for i := range 5 {
		td := handMadeTraces(byte(i), 3+i)
		want := ptrace.NewTraces()
		td.CopyTo(want) // the request takes td
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		if err != nil {
			t.Fatalf("export hand-made trace %d: %v", i, err)
		}
		sent = append(sent, want)
		handMade += want.SpanCount()
	}

	for _, want := range sent {
		id := want.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
		got := j.trace(t, id, want.SpanCount())
		// What Jaeger should hold: the spans as sent, the node's identity
		// stamped on the resource by outpost, attributes sorted by key.
		res := want.ResourceSpans().At(0).Resource().Attributes()
		res.PutStr("node.name", "e2e-node")
		res.PutStr("node.site", "lab")
		sortTraceAttributes(want)
		a, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
		b, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(got)
		if string(a) != string(b) {
			t.Fatalf("trace %s differs:\nsent     %s\nin jaeger %s", id, a, b)
		}
	}

	var genSpans, stamped int
	testutil.Eventually(t, 20*time.Second, "telemetrygen's spans in jaeger", func() bool {
		genSpans, stamped = j.serviceSpans(t, "e2e-telemetrygen", "e2e-node")
		return genSpans >= 2*genTraces
	})
	if genSpans != 2*genTraces || stamped != genSpans {
		t.Fatalf("jaeger holds %d telemetrygen spans (%d with node.name), want %d", genSpans, stamped, 2*genTraces)
	}
	m := testutil.Scrape(t, o.telemetry)
	sentItems := m.Sum("outpost_exporter_sent_items_total", map[string]string{"exporter": "jaeger", "signal": "traces"})
	if int(sentItems) != genSpans+handMade {
		t.Errorf("outpost_exporter_sent_items_total{exporter=jaeger} = %v, want %d", sentItems, genSpans+handMade)
	}
	fmt.Printf("jaeger e2e: %d telemetrygen spans (all with node.name) and %d hand-made spans in %d traces round-trip exactly through outpost (otlp → batch → jaeger exporter, gRPC+gzip, disk queue) to Jaeger v2.13; outpost sent %.0f spans\n",
		genSpans, handMade, len(sent), sentItems)
}
