package otlpexporter

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testRetry retries quickly and deterministically: 10ms, 20ms, 40ms, 50ms...
// for at most 5s.
func testRetry() sender.RetryConfig {
	return sender.RetryConfig{
		Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond,
		MaxElapsedTime: 5 * time.Second, Multiplier: 2, RandomizationFactor: 0,
	}
}

const testID = "otlp/test"

// startExporter creates and starts an exporter from cfg (a *Config or
// *HTTPConfig) and shuts it down at the end of the test.
func startExporter(t testing.TB, cfg pipeline.Config) (*exporter, *selftelemetry.Metrics) {
	t.Helper()
	tel := selftelemetry.New()
	set := pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel}
	f := NewFactory()
	if _, ok := cfg.(*HTTPConfig); ok {
		f = NewHTTPFactory()
	}
	c, err := f.Create(context.Background(), set, cfg)
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
	return c.(*exporter), tel
}

func grpcConfig(endpoint string, mod func(*Config)) *Config {
	c := createDefaultConfig()
	c.Endpoint = endpoint
	c.TLS.Insecure = true
	c.RetryOnFailure = testRetry()
	// These tests watch one request's attempts from the caller's side; the
	// queued path has tests of its own (queue_test.go).
	c.Queue.Enabled = false
	if mod != nil {
		mod(c)
	}
	return c
}

func httpConfig(endpoint string, mod func(*HTTPConfig)) *HTTPConfig {
	c := createDefaultHTTPConfig()
	c.Endpoint = endpoint
	c.RetryOnFailure = testRetry()
	c.Queue.Enabled = false
	if mod != nil {
		mod(c)
	}
	return c
}

// metric returns the counter (or histogram sample count) name{exporter=testID,
// signal=sig[, reason]}.
func metric(t testing.TB, tel *selftelemetry.Metrics, name string, sig pipeline.Signal, reason string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				want := map[string]string{"exporter": testID, "signal": string(sig), "reason": reason}[lp.GetName()]
				if lp.GetValue() != want {
					continue next
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// testTraces makes n spans over two resources, with attributes, events and
// links, so a round trip exercises most of the encoding.
func testTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutInt("replica", int64(r))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("outpost.test")
		ss.Scope().SetVersion("1.0")
		for i := r; i < n; i += 2 {
			sp := ss.Spans().AppendEmpty()
			sp.SetName("GET /api/orders")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetTraceID(pcommon.TraceID{1, 2, 3, byte(i), byte(i >> 8)})
			sp.SetSpanID(pcommon.SpanID{4, 5, byte(i), byte(i >> 8)})
			sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i*1000))
			sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i*1000 + 5_000_000))
			sp.Attributes().PutStr("http.method", "GET")
			sp.Attributes().PutInt("http.status_code", 200)
			sp.Attributes().PutStr("http.url", "https://shop.example/api/orders?id=12345")
			sp.Attributes().PutEmptyBytes("blob").FromRaw([]byte{0, 1, 2})
			if i%10 == 0 {
				ev := sp.Events().AppendEmpty()
				ev.SetName("retry")
				ev.Attributes().PutDouble("backoff", 1.5)
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("upstream timeout")
			}
		}
	}
	return td
}

// testMetrics makes n data points: gauges, sums and histograms.
func testMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	sm := rm.ScopeMetrics().AppendEmpty()
	g := sm.Metrics().AppendEmpty()
	g.SetName("queue.depth")
	gauge := g.SetEmptyGauge()
	s := sm.Metrics().AppendEmpty()
	s.SetName("requests")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	h := sm.Metrics().AppendEmpty()
	h.SetName("latency")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i := range n {
		switch i % 3 {
		case 0:
			dp := gauge.DataPoints().AppendEmpty()
			dp.SetDoubleValue(float64(i) / 3)
			dp.Attributes().PutStr("queue", "a")
			dp.SetTimestamp(pcommon.Timestamp(i))
		case 1:
			dp := sum.DataPoints().AppendEmpty()
			dp.SetIntValue(int64(i))
			dp.Attributes().PutStr("route", "/x")
		default:
			dp := hist.DataPoints().AppendEmpty()
			dp.SetCount(3)
			dp.SetSum(1.25)
			dp.ExplicitBounds().FromRaw([]float64{0.1, 1})
			dp.BucketCounts().FromRaw([]uint64{1, 1, 1})
		}
	}
	return md
}

// testLogs makes n log records.
func testLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("order placed")
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		lr.SetTimestamp(pcommon.Timestamp(i))
		lr.Attributes().PutInt("order.id", int64(i))
		lr.SetTraceID(pcommon.TraceID{9, byte(i)})
	}
	return ld
}

// sameProto fails the test unless a and b encode to the same protobuf.
func sameProto(t testing.TB, what string, a, b []byte, aJSON, bJSON func() []byte) {
	t.Helper()
	if !bytes.Equal(a, b) {
		ja, jb := aJSON(), bJSON()
		t.Fatalf("%s differ after the round trip:\nsent     %.2000s\nreceived %.2000s", what, ja, jb)
	}
}

func equalTraces(t testing.TB, want, got ptrace.Traces) {
	t.Helper()
	var pm ptrace.ProtoMarshaler
	var jm ptrace.JSONMarshaler
	a, _ := pm.MarshalTraces(want)
	b, _ := pm.MarshalTraces(got)
	sameProto(t, "traces", a, b,
		func() []byte { j, _ := jm.MarshalTraces(want); return j },
		func() []byte { j, _ := jm.MarshalTraces(got); return j })
}

func equalMetrics(t testing.TB, want, got pmetric.Metrics) {
	t.Helper()
	var pm pmetric.ProtoMarshaler
	var jm pmetric.JSONMarshaler
	a, _ := pm.MarshalMetrics(want)
	b, _ := pm.MarshalMetrics(got)
	sameProto(t, "metrics", a, b,
		func() []byte { j, _ := jm.MarshalMetrics(want); return j },
		func() []byte { j, _ := jm.MarshalMetrics(got); return j })
}

func equalLogs(t testing.TB, want, got plog.Logs) {
	t.Helper()
	var pm plog.ProtoMarshaler
	var jm plog.JSONMarshaler
	a, _ := pm.MarshalLogs(want)
	b, _ := pm.MarshalLogs(got)
	sameProto(t, "logs", a, b,
		func() []byte { j, _ := jm.MarshalLogs(want); return j },
		func() []byte { j, _ := jm.MarshalLogs(got); return j })
}
