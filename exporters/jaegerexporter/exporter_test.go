package jaegerexporter

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

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// startExporter creates and starts a jaeger exporter, without a queue
// unless mod enables it, and shuts it down at the end of the test.
func startExporter(t *testing.T, mod func(*Config)) *exporter {
	t.Helper()
	c := createDefaultConfig()
	c.Queue.Enabled = false
	c.RetryOnFailure = sender.RetryConfig{Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
		MaxElapsedTime: 5 * time.Second, Multiplier: 2}
	mod(c)
	comp, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("jaeger/test"), StorageDir: t.TempDir()}, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := comp.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := comp.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return comp.(*exporter)
}

// richTraces is one trace of n spans (a root and its children) with every
// field Jaeger stores: resource and scope, kinds, parent ids, attributes
// of each type, events, links, status, trace state and flags. seed makes
// the ids unique to a test.
func richTraces(seed byte, n int, service string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	if service != "" {
		rs.Resource().Attributes().PutStr("service.name", service)
	}
	rs.Resource().Attributes().PutStr("host.name", "edge-7")
	rs.Resource().Attributes().PutInt("replica", 2)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("outpost.test")
	ss.Scope().SetVersion("1.2.3")
	traceID := pcommon.TraceID{0xee, seed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	start := pcommon.Timestamp(time.Now().Add(-time.Minute).UnixNano())
	kinds := []ptrace.SpanKind{ptrace.SpanKindServer, ptrace.SpanKindClient, ptrace.SpanKindInternal, ptrace.SpanKindProducer, ptrace.SpanKindConsumer}
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(traceID)
		sp.SetSpanID(pcommon.SpanID{0xaa, seed, byte(i), 1, 2, 3, 4, byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{0xaa, seed, 0, 1, 2, 3, 4, 1})
		}
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.TraceState().FromRaw("rojo=00f067aa0ba902b7")
		sp.SetFlags(1)
		sp.SetKind(kinds[i%len(kinds)])
		sp.SetStartTimestamp(start + pcommon.Timestamp(i)*1_000_123)
		sp.SetEndTimestamp(start + pcommon.Timestamp(i)*1_000_123 + 2_500_789)
		if i == 0 {
			// Children inside their parent, or Jaeger's query service
			// reports clock skew in an added @jaeger@warnings attribute.
			sp.SetEndTimestamp(start + 100_000_000)
		}
		sp.Attributes().PutStr("http.route", "/api/orders/{id}")
		sp.Attributes().PutInt("http.status_code", int64(200+i))
		sp.Attributes().PutDouble("ratio", 0.25)
		sp.Attributes().PutBool("cache.hit", i%2 == 0)
		ev := sp.Events().AppendEmpty()
		ev.SetName("retry")
		ev.SetTimestamp(start + pcommon.Timestamp(i)*1_000_123 + 1000)
		ev.Attributes().PutInt("attempt", 2)
		if i%3 == 1 {
			ln := sp.Links().AppendEmpty()
			ln.SetTraceID(pcommon.TraceID{0xdd, seed, 9})
			ln.SetSpanID(pcommon.SpanID{0xdd, seed, 9, 9})
			ln.Attributes().PutStr("link.kind", "follows")
		}
		switch i % 3 {
		case 1:
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage("upstream timeout")
		case 2:
			sp.Status().SetCode(ptrace.StatusCodeOk)
		}
	}
	return td
}

func TestSinkRoundTrip(t *testing.T) {
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		for _, comp := range []string{"gzip", "zstd", "none"} {
			t.Run(proto+"/"+comp, func(t *testing.T) {
				sink := otlpsink.Start(t)
				e := startExporter(t, func(c *Config) {
					c.Protocol, c.Compression = proto, comp
					c.Endpoint = sink.GRPCAddr() // loopback: plaintext
					if proto == ProtocolHTTP {
						c.Endpoint = sink.HTTPURL()
					}
					c.Headers = map[string]string{"x-scope-orgid": "site-7"}
				})
				td := richTraces(1, 6, "checkout")
				if err := e.ConsumeTraces(context.Background(), td); err != nil {
					t.Fatal(err)
				}
				got := sink.Traces()
				if len(got) != 1 {
					t.Fatalf("sink got %d batches", len(got))
				}
				equalJSON(t, td, got[0])
				r, _ := sink.LastRequest()
				wantComp := comp
				if comp == "none" {
					wantComp = ""
				}
				if r.Compression != wantComp || r.Header("x-scope-orgid") != "site-7" {
					t.Fatalf("request %+v", r)
				}
			})
		}
	}
}

func TestDefaultServiceName(t *testing.T) {
	sink := otlpsink.Start(t)
	e := startExporter(t, func(c *Config) {
		c.Endpoint = sink.GRPCAddr()
		c.DefaultServiceName = "edge-default"
	})
	td := richTraces(2, 2, "")
	named := td.ResourceSpans().AppendEmpty()
	richTraces(3, 1, "checkout").ResourceSpans().At(0).CopyTo(named)
	empty := td.ResourceSpans().AppendEmpty()
	richTraces(4, 1, "").ResourceSpans().At(0).CopyTo(empty)
	empty.Resource().Attributes().PutStr("service.name", "")
	before, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err := e.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	after, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if string(before) != string(after) {
		t.Fatal("the caller's batch was changed")
	}
	got := sink.Traces()[0].ResourceSpans()
	for i, want := range []string{"edge-default", "checkout", "edge-default"} {
		if v, _ := got.At(i).Resource().Attributes().Get("service.name"); v.Str() != want {
			t.Errorf("resource %d: service.name %q, want %q", i, v.Str(), want)
		}
	}
	// A batch that has every name is passed as it is.
	full := richTraces(5, 1, "checkout")
	if err := e.ConsumeTraces(context.Background(), full); err != nil {
		t.Fatal(err)
	}
	equalJSON(t, full, sink.Traces()[1])
}

// equalJSON fails unless want and got are the same traces.
func equalJSON(t *testing.T, want, got ptrace.Traces) {
	t.Helper()
	a, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(want)
	b, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(got)
	if string(a) != string(b) {
		t.Fatalf("traces differ:\nsent     %s\nreceived %s", a, b)
	}
}

// jaeger is a real Jaeger v2 (bin/jaeger) on free 127.0.0.1 ports, from
// tools/peers/jaeger.yaml: OTLP in, memory storage, query API out.
type jaeger struct {
	otlpGRPC, otlpHTTP, query string
}

func startJaeger(t *testing.T) *jaeger {
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
	path := testutil.WriteFile(t, t.TempDir(), "jaeger.yaml", cfg)
	p := testutil.Start(t, bin, "--config", path)
	testutil.Eventually(t, 60*time.Second, "jaeger ready", func() bool {
		if p.Exited() {
			t.Fatalf("jaeger exited:\n%s", p.Output())
		}
		code, _, err := testutil.HTTPGet("http://127.0.0.1:" + ports["Health"] + "/status")
		return err == nil && code == http.StatusOK
	})
	return &jaeger{
		otlpGRPC: "127.0.0.1:" + ports["OTLPGRPC"],
		otlpHTTP: "http://127.0.0.1:" + ports["OTLPHTTP"],
		query:    "http://127.0.0.1:" + ports["QueryHTTP"],
	}
}

// trace returns what Jaeger's API v3 holds of a trace, as OTLP, once it
// holds want spans of it.
func (j *jaeger) trace(t *testing.T, id pcommon.TraceID, want int) ptrace.Traces {
	t.Helper()
	var td ptrace.Traces
	testutil.Eventually(t, 10*time.Second, "trace "+id.String()+" in jaeger", func() bool {
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

// services lists the services Jaeger knows.
func (j *jaeger) services(t *testing.T) []string {
	t.Helper()
	code, body, err := testutil.HTTPGet(j.query + "/api/services")
	if err != nil || code != http.StatusOK {
		t.Fatalf("services: %d %v", code, err)
	}
	var resp struct {
		Data []string `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Data
}

// TestRealJaeger sends through both protocols and every compression to a
// real Jaeger and reads each trace back from its API v3 (OTLP JSON): the
// spans round-trip exactly. Then it shows what Jaeger does with a resource
// without service.name, and what default_service_name changes.
func TestRealJaeger(t *testing.T) {
	j := startJaeger(t)
	seed := byte(10)
	for _, proto := range []string{ProtocolGRPC, ProtocolHTTP} {
		for _, comp := range []string{"gzip", "zstd", "none"} {
			seed++
			t.Run(proto+"/"+comp, func(t *testing.T) {
				e := startExporter(t, func(c *Config) {
					c.Protocol, c.Compression = proto, comp
					c.Endpoint = j.otlpGRPC
					if proto == ProtocolHTTP {
						c.Endpoint = j.otlpHTTP
					}
				})
				td := richTraces(seed, 7, "checkout")
				if err := e.ConsumeTraces(context.Background(), td); err != nil {
					t.Fatal(err)
				}
				got := j.trace(t, td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID(), 7)
				// Jaeger keeps attributes sorted by key; nothing else moves.
				sortAttributes(td)
				equalJSON(t, td, got)
				t.Logf("jaeger %s/%s: %d spans round-trip exactly", proto, comp, got.SpanCount())
			})
		}
	}

	t.Run("no service.name", func(t *testing.T) {
		e := startExporter(t, func(c *Config) { c.Endpoint = j.otlpGRPC })
		td := richTraces(40, 1, "")
		if err := e.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		got := j.trace(t, td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID(), 1)
		v, _ := got.ResourceSpans().At(0).Resource().Attributes().Get("service.name")
		if v.Str() != "missing-service-name" {
			t.Fatalf("jaeger's service.name for a resource without one: %q", v.Str())
		}
		t.Logf("without service.name Jaeger files the span under %q; services: %v", v.Str(), j.services(t))

		e2 := startExporter(t, func(c *Config) { c.Endpoint, c.DefaultServiceName = j.otlpGRPC, "edge-default" })
		td = richTraces(41, 1, "")
		if err := e2.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		got = j.trace(t, td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID(), 1)
		if v, _ := got.ResourceSpans().At(0).Resource().Attributes().Get("service.name"); v.Str() != "edge-default" {
			t.Fatalf("with default_service_name: %q", v.Str())
		}
	})
}

// sortAttributes sorts every attribute map of td by key, as Jaeger
// stores them.
func sortAttributes(td ptrace.Traces) {
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

func sortMap(m pcommon.Map) {
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
