package otlpreceiver

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testHost hands out listeners as the running graph does.
type testHost struct {
	listeners pipeline.Listeners
}

func (h *testHost) Listen(network, address string) (net.Listener, error) {
	return h.listeners.Listen(network, address)
}

// sink records what it is given and answers with err (under mu, so tests
// can change it between requests).
type sink struct {
	mu    sync.Mutex
	err   error
	items map[pipeline.Signal]int
	calls map[pipeline.Signal]int
	// block, when set, is waited on before answering; entered is signalled
	// first.
	block   chan struct{}
	entered chan struct{}
}

func newSink() *sink {
	return &sink{items: map[pipeline.Signal]int{}, calls: map[pipeline.Signal]int{}}
}

func (s *sink) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *sink) consume(sig pipeline.Signal, n int) error {
	s.mu.Lock()
	block, entered := s.block, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if block != nil {
		<-block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[sig]++
	if s.err == nil {
		s.items[sig] += n
	}
	return s.err
}

func (s *sink) got(sig pipeline.Signal) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[sig]
}

func (s *sink) consumers(t testing.TB, signals ...pipeline.Signal) pipeline.Consumers {
	t.Helper()
	var next pipeline.Consumers
	for _, sig := range signals {
		var err error
		switch sig {
		case pipeline.SignalTraces:
			next.Traces, err = consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
				return s.consume(sig, td.SpanCount())
			})
		case pipeline.SignalMetrics:
			next.Metrics, err = consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
				return s.consume(sig, md.DataPointCount())
			})
		case pipeline.SignalLogs:
			next.Logs, err = consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
				return s.consume(sig, ld.LogRecordCount())
			})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return next
}

// testReceiver is a started receiver on ephemeral ports.
type testReceiver struct {
	*receiver
	tel      *selftelemetry.Metrics
	grpcAddr string
	httpAddr string
}

func bothProtocols() *Config {
	cfg := createDefaultConfig()
	cfg.Protocols.GRPC = &GRPCConfig{}
	cfg.Protocols.GRPC.SetDefaults()
	cfg.Protocols.GRPC.Endpoint = "127.0.0.1:0"
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.Protocols.HTTP.Endpoint = "127.0.0.1:0"
	return cfg
}

// startReceiver creates and starts a receiver, shut down when the test ends.
func startReceiver(t testing.TB, cfg *Config, next pipeline.Consumers) *testReceiver {
	t.Helper()
	return startReceiverSettings(t, cfg, next, pipeline.Settings{})
}

// startReceiverSettings is startReceiver with settings (ID and Telemetry
// are set here).
func startReceiverSettings(t testing.TB, cfg *Config, next pipeline.Consumers, set pipeline.Settings) *testReceiver {
	t.Helper()
	tel := selftelemetry.New()
	set.ID, set.Telemetry = pipeline.MustID("otlp/test"), tel
	comp, err := NewFactory().Create(context.Background(), set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	r := comp.(*receiver)
	if err := r.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Tests of the deadline have had theirs already.
		if err := r.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("shutdown: %v", err)
		}
	})
	tr := &testReceiver{receiver: r, tel: tel}
	g, h := r.addrs()
	if g != nil {
		tr.grpcAddr = g.String()
	}
	if h != nil {
		tr.httpAddr = h.String()
	}
	return tr
}

func (tr *testReceiver) accepted(sig pipeline.Signal, transport string) float64 {
	return testutil.ToFloat64(tr.tel.ReceiverAccepted.WithLabelValues("otlp/test", string(sig), transport))
}

func (tr *testReceiver) refused(sig pipeline.Signal, transport, reason string) float64 {
	return testutil.ToFloat64(tr.tel.ReceiverRefused.WithLabelValues("otlp/test", string(sig), transport, reason))
}

func (tr *testReceiver) badRequests(sig pipeline.Signal, transport, reason string) float64 {
	return testutil.ToFloat64(tr.tel.ReceiverBadRequests.WithLabelValues("otlp/test", string(sig), transport, reason))
}

// Test data: n items of each signal.

func makeTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "edge-node-17")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/outpost-edge/test")
	now := time.Unix(1_700_000_000, 0)
	for i := range n {
		s := ss.Spans().AppendEmpty()
		s.SetName("GET /api/orders")
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(42 * time.Millisecond)))
		s.Attributes().PutStr("http.request.method", "GET")
		s.Attributes().PutInt("http.response.status_code", 200)
		s.Attributes().PutStr("url.path", "/api/orders")
		s.Status().SetCode(ptrace.StatusCodeOk)
	}
	return td
}

func makeMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.server.request.count")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range n {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetIntValue(int64(i))
		dp.Attributes().PutInt("shard", int64(i))
	}
	return md
}

func makeLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("order placed")
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Attributes().PutInt("order", int64(i))
	}
	return ld
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

func deflateBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
