package debugexporter

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// recordHandler keeps the records logged through it.
type recordHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
}

func newRecordHandler() recordHandler {
	return recordHandler{mu: &sync.Mutex{}, records: &[]slog.Record{}}
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r.Clone())
	return nil
}
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordHandler) WithGroup(string) slog.Handler      { return h }

func (h recordHandler) all() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), *h.records...)
}

func attrsOf(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// value reads a counter.
func value(c prometheus.Counter) float64 { return promtest.ToFloat64(c) }

type harness struct {
	exp *exporter
	tel *selftelemetry.Metrics
	log recordHandler
}

func newHarness(t *testing.T, cfg *Config, out *bytes.Buffer) *harness {
	t.Helper()
	h := &harness{tel: selftelemetry.New(), log: newRecordHandler()}
	set := pipeline.Settings{ID: pipeline.MustID("debug/test"), Logger: slog.New(h.log), Telemetry: h.tel}
	if out != nil {
		h.exp = newExporter(set, cfg, out)
	} else {
		h.exp = newExporter(set, cfg, nil)
	}
	return h
}

func (h *harness) sent(sig pipeline.Signal) float64 {
	return value(h.tel.ExporterSent.WithLabelValues("debug/test", string(sig)))
}

func testTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := 0; r < 2; r++ {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutInt("replica", int64(r))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("io.example.http")
		ss.Scope().SetVersion("1.2.0")
		for i := 0; i < 3; i++ {
			s := ss.Spans().AppendEmpty()
			s.SetName("GET /cart")
			s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
			s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
			s.SetKind(ptrace.SpanKindServer)
			s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
			s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_012_000_000))
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("boom")
			s.Attributes().PutStr("http.method", "GET")
			s.Attributes().PutInt("http.status_code", 500)
			ev := s.Events().AppendEmpty()
			ev.SetName("exception")
			ev.Attributes().PutStr("exception.message", "out of stock")
			ln := s.Links().AppendEmpty()
			ln.SetTraceID(pcommon.TraceID{9})
		}
	}
	return td
}

func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("io.example.meter")

	g := sm.Metrics().AppendEmpty()
	g.SetName("queue.depth")
	g.SetUnit("{item}")
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(42)

	s := sm.Metrics().AppendEmpty()
	s.SetName("requests")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetDoubleValue(1.5)
	dp.Attributes().PutStr("route", "/cart")
	ex := dp.Exemplars().AppendEmpty()
	ex.SetIntValue(7)

	h := sm.Metrics().AppendEmpty()
	h.SetName("latency")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetCount(3)
	hdp.SetSum(12.5)
	hdp.ExplicitBounds().FromRaw([]float64{5, 10})
	hdp.BucketCounts().FromRaw([]uint64{1, 1, 1})

	e := sm.Metrics().AppendEmpty()
	e.SetName("latency.exp")
	edp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	edp.SetScale(2)
	edp.SetCount(4)
	edp.Positive().SetOffset(1)
	edp.Positive().BucketCounts().FromRaw([]uint64{1, 3})

	q := sm.Metrics().AppendEmpty()
	q.SetName("rpc.summary")
	qdp := q.SetEmptySummary().DataPoints().AppendEmpty()
	qdp.SetCount(10)
	qv := qdp.QuantileValues().AppendEmpty()
	qv.SetQuantile(0.99)
	qv.SetValue(250)
	return md
}

func testLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("io.example.log")
	for i := 0; i < 4; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberError)
		lr.SetSeverityText("ERROR")
		lr.Body().SetStr("payment failed\nretrying")
		lr.Attributes().PutStr("order.id", "A-17")
		lr.SetTraceID(pcommon.TraceID{1})
	}
	return ld
}

func consumeAll(t *testing.T, e *exporter) {
	t.Helper()
	ctx := context.Background()
	if err := e.ConsumeTraces(ctx, testTraces()); err != nil {
		t.Fatal(err)
	}
	if err := e.ConsumeMetrics(ctx, testMetrics()); err != nil {
		t.Fatal(err)
	}
	if err := e.ConsumeLogs(ctx, testLogs()); err != nil {
		t.Fatal(err)
	}
}

func TestBasicLogsOneRecordPerBatch(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.SamplingThereafter = 1
	h := newHarness(t, cfg, nil)
	consumeAll(t, h.exp)

	recs := h.log.all()
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3", len(recs))
	}
	f := func(i int, msg string, want map[string]string) {
		t.Helper()
		r := recs[i]
		if r.Message != msg || r.Level != slog.LevelInfo {
			t.Errorf("record %d: %s %q, want INFO %q", i, r.Level, r.Message, msg)
		}
		got := attrsOf(r)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("record %d: %s=%q, want %q", i, k, got[k], v)
			}
		}
		if _, ok := got["data"]; ok {
			t.Errorf("record %d: basic verbosity has data", i)
		}
	}
	f(0, "Traces", map[string]string{"resource_spans": "2", "spans": "6"})
	f(1, "Metrics", map[string]string{"resource_metrics": "1", "metrics": "5", "data_points": "5"})
	f(2, "Logs", map[string]string{"resource_logs": "1", "log_records": "4"})

	for sig, want := range map[pipeline.Signal]float64{pipeline.SignalTraces: 6, pipeline.SignalMetrics: 5, pipeline.SignalLogs: 4} {
		if got := h.sent(sig); got != want {
			t.Errorf("sent %s = %v, want %v", sig, got, want)
		}
	}
}

func TestNormalOneLinePerResourceScope(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Verbosity = VerbosityNormal
	var out bytes.Buffer
	h := newHarness(t, cfg, &out)
	if err := h.exp.ConsumeTraces(context.Background(), testTraces()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 { // header + 2 resource/scope lines
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "Traces resource_spans=2 spans=6") {
		t.Errorf("header = %q", lines[0])
	}
	want := `resource #1 {service.name="checkout" replica=1} scope #0 io.example.http@1.2.0: 3 spans`
	if lines[2] != want {
		t.Errorf("line = %q\nwant   %q", lines[2], want)
	}
	if got, want := value(h.tel.ExporterSentBytes.WithLabelValues("debug/test", "traces")), float64(out.Len()); got != want {
		t.Errorf("sent bytes = %v, want %v", got, want)
	}

	out.Reset()
	if err := h.exp.ConsumeMetrics(context.Background(), testMetrics()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `scope #0 io.example.meter: 5 metrics, 5 data points: queue.depth, requests, latency, latency.exp, rpc.summary`) {
		t.Errorf("metrics summary:\n%s", out.String())
	}
}

func TestDetailed(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Verbosity = VerbosityDetailed
	h := newHarness(t, cfg, nil)
	consumeAll(t, h.exp)
	recs := h.log.all()
	if len(recs) != 3 {
		t.Fatalf("got %d records, want one per batch", len(recs))
	}
	f := func(i int, wants ...string) {
		t.Helper()
		data := attrsOf(recs[i])["data"]
		for _, w := range wants {
			if !strings.Contains(data, w) {
				t.Errorf("record %d lacks %q:\n%s", i, w, data)
			}
		}
	}
	f(0,
		`span #2 "GET /cart"`,
		"trace_id: 0102030405060708090a0b0c0d0e0f02",
		"kind: Server",
		"end: 2023-11-14T22:13:20.012Z (12ms)",
		`status: Error "boom"`,
		`attributes: {http.method="GET" http.status_code=500}`,
		`event #0 "exception"`,
		`attributes: {exception.message="out of stock"}`,
	)
	f(1,
		"metric #0 queue.depth", "unit: {item}", "value: 42",
		"type: Sum (Cumulative, monotonic=true)", "value: 1.5", "exemplar #0 value=7",
		"count: 3, sum: 12.5", "buckets: (-inf, 5]=1 (5, 10]=1 (10, +inf]=1",
		"scale: 2", "positive: offset=1 counts=[1 3]",
		"quantiles: p99=250",
	)
	f(2, "log record #3", "severity: ERROR (17)", `body: "payment failed\nretrying"`, `{order.id="A-17"}`)
}

// The exporter only reads: it must work on data a fan-out marked read-only.
func TestReadOnlyData(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Verbosity = VerbosityDetailed
	h := newHarness(t, cfg, nil)
	td, md, ld := testTraces(), testMetrics(), testLogs()
	td.MarkReadOnly()
	md.MarkReadOnly()
	ld.MarkReadOnly()
	ctx := context.Background()
	if err := errors.Join(h.exp.ConsumeTraces(ctx, td), h.exp.ConsumeMetrics(ctx, md), h.exp.ConsumeLogs(ctx, ld)); err != nil {
		t.Fatal(err)
	}
	if h.exp.Capabilities().MutatesData {
		t.Fatal("debug exporter claims to mutate data")
	}
}

func TestSampling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig()
		cfg.SamplingInitial = 2
		cfg.SamplingThereafter = 3
		h := newHarness(t, cfg, nil)
		ctx := context.Background()
		logged := func() int { return len(h.log.all()) }

		// Batches 1, 2, 5 and 8 of the second are written.
		for i := 0; i < 10; i++ {
			_ = h.exp.ConsumeLogs(ctx, testLogs())
		}
		if got := logged(); got != 4 {
			t.Fatalf("logged %d batches in the first second, want 4", got)
		}
		// Signals are sampled apart: traces still get their first two.
		_ = h.exp.ConsumeTraces(ctx, testTraces())
		if got := logged(); got != 5 {
			t.Fatalf("a traces batch was sampled out by logs: %d", got)
		}
		// A new second starts over.
		time.Sleep(time.Second)
		_ = h.exp.ConsumeLogs(ctx, testLogs())
		if got := logged(); got != 6 {
			t.Fatalf("logged %d, want the first batch of the next second too", got)
		}
		// Every item is counted, written or not.
		if got := h.sent(pipeline.SignalLogs); got != 11*4 {
			t.Fatalf("sent = %v, want %d", got, 11*4)
		}

		cfg.SamplingThereafter = 0
		h = newHarness(t, cfg, nil)
		for i := 0; i < 10; i++ {
			_ = h.exp.ConsumeLogs(ctx, testLogs())
		}
		if got := logged(); got != 2 {
			t.Fatalf("sampling_thereafter 0: logged %d, want 2", got)
		}
	})
}

type failingWriter struct{}

func (failingWriter) Write(p []byte) (int, error) { return 0, errors.New("broken pipe") }

func TestStreamWriteErrorIsCounted(t *testing.T) {
	h := newHarness(t, createDefaultConfig(), nil)
	h.exp.out = failingWriter{}
	if err := h.exp.ConsumeLogs(context.Background(), testLogs()); err != nil {
		t.Fatalf("a broken debug stream failed the batch: %v", err)
	}
	if got := value(h.tel.ExporterFailed.WithLabelValues("debug/test", "logs", "write")); got != 4 {
		t.Fatalf("failed = %v, want 4", got)
	}
	if got := h.sent(pipeline.SignalLogs); got != 0 {
		t.Fatalf("sent = %v, want 0", got)
	}
}

// Concurrent batches on a stream keep their lines together.
func TestConcurrentStream(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.Verbosity = VerbosityNormal
	var out bytes.Buffer
	h := newHarness(t, cfg, &out)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			for j := 0; j < 50; j++ {
				_ = h.exp.ConsumeTraces(context.Background(), testTraces())
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	written := 0
	for i := 0; i < len(lines); i++ {
		if strings.Contains(lines[i], " Traces ") {
			written++
			if i+2 >= len(lines) || !strings.HasPrefix(lines[i+1], "resource #0") || !strings.HasPrefix(lines[i+2], "resource #1") {
				t.Fatalf("batch at line %d is torn", i)
			}
			i += 2
		}
	}
	if written == 0 || h.sent(pipeline.SignalTraces) != 8*50*6 {
		t.Fatalf("written %d, sent %v", written, h.sent(pipeline.SignalTraces))
	}
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "debug" || len(f.Signals) != 3 {
		t.Fatalf("factory = %+v", f)
	}
	set := pipeline.Settings{ID: pipeline.MustID("debug"), Telemetry: selftelemetry.New()}
	c, err := f.Create(context.Background(), set, f.CreateDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	_, isT := c.(consumer.Traces)
	_, isM := c.(consumer.Metrics)
	_, isL := c.(consumer.Logs)
	if !isT || !isM || !isL {
		t.Fatalf("implements traces=%t metrics=%t logs=%t, want all", isT, isM, isL)
	}
	if err := errors.Join(c.Shutdown(context.Background()), c.Shutdown(context.Background())); err != nil {
		t.Fatal(err)
	}

	bad := &Config{Verbosity: "loud"}
	if _, err := f.Create(context.Background(), set, bad); err == nil {
		t.Fatal("Create accepted an invalid config")
	}
}
