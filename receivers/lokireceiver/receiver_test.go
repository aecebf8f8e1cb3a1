package lokireceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testHost struct{ listeners pipeline.Listeners }

func (h *testHost) Listen(network, address string) (net.Listener, error) {
	return h.listeners.Listen(network, address)
}

// sink keeps what it is given when err is nil and answers err.
type sink struct {
	mu   sync.Mutex
	err  error
	logs []plog.Logs
}

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.logs = append(s.logs, ld)
	return nil
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) setErr(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *sink) take() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.logs
	s.logs = nil
	return out
}

type running struct {
	url string
	tel *selftelemetry.Metrics
	s   *sink
}

func startReceiver(t *testing.T, cfg *Config, mem *memlimit.Limiter) running {
	t.Helper()
	if cfg == nil {
		cfg = createDefaultConfig()
		cfg.Protocols.HTTP = &HTTPConfig{}
		cfg.Protocols.HTTP.SetDefaults()
	}
	cfg.Protocols.HTTP.Endpoint = "127.0.0.1:0"
	s := &sink{}
	tel := selftelemetry.New()
	f := NewFactory()
	c, err := f.Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("loki/test"), Telemetry: tel, Memory: mem}, cfg, pipeline.Consumers{Logs: consumer.Logs(s)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	return running{url: "http://" + c.(*receiver).address().String(), tel: tel, s: s}
}

func protoBody(t testing.TB, req push.PushRequest) []byte {
	t.Helper()
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflated(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func post(t *testing.T, url, ct, ce, tenant string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if ce != "" {
		req.Header.Set("Content-Encoding", ce)
	}
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var t0 = time.Unix(1_700_000_000, 123456789)

func samplePush() push.PushRequest {
	return push.PushRequest{Streams: []push.Stream{
		{Labels: `{service_name="cart", env="prod", quote="a \"b\" \\ c"}`, Entries: []push.Entry{
			{Timestamp: t0, Line: "first", StructuredMetadata: push.LabelsAdapter{{Name: "trace_id", Value: "abc"}}},
			{Timestamp: t0.Add(time.Second), Line: "second"},
		}},
		{Labels: `{job="plc"}`, Entries: []push.Entry{{Timestamp: t0.Add(2 * time.Second), Line: "third"}}},
	}}
}

const sampleJSON = `{"streams":[
 {"stream":{"service_name":"cart","env":"prod","quote":"a \"b\" \\ c"},"values":[["1700000000123456789","first",{"trace_id":"abc"}],["1700000001123456789","second"]]},
 {"stream":{"job":"plc"},"values":[["1700000002123456789","third"]]}]}`

const sampleLegacyJSON = `{"streams":[
 {"labels":"{service_name=\"cart\", env=\"prod\", quote=\"a \\\"b\\\" \\\\ c\"}","entries":[{"ts":"2023-11-14T22:13:20.123456789Z","line":"first"},{"ts":"2023-11-14T22:13:21.123456789Z","line":"second"}]},
 {"labels":"{job=\"plc\"}","entries":[{"ts":"2023-11-14T22:13:22.123456789Z","line":"third"}]}]}`

// flat is one record as the tests compare it.
type flat struct {
	resource, attrs string
	ts              int64
	line            string
}

func flatten(lds []plog.Logs) []flat {
	var out []flat
	for _, ld := range lds {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			res := fmt.Sprint(rl.Resource().Attributes().AsRaw())
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				rs := rl.ScopeLogs().At(j).LogRecords()
				for k := 0; k < rs.Len(); k++ {
					r := rs.At(k)
					if r.ObservedTimestamp() == 0 {
						panic("no observed timestamp")
					}
					out = append(out, flat{res, fmt.Sprint(r.Attributes().AsRaw()), int64(r.Timestamp()), r.Body().Str()})
				}
			}
		}
	}
	return out
}

func TestPushFormats(t *testing.T) {
	r := startReceiver(t, nil, nil)
	res1 := fmt.Sprint(map[string]any{"service.name": "cart", "env": "prod", "quote": `a "b" \ c`, "loki.tenant": "acme"})
	res2 := fmt.Sprint(map[string]any{"job": "plc", "loki.tenant": "acme"})
	want := []flat{
		{res1, fmt.Sprint(map[string]any{"trace_id": "abc"}), t0.UnixNano(), "first"},
		{res1, "map[]", t0.Add(time.Second).UnixNano(), "second"},
		{res2, "map[]", t0.Add(2 * time.Second).UnixNano(), "third"},
	}
	noMeta := append([]flat(nil), want...)
	noMeta[0].attrs = "map[]"
	proto := protoBody(t, samplePush())
	for _, c := range []struct {
		name, path, ct, ce string
		body               []byte
		want               []flat
	}{
		{"protobuf", PushPath, "application/x-protobuf", "", proto, want},
		{"protobuf without content type", PushPath, "", "", proto, want},
		{"protobuf, encoding snappy", PushPath, "application/x-protobuf", "snappy", proto, want},
		{"protobuf on the legacy path", LegacyPushPath, "application/x-protobuf", "", proto, want},
		{"protobuf gzip", PushPath, "application/x-protobuf", "gzip", gzipped(t, proto), want},
		{"json", PushPath, "application/json", "", []byte(sampleJSON), want},
		{"json gzip", PushPath, "application/json; charset=utf-8", "gzip", gzipped(t, []byte(sampleJSON)), want},
		{"json deflate", PushPath, "application/json", "deflate", deflated(t, []byte(sampleJSON)), want},
		{"legacy json", LegacyPushPath, "application/json", "", []byte(sampleLegacyJSON), noMeta},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := promtest.ToFloat64(r.tel.ReceiverAccepted.WithLabelValues("loki/test", "logs", "http"))
			resp, msg := post(t, r.url+c.path, c.ct, c.ce, "acme", c.body)
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("HTTP %d %s", resp.StatusCode, msg)
			}
			got := flatten(r.s.take())
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got\n%v\nwant\n%v", got, c.want)
			}
			if d := promtest.ToFloat64(r.tel.ReceiverAccepted.WithLabelValues("loki/test", "logs", "http")) - before; d != 3 {
				t.Fatalf("accepted +%v, want 3", d)
			}
		})
	}
}

func TestIncomingTimestampOff(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.UseIncomingTimestamp = false
	r := startReceiver(t, cfg, nil)
	if resp, msg := post(t, r.url+PushPath, "application/json", "", "", []byte(sampleJSON)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("HTTP %d %s", resp.StatusCode, msg)
	}
	for _, f := range flatten(r.s.take()) {
		if f.ts != 0 || strings.Contains(f.resource, "loki.tenant") {
			t.Fatalf("record %+v: want no timestamp and no tenant", f)
		}
	}
}

func TestPushRefused(t *testing.T) {
	const maxBody = 1 << 20
	cfg := createDefaultConfig()
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.Protocols.HTTP.MaxRequestBodySize = maxBody
	r := startReceiver(t, cfg, nil)
	bad := func(reason string) float64 {
		return promtest.ToFloat64(r.tel.ReceiverBadRequests.WithLabelValues("loki/test", "logs", "http", reason))
	}
	big := protoBody(t, push.PushRequest{Streams: []push.Stream{{Labels: `{a="b"}`, Entries: []push.Entry{{Timestamp: t0, Line: strings.Repeat("x", maxBody)}}}}})
	for _, c := range []struct {
		name, method, ct, ce string
		body                 []byte
		status               int
		reason, msg          string
	}{
		{"GET", http.MethodGet, "", "", nil, http.StatusMethodNotAllowed, reasonMethodNotAllowed, "use POST"},
		{"text/plain", http.MethodPost, "text/plain", "", []byte("x"), http.StatusUnsupportedMediaType, reasonUnsupportedMediaType, "content type"},
		{"zstd", http.MethodPost, "application/x-protobuf", "zstd", []byte("x"), http.StatusUnsupportedMediaType, reasonUnsupportedEncoding, "content encoding"},
		{"not snappy", http.MethodPost, "application/x-protobuf", "", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}, http.StatusBadRequest, reasonDecode, "snappy"},
		{"not protobuf", http.MethodPost, "application/x-protobuf", "", snappy.Encode(nil, []byte{0x0a, 0xff}), http.StatusBadRequest, reasonDecode, "protobuf"},
		{"no labels", http.MethodPost, "application/json", "", []byte(`{"streams":[{"stream":{},"values":[["1","x"]]}]}`), http.StatusBadRequest, reasonDecode, "at least one label"},
		{"bad label name", http.MethodPost, "application/json", "", []byte(`{"streams":[{"stream":{"a.b":"c"},"values":[["1","x"]]}]}`), http.StatusBadRequest, reasonDecode, "invalid label name"},
		{"bad label string", http.MethodPost, "application/x-protobuf", "", protoBody(t, push.PushRequest{Streams: []push.Stream{{Labels: `{a="b}`}}}), http.StatusBadRequest, reasonDecode, "unterminated"},
		{"duplicate label", http.MethodPost, "application/x-protobuf", "", protoBody(t, push.PushRequest{Streams: []push.Stream{{Labels: `{a="b", a="c"}`}}}), http.StatusBadRequest, reasonDecode, "duplicate"},
		{"bad timestamp", http.MethodPost, "application/json", "", []byte(`{"streams":[{"stream":{"a":"b"},"values":[["soon","x"]]}]}`), http.StatusBadRequest, reasonDecode, "timestamp"},
		{"bad json", http.MethodPost, "application/json", "", []byte(`{"streams":`), http.StatusBadRequest, reasonDecode, "json"},
		{"too large", http.MethodPost, "application/x-protobuf", "", big, http.StatusRequestEntityTooLarge, reasonTooLarge, "larger than"},
		{"gzip bomb", http.MethodPost, "application/json", "gzip", gzipped(t, bytes.Repeat([]byte(" "), maxBody+1)), http.StatusRequestEntityTooLarge, reasonTooLarge, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := bad(c.reason)
			req, _ := http.NewRequest(c.method, r.url+PushPath, bytes.NewReader(c.body))
			req.Header.Set("Content-Type", c.ct)
			req.Header.Set("Content-Encoding", c.ce)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.msg) {
				t.Fatalf("HTTP %d %q, want %d containing %q", resp.StatusCode, b, c.status, c.msg)
			}
			if bad(c.reason)-before != 1 {
				t.Fatalf("bad_requests{reason=%q} did not count", c.reason)
			}
		})
	}
	if got := r.s.take(); len(got) != 0 {
		t.Fatalf("the pipeline got %d batches", len(got))
	}
}

// TestBackPressure: every error of the pipeline maps to Loki's answer,
// and retryable ones to 503 with Retry-After (never 429).
func TestBackPressure(t *testing.T) {
	r := startReceiver(t, nil, nil)
	refused := func(reason string) float64 {
		return promtest.ToFloat64(r.tel.ReceiverRefused.WithLabelValues("loki/test", "logs", "http", reason))
	}
	for _, c := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
		reason     string
		refused    float64
	}{
		{"queue full", errors.New("queue full"), http.StatusServiceUnavailable, "1", reasonUnavailable, 3},
		{"throttle", pipeline.NewThrottle(errors.New("slow down"), 2500*time.Millisecond), http.StatusServiceUnavailable, "3", reasonThrottled, 3},
		{"permanent", consumererror.NewPermanent(errors.New("bad data")), http.StatusBadRequest, "", reasonPermanent, 3},
		{"partial", &pipeline.PartialError{Rejected: 1, Err: errors.New("one bad")}, http.StatusBadRequest, "", reasonRejected, 1},
		{"joined", errors.Join(consumererror.NewPermanent(errors.New("x")), errors.New("down")), http.StatusServiceUnavailable, "1", reasonUnavailable, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.s.setErr(c.err)
			before := refused(c.reason)
			resp, msg := post(t, r.url+PushPath, "application/json", "", "", []byte(sampleJSON))
			if resp.StatusCode != c.status || resp.Header.Get("Retry-After") != c.retryAfter {
				t.Fatalf("HTTP %d Retry-After %q (%s), want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), msg, c.status, c.retryAfter)
			}
			if d := refused(c.reason) - before; d != c.refused {
				t.Fatalf("refused{reason=%q} +%v, want %v", c.reason, d, c.refused)
			}
		})
	}
	r.s.setErr(nil)
	if resp, msg := post(t, r.url+PushPath, "application/json", "", "", []byte(sampleJSON)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after the pipeline drains: HTTP %d %s", resp.StatusCode, msg)
	}
}

// TestMemoryLimit: a push is charged before it is decoded; while the
// limit is taken it is answered 503 with Retry-After, and one that could
// never fit 413.
func TestMemoryLimit(t *testing.T) {
	mem := memlimit.New(4<<20, nil)
	r := startReceiver(t, nil, mem)
	most := mem.MaxRequestSize(DefaultMaxRequestBodySize)
	hold, err := mem.Admit(mem.Capacity())
	if err != nil {
		t.Fatal(err)
	}
	resp, msg := post(t, r.url+PushPath, "application/json", "", "", []byte(sampleJSON))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("at the limit: HTTP %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), msg)
	}
	if n := promtest.ToFloat64(r.tel.ReceiverBadRequests.WithLabelValues("loki/test", "logs", "http", reasonMemoryLimit)); n != 1 {
		t.Fatalf("memory_limit refusals %v", n)
	}
	hold.Release()
	resp, msg = post(t, r.url+PushPath, "application/json", "", "", []byte(sampleJSON))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("after release: HTTP %d %s", resp.StatusCode, msg)
	}
	// A snappy body small on the wire that decodes past what the limit
	// lets one request hold.
	big := protoBody(t, push.PushRequest{Streams: []push.Stream{{Labels: `{a="b"}`, Entries: []push.Entry{{Timestamp: t0, Line: strings.Repeat("x", int(most))}}}}})
	resp, msg = post(t, r.url+PushPath, "application/x-protobuf", "", "", big)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large for the limit: HTTP %d %s", resp.StatusCode, msg)
	}
	if n := mem.InFlight(); n != 0 {
		t.Fatalf("%d bytes still charged", n)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.Protocols.HTTP.Endpoint = "127.0.0.1:0"
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("loki")}, cfg, pipeline.Consumers{Logs: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(context.Background(), &testHost{}); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}
