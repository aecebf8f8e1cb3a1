package prometheusremotewriteexporter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

const testID = "prometheusremotewrite/test"

// rwServer is a remote-write endpoint that decodes what it gets and
// answers what the test says.
type rwServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []*prompb.WriteRequest
	headers []http.Header
	answers []func(w http.ResponseWriter) // one per request, then 204
}

func startServer(t *testing.T, answers ...func(w http.ResponseWriter)) *rwServer {
	s := &rwServer{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		var answer func(http.ResponseWriter)
		if len(s.answers) > 0 {
			answer, s.answers = s.answers[0], s.answers[1:]
		}
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			http.Error(w, "snappy: "+err.Error(), http.StatusBadRequest)
			return
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, &req)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rwServer) requests() []*prompb.WriteRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*prompb.WriteRequest(nil), s.reqs...)
}

func answer(status int, body string, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func testConfig(url string, mod func(*Config)) *Config {
	c := createDefaultConfig()
	c.Endpoint = url
	c.RetryOnFailure = sender.RetryConfig{
		Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
		MaxElapsedTime: 5 * time.Second, Multiplier: 2,
	}
	c.Queue.Enabled = false
	if mod != nil {
		mod(c)
	}
	return c
}

// testSettings are the settings of a test exporter: no logger, fresh
// telemetry.
func testSettings() pipeline.Settings {
	return pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: selftelemetry.New()}
}

func startExporter(t *testing.T, c *Config, dir string) (*exporter, *selftelemetry.Metrics) {
	t.Helper()
	set := testSettings()
	set.StorageDir = dir
	return startWithSettings(t, c, set), set.Telemetry
}

// startWithSettings creates and starts an exporter and shuts it down at
// the end of the test.
func startWithSettings(t *testing.T, c *Config, set pipeline.Settings) *exporter {
	t.Helper()
	comp, err := NewFactory().Create(context.Background(), set, c)
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

func failed(t *testing.T, tel *selftelemetry.Metrics, reason string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "outpost_exporter_failed_items_total" {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want := map[string]string{"exporter": testID, "signal": "metrics", "reason": reason}[lp.GetName()]; lp.GetValue() != want {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func sampleMetrics(n int) pmetric.Metrics {
	md, ms := metrics("service.name", "api", "host.name", "edge-1")
	s := sumMetric(ms, "requests", "", true, pmetric.AggregationTemporalityCumulative)
	for i := range n {
		dp := s.DataPoints().AppendEmpty()
		dp.SetTimestamp(nanos(t0 + int64(i)*1000))
		dp.SetIntValue(int64(i))
	}
	return md
}

func TestWireFormat(t *testing.T) {
	srv := startServer(t)
	e, _ := startExporter(t, testConfig(srv.URL+"/api/v1/write", func(c *Config) {
		c.Headers = map[string]string{"X-Scope-OrgID": "tenant-1"}
	}), "")
	if err := e.ConsumeMetrics(context.Background(), sampleMetrics(3)); err != nil {
		t.Fatal(err)
	}
	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	h := srv.headers[0]
	for k, want := range map[string]string{
		"Content-Encoding":                  "snappy",
		"Content-Type":                      "application/x-protobuf",
		"X-Prometheus-Remote-Write-Version": "0.1.0",
		"User-Agent":                        "outpost",
		"X-Scope-Orgid":                     "tenant-1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if n := len(reqs[0].Timeseries); n != 2 {
		t.Fatalf("%d series, want requests_total and target_info", n)
	}
	if got := len(reqs[0].Timeseries[0].Samples); got != 3 {
		t.Errorf("%d samples, want 3", got)
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answers   []func(http.ResponseWriter)
		delivered bool
		reason    string
		permanent bool
	}{
		{name: "5xx retried", answers: []func(http.ResponseWriter){answer(500, "boom"), answer(503, "down")}, delivered: true},
		{name: "429 retried after Retry-After", answers: []func(http.ResponseWriter){answer(429, "slow down", "Retry-After", "1")}, delivered: true},
		{name: "400 out of order is permanent, counted by reason",
			answers: []func(http.ResponseWriter){answer(400, "out of order sample for series {__name__=\"x\"}\n")},
			reason:  ReasonOutOfOrder, permanent: true},
		{name: "400 out of bounds", answers: []func(http.ResponseWriter){answer(400, "out of bounds")}, reason: ReasonOutOfBounds, permanent: true},
		{name: "400 duplicate", answers: []func(http.ResponseWriter){answer(400, "duplicate sample for timestamp")}, reason: ReasonDuplicateSample, permanent: true},
		{name: "400 too old", answers: []func(http.ResponseWriter){answer(400, "too old sample")}, reason: ReasonTooOld, permanent: true},
		{name: "401 and 404 retried (endpoint errors keep the data)", answers: []func(http.ResponseWriter){answer(401, "no token"), answer(404, "no route")}, delivered: true},
		{name: "422 permanent", answers: []func(http.ResponseWriter){answer(422, "unprocessable")}, reason: sender.ReasonPermanent, permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.answers...)
			e, tel := startExporter(t, testConfig(srv.URL, nil), "")
			start := time.Now()
			err := e.ConsumeMetrics(context.Background(), sampleMetrics(4))
			if tc.delivered {
				if err != nil {
					t.Fatal(err)
				}
				if len(srv.requests()) != 1 {
					t.Fatal("not delivered")
				}
				if strings.Contains(tc.name, "Retry-After") && time.Since(start) < 900*time.Millisecond {
					t.Errorf("retried after %s, before Retry-After", time.Since(start))
				}
				return
			}
			if consumererror.IsPermanent(err) != tc.permanent {
				t.Fatalf("permanent = %v: %v", consumererror.IsPermanent(err), err)
			}
			if got := failed(t, tel, tc.reason); got != 4 {
				t.Errorf("failed{reason=%s} = %v, want 4", tc.reason, got)
			}
			if !strings.Contains(err.Error(), "HTTP 4") {
				t.Errorf("error does not quote the status: %v", err)
			}
		})
	}
}

// TestDroppedPointsArePartial: delta points are counted and reported as
// a partial success; the rest is delivered.
func TestDroppedPointsArePartial(t *testing.T) {
	srv := startServer(t)
	e, tel := startExporter(t, testConfig(srv.URL, nil), "")
	md := sampleMetrics(2)
	d := sumMetric(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "delta", "", true, pmetric.AggregationTemporalityDelta)
	for range 3 {
		d.DataPoints().AppendEmpty().SetTimestamp(nanos(t0))
	}
	err := e.ConsumeMetrics(context.Background(), md)
	var pe *pipeline.PartialError
	if !errors.As(err, &pe) || pe.Rejected != 3 || !consumererror.IsPermanent(err) {
		t.Fatalf("want a permanent PartialError of 3, got %v", err)
	}
	if !strings.Contains(err.Error(), "3 delta_temporality") {
		t.Errorf("error does not say why: %v", err)
	}
	if got := failed(t, tel, ReasonDelta); got != 3 {
		t.Errorf("failed{delta_temporality} = %v", got)
	}
	if len(srv.requests()) != 1 {
		t.Error("the cumulative points were not sent")
	}
}

// TestLanesAndTargetInfo: with a queue and priority rules, each lane gets
// its own request and target_info travels with the default lane only.
func TestLanesAndTargetInfo(t *testing.T) {
	srv := startServer(t)
	e, _ := startExporter(t, testConfig(srv.URL, func(c *Config) {
		c.Queue.Enabled = true
		c.Priority = lanes.Config{Rules: []lanes.Rule{{Lane: "high", MetricName: `slo\..*`}}}
	}), t.TempDir())
	md := sampleMetrics(2)
	gauge(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), "slo.errors", "", t0+5000, 1)
	if err := e.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.requests()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 (one per lane)", len(reqs))
	}
	names := func(r *prompb.WriteRequest) []string {
		var out []string
		for _, s := range r.Timeseries {
			out = append(out, s.Labels[0].Value)
		}
		return out
	}
	if got := strings.Join(names(reqs[0]), ","); got != "slo_errors" {
		t.Errorf("high lane first: %s", got)
	}
	if got := strings.Join(names(reqs[1]), ","); got != "target_info,requests_total" {
		t.Errorf("normal lane: %s", got)
	}
	// target_info is at the latest timestamp of the whole batch.
	if ts := reqs[1].Timeseries[0].Samples[0].Timestamp; ts != t0+5000 {
		t.Errorf("target_info at %d, want %d", ts, t0+5000)
	}
}

func TestStoredRequestOfAnotherEncoding(t *testing.T) {
	cl := newClient(testConfig("http://127.0.0.1:1", nil), nil, nil)
	err := cl.send(context.Background(), sender.Request{Encoding: sender.EncodingProto, Compression: "gzip"})
	if !consumererror.IsPermanent(err) {
		t.Fatalf("want permanent, got %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"valid", func(*Config) {}, nil},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, []string{"endpoint: required"}},
		{"bad endpoint", func(c *Config) { c.Endpoint = "prom:9090" }, []string{"endpoint: want an http://"}},
		{"bad strategy", func(c *Config) { c.TranslationStrategy = "Escape" }, []string{"translation_strategy: want"}},
		{"reserved header", func(c *Config) { c.Headers = map[string]string{"Content-Encoding": "gzip"} }, []string{"headers.Content-Encoding: set by the exporter"}},
		{"bad external label", func(c *Config) { c.ExternalLabels = map[string]string{"__x": "1", "ok": ""} }, []string{"external_labels.__x: invalid", "external_labels.ok: empty"}},
		{"both promotions", func(c *Config) { c.ResourceToTelemetryConversion = true; c.PromoteResourceAttributes = []string{"a"} }, []string{"promote_resource_attributes: set together"}},
		{"bad namespace", func(c *Config) { c.Namespace = "1x-" }, []string{"namespace:"}},
		{"timeout and queue", func(c *Config) { c.Timeout = 0; c.Queue.Kind = "tape" }, []string{"timeout: must be positive", "queue.kind:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig()
			c.Endpoint = "http://prom:9090/api/v1/write"
			tc.mod(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}
