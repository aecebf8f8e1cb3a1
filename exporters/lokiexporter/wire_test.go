package lokiexporter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

const testID = "loki/test"

// received is one request as the fake Loki decoded it.
type received struct {
	header http.Header
	req    push.PushRequest
}

// answer is what the fake Loki replies to one request.
type answer struct {
	status     int
	retryAfter string
	body       string
}

// fakeLoki is Loki's push endpoint built on the official wire package: it
// decodes snappy + push.PushRequest exactly as Loki does, records what it
// got, and answers from a script (then 204, as Loki does).
type fakeLoki struct {
	*httptest.Server
	mu       sync.Mutex
	reqs     []received
	attempts int
	script   []answer
	down     bool // answer 503 to everything
}

func startFakeLoki(t testing.TB) *fakeLoki {
	t.Helper()
	f := &fakeLoki{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLoki) url() string { return f.URL + "/loki/api/v1/push" }

func (f *fakeLoki) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if r.Method != http.MethodPost || r.URL.Path != "/loki/api/v1/push" {
		http.Error(w, "wrong method or path "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if f.down {
		http.Error(w, "ingester unavailable", http.StatusServiceUnavailable)
		return
	}
	if len(f.script) > 0 {
		a := f.script[0]
		f.script = f.script[1:]
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		http.Error(w, a.body, a.status)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := decodeBody(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.reqs = append(f.reqs, received{header: r.Header.Clone(), req: req})
	w.WriteHeader(http.StatusNoContent)
}

// decodeBody reads a push body the way Loki's distributor does for
// Content-Type application/x-protobuf: snappy block format, then protobuf.
func decodeBody(body []byte) (push.PushRequest, error) {
	var req push.PushRequest
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return req, fmt.Errorf("snappy: %w", err)
	}
	if err := req.Unmarshal(raw); err != nil {
		return req, fmt.Errorf("push request: %w", err)
	}
	return req, nil
}

func (f *fakeLoki) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

func (f *fakeLoki) entries() int {
	n := 0
	for _, r := range f.received() {
		for _, s := range r.req.Streams {
			n += len(s.Entries)
		}
	}
	return n
}

func (f *fakeLoki) attemptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

func (f *fakeLoki) set(fn func(*fakeLoki)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// testRetry retries quickly: 10ms, 20ms, 40ms, 50ms... for at most 5s.
func testRetry() sender.RetryConfig {
	return sender.RetryConfig{
		Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
		MaxElapsedTime: 5 * time.Second, Multiplier: 2, RandomizationFactor: 0,
	}
}

// startExporter creates and starts an exporter; it is shut down when the
// test ends.
func startExporter(t testing.TB, cfg *Config, dir string, tel *selftelemetry.Metrics) *exporter {
	t.Helper()
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel, StorageDir: dir}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return c.(*exporter)
}

func wireConfig(url string, mod func(*Config)) *Config {
	return cfgWith(func(c *Config) {
		c.Endpoint = url
		c.RetryOnFailure = testRetry()
		c.Queue.Enabled = false
		if mod != nil {
			mod(c)
		}
	})
}

// wireLogs is two services' worth of records, out of time order, with
// trace ids, attributes and a map body.
func wireLogs() plog.Logs {
	ld := plog.NewLogs()
	for _, svc := range []string{"payments", "cart"} {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		rl.Resource().Attributes().PutStr("node.name", "edge-1")
		rl.Resource().Attributes().PutStr("node.site", "plant-9")
		rl.Resource().Attributes().PutStr("host.arch", "arm64")
		sl := rl.ScopeLogs().AppendEmpty()
		for i, sev := range []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberError, plog.SeverityNumberInfo} {
			r := sl.LogRecords().AppendEmpty()
			r.SetTimestamp(ts(time.Duration(3-i) * time.Millisecond))
			r.SetSeverityNumber(sev)
			r.SetTraceID(traceID)
			r.SetSpanID(spanID)
			r.Attributes().PutInt("seq", int64(i))
			if i == 1 {
				r.Body().SetEmptyMap().PutStr("msg", svc+" failed")
			} else {
				r.Body().SetStr(fmt.Sprintf("%s line %d", svc, i))
			}
		}
	}
	return ld
}

// TestWire checks every byte that matters on the wire against a server
// that decodes with Loki's own package: headers, compression, stream
// labels, structured metadata, ordering.
func TestWire(t *testing.T) {
	loki := startFakeLoki(t)
	tel := selftelemetry.New()
	e := startExporter(t, wireConfig(loki.url(), func(c *Config) {
		c.Tenant = "factory-7"
		c.Headers = map[string]string{"X-Extra": "yes"}
	}), "", tel)
	if err := e.ConsumeLogs(context.Background(), wireLogs()); err != nil {
		t.Fatal(err)
	}
	got := loki.received()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	h := got[0].header
	for k, want := range map[string]string{
		"Content-Type":     "application/x-protobuf",
		"Content-Encoding": "snappy",
		"X-Scope-Orgid":    "factory-7",
		"User-Agent":       "outpost",
		"X-Extra":          "yes",
	} {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	meta := func(seq string) push.LabelsAdapter {
		sev := "9"
		if seq == "1" {
			sev = "17"
		}
		return md("trace_id", traceHex, "span_id", spanHex, "severity_number", sev, "seq", seq, "host_arch", "arm64")
	}
	stream := func(svc, level string, entries ...push.Entry) push.Stream {
		return push.Stream{Labels: fmt.Sprintf(`{level=%q, node="edge-1", service_name=%q, site="plant-9"}`, level, svc), Entries: entries}
	}
	want := push.PushRequest{Streams: []push.Stream{
		// Sorted by the label string, whose first label is level.
		stream("cart", "error", push.Entry{Timestamp: at(2 * time.Millisecond), Line: `{"msg":"cart failed"}`, StructuredMetadata: meta("1")}),
		stream("payments", "error", push.Entry{Timestamp: at(2 * time.Millisecond), Line: `{"msg":"payments failed"}`, StructuredMetadata: meta("1")}),
		stream("cart", "info",
			push.Entry{Timestamp: at(1 * time.Millisecond), Line: "cart line 2", StructuredMetadata: meta("2")},
			push.Entry{Timestamp: at(3 * time.Millisecond), Line: "cart line 0", StructuredMetadata: meta("0")}),
		stream("payments", "info",
			push.Entry{Timestamp: at(1 * time.Millisecond), Line: "payments line 2", StructuredMetadata: meta("2")},
			push.Entry{Timestamp: at(3 * time.Millisecond), Line: "payments line 0", StructuredMetadata: meta("0")}),
	}}
	if !reflect.DeepEqual(got[0].req, want) {
		t.Errorf("on the wire\n%s\nwant\n%s", dump(got[0].req), dump(want))
	}
	if n := promtest.ToFloat64(tel.ExporterSent.WithLabelValues(testID, "logs")); n != 6 {
		t.Errorf("sent items %v, want 6", n)
	}
}

// TestOutcomes: 429 waits for Retry-After, 5xx is retried, 400 is
// permanent with Loki's message and never retried.
func TestOutcomes(t *testing.T) {
	loki := startFakeLoki(t)
	tel := selftelemetry.New()
	e := startExporter(t, wireConfig(loki.url(), nil), "", tel)
	ctx := context.Background()

	t.Run("429 honours Retry-After", func(t *testing.T) {
		loki.set(func(f *fakeLoki) {
			f.attempts = 0
			f.script = []answer{{status: 429, retryAfter: "1", body: "Ingestion rate limit exceeded for user fake"}}
		})
		start := time.Now()
		if err := e.ConsumeLogs(ctx, wireLogs()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("delivered after %s, before the 1s Retry-After", d)
		}
		if loki.attemptCount() != 2 {
			t.Errorf("%d attempts, want 2", loki.attemptCount())
		}
	})
	t.Run("5xx retried", func(t *testing.T) {
		loki.set(func(f *fakeLoki) {
			f.attempts = 0
			f.script = []answer{{status: 500, body: "rpc error"}, {status: 502, body: "bad gateway"}, {status: 503, body: "no ingester"}}
		})
		if err := e.ConsumeLogs(ctx, wireLogs()); err != nil {
			t.Fatal(err)
		}
		if loki.attemptCount() != 4 {
			t.Errorf("%d attempts, want 4", loki.attemptCount())
		}
	})
	t.Run("400 permanent", func(t *testing.T) {
		msg := "entry with timestamp 2026-03-01 12:00:00 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2026-03-01T12:00:00Z'"
		loki.set(func(f *fakeLoki) {
			f.attempts = 0
			f.script = []answer{{status: 400, body: msg}}
		})
		err := e.ConsumeLogs(ctx, wireLogs())
		if err == nil || !consumererror.IsPermanent(err) {
			t.Fatalf("error %v, want permanent", err)
		}
		if !strings.Contains(err.Error(), "HTTP 400: "+msg) {
			t.Errorf("error %q lacks Loki's message", err)
		}
		if loki.attemptCount() != 1 {
			t.Errorf("%d attempts, want 1", loki.attemptCount())
		}
		if n := promtest.ToFloat64(tel.ExporterFailed.WithLabelValues(testID, "logs", sender.ReasonPermanent)); n != 6 {
			t.Errorf("failed{permanent} %v, want 6", n)
		}
	})
	if n := promtest.ToFloat64(tel.ExporterSent.WithLabelValues(testID, "logs")); n != 12 {
		t.Errorf("sent items %v, want 12", n)
	}
	if n := loki.entries(); n != 12 {
		t.Errorf("Loki holds %d entries, want 12", n)
	}
}

func TestHTTPError(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		status    int
		retry     string
		permanent bool
		throttle  bool
		wait      time.Duration
	}{
		{429, "", false, true, 0},
		{429, "7", false, true, 7 * time.Second},
		{429, "Thu, 01 Jan 2026 00:00:30 GMT", false, true, 30 * time.Second},
		{500, "", false, false, 0},
		{503, "2", false, true, 2 * time.Second},
		{400, "5", true, false, 0},
		{401, "", false, false, 0}, // blocked: credentials, data kept
		{404, "", false, false, 0}, // blocked: route
		{403, "4", false, true, 4 * time.Second},
		{413, "", true, false, 0}, // too large: split by the Sender
		{422, "", true, false, 0},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		resp.Header.Set("Retry-After", tc.retry)
		err := httpError("u", resp, []byte("  why\n\tnot \xff "), now)
		wait, throttle := pipeline.IsThrottle(err)
		if consumererror.IsPermanent(err) != tc.permanent || throttle != tc.throttle || wait != tc.wait {
			t.Errorf("%d %q: %v (permanent %v, throttle %v %s)", tc.status, tc.retry, err, consumererror.IsPermanent(err), throttle, wait)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d: why not ?", tc.status)) {
			t.Errorf("message %q", err)
		}
	}
}

// TestQueuedDelivery: with the default disk queue, batches are stored
// while Loki is down, survive a restart of the exporter, and arrive once
// it is back, high lane (errors) first; each record went in the queue
// already in its wire form.
func TestQueuedDelivery(t *testing.T) {
	loki := startFakeLoki(t)
	loki.set(func(f *fakeLoki) { f.down = true })
	cfg := wireConfig(loki.url(), func(c *Config) {
		c.Queue = sender.DefaultQueueConfig()
		c.Priority = lanes.Config{Rules: []lanes.Rule{{Lane: "high", LogSeverityAtLeast: "ERROR"}}}
	})
	dir := t.TempDir()
	tel := selftelemetry.New()
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel, StorageDir: dir}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := c.(*exporter).ConsumeLogs(context.Background(), wireLogs()); err != nil {
			t.Fatalf("the queue should take it: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	loki.set(func(f *fakeLoki) { f.down = false })
	startExporter(t, cfg, dir, tel)
	deadline := time.Now().Add(10 * time.Second)
	for loki.entries() < 30 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := loki.received()
	t.Logf("10 queued records (5 high, 5 normal) delivered in %d requests", len(got))
	// The senders merge each lane's five records: at least one request
	// per lane, at most one per record.
	if loki.entries() != 30 || len(got) < 2 || len(got) > 10 {
		t.Fatalf("Loki got %d entries in %d requests, want 30 in 2 to 10", loki.entries(), len(got))
	}
	// The high-lane bodies (only error streams) go first, never mixed
	// with the normal lane's.
	normal := false
	for i, r := range got {
		high := true
		for _, s := range r.req.Streams {
			high = high && strings.Contains(s.Labels, `level="error"`)
		}
		if high && normal {
			t.Errorf("request %d: streams %v (want errors first)", i, r.req.Streams)
		}
		normal = normal || !high
	}
}
