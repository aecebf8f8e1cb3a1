package fileexporter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

const testID = "file/test"

// value reads a counter.
func value(c prometheus.Counter) float64 { return promtest.ToFloat64(c) }

type harness struct {
	exp *exporter
	tel *selftelemetry.Metrics
	cfg *Config
}

func newHarness(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "out.jsonl")
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{tel: selftelemetry.New(), cfg: cfg}
	c, err := NewFactory().Create(context.Background(),
		pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: h.tel}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.exp = c.(*exporter)
	return h
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	if err := h.exp.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.exp.Shutdown(context.Background()) })
}

func (h *harness) shutdown(t *testing.T) {
	t.Helper()
	if err := h.exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) sent(sig pipeline.Signal) (items, bytes float64) {
	return value(h.tel.ExporterSent.WithLabelValues(testID, string(sig))),
		value(h.tel.ExporterSentBytes.WithLabelValues(testID, string(sig)))
}

func (h *harness) failed(sig pipeline.Signal, reason string) float64 {
	return value(h.tel.ExporterFailed.WithLabelValues(testID, string(sig), reason))
}

func testTraces(seq, spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutInt("seq", int64(seq))
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("io.example")
	for i := 0; i < spans; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName(fmt.Sprintf("op-%d", i))
		s.SetTraceID(pcommon.TraceID{byte(seq), 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i))
		s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_100_000_000 + i))
		s.Attributes().PutStr("note", "line\nbreak \"quoted\" ünïcode")
		s.Attributes().PutDouble("ratio", 0.25)
	}
	return td
}

func testMetrics(seq int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt("seq", int64(seq))
	sm := rm.ScopeMetrics().AppendEmpty()
	m := sm.Metrics().AppendEmpty()
	m.SetName("requests")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetIntValue(int64(seq))
	dp.Attributes().PutStr("route", "/cart")
	h := sm.Metrics().AppendEmpty()
	h.SetName("latency")
	hdp := h.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetCount(3)
	hdp.SetSum(1.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{1, 1, 1})
	return md
}

func testLogs(seq, records int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutInt("seq", int64(seq))
	sl := rl.ScopeLogs().AppendEmpty()
	for i := 0; i < records; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.Body().SetStr(fmt.Sprintf("record %d of %d", i, seq))
		lr.SetTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000))
	}
	return ld
}

// line is one decoded line of the file.
type line struct {
	signal  pipeline.Signal
	traces  ptrace.Traces
	metrics pmetric.Metrics
	logs    plog.Logs
}

// seq returns the seq attribute of the line's first resource.
func (l line) seq() int64 {
	var attrs pcommon.Map
	switch l.signal {
	case pipeline.SignalTraces:
		attrs = l.traces.ResourceSpans().At(0).Resource().Attributes()
	case pipeline.SignalMetrics:
		attrs = l.metrics.ResourceMetrics().At(0).Resource().Attributes()
	default:
		attrs = l.logs.ResourceLogs().At(0).Resource().Attributes()
	}
	v, _ := attrs.Get("seq")
	return v.Int()
}

// readLines reads a file and decodes every line, failing the test on any
// line that is not a whole OTLP JSON request.
func readLines(t *testing.T, path string) []line {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	var out []line
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		out = append(out, decodeLine(t, fmt.Sprintf("%s:%d", path, n), sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func decodeLine(t *testing.T, where string, b []byte) line {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatalf("%s: not JSON: %v: %.200s", where, err, b)
	}
	if len(keys) != 1 {
		t.Fatalf("%s: want one top-level key, got %d", where, len(keys))
	}
	var (
		l   line
		err error
	)
	switch {
	case keys["resourceSpans"] != nil:
		l.signal = pipeline.SignalTraces
		l.traces, err = (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	case keys["resourceMetrics"] != nil:
		l.signal = pipeline.SignalMetrics
		l.metrics, err = (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(b)
	case keys["resourceLogs"] != nil:
		l.signal = pipeline.SignalLogs
		l.logs, err = (&plog.JSONUnmarshaler{}).UnmarshalLogs(b)
	default:
		t.Fatalf("%s: unknown top-level key in %.100s", where, b)
	}
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return l
}

// Exact comparison through the protobuf encoding, which is deterministic.
func sameTraces(a, b ptrace.Traces) bool {
	x, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(a)
	y, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(b)
	return bytes.Equal(x, y)
}

func sameMetrics(a, b pmetric.Metrics) bool {
	x, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(a)
	y, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(b)
	return bytes.Equal(x, y)
}

func sameLogs(a, b plog.Logs) bool {
	x, _ := (&plog.ProtoMarshaler{}).MarshalLogs(a)
	y, _ := (&plog.ProtoMarshaler{}).MarshalLogs(b)
	return bytes.Equal(x, y)
}

func TestRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	h.start(t)
	ctx := context.Background()
	td, md, ld := testTraces(1, 3), testMetrics(2), testLogs(3, 4)
	// Data shared read-only by a fan-out must be accepted as is.
	md.MarkReadOnly()
	if err := errors.Join(
		h.exp.ConsumeTraces(ctx, td),
		h.exp.ConsumeMetrics(ctx, md),
		h.exp.ConsumeLogs(ctx, ld),
		h.exp.ConsumeTraces(ctx, ptrace.NewTraces()), // empty: nothing written
	); err != nil {
		t.Fatal(err)
	}
	h.shutdown(t)

	lines := readLines(t, h.cfg.Path)
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	if !sameTraces(lines[0].traces, td) || !sameMetrics(lines[1].metrics, md) || !sameLogs(lines[2].logs, ld) {
		t.Fatal("data read back differs from what was written")
	}

	// The Collector's file exporter format: the JSON marshaler's output,
	// one request per line.
	raw, _ := os.ReadFile(h.cfg.Path)
	want, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if first, _, _ := bytes.Cut(raw, []byte("\n")); !bytes.Equal(first, want) {
		t.Fatalf("first line\n%s\nwant\n%s", first, want)
	}

	for _, c := range []struct {
		sig   pipeline.Signal
		items float64
		line  int
	}{{pipeline.SignalTraces, 3, 0}, {pipeline.SignalMetrics, 2, 1}, {pipeline.SignalLogs, 4, 2}} {
		items, n := h.sent(c.sig)
		wantBytes := float64(len(bytes.Split(raw, []byte("\n"))[c.line]) + 1)
		if items != c.items || n != wantBytes {
			t.Errorf("%s: sent %v items %v bytes, want %v and %v", c.sig, items, n, c.items, wantBytes)
		}
	}
}

func TestShutdownFlushes(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.FlushInterval = time.Hour })
	h.start(t)
	if err := h.exp.ConsumeLogs(context.Background(), testLogs(1, 2)); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(h.cfg.Path); st.Size() != 0 {
		t.Fatalf("written before a flush: %d bytes", st.Size())
	}
	if items, _ := h.sent(pipeline.SignalLogs); items != 0 {
		t.Fatalf("counted as sent while still buffered: %v", items)
	}
	h.shutdown(t)
	if got := readLines(t, h.cfg.Path); len(got) != 1 || got[0].logs.LogRecordCount() != 2 {
		t.Fatalf("after shutdown: %d lines", len(got))
	}
	if items, _ := h.sent(pipeline.SignalLogs); items != 2 {
		t.Fatalf("sent = %v, want 2", items)
	}

	// Idempotent, and refuses data once shut down.
	h.shutdown(t)
	err := h.exp.ConsumeLogs(context.Background(), testLogs(2, 5))
	if err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("consume after shutdown: %v, want a retryable error", err)
	}
	if got := h.failed(pipeline.SignalLogs, "shutdown"); got != 5 {
		t.Fatalf("failed{shutdown} = %v, want 5", got)
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	h := newHarness(t, nil)
	h.shutdown(t)
	if _, err := os.Stat(h.cfg.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file created without Start: %v", err)
	}
	if err := h.exp.ConsumeTraces(context.Background(), testTraces(1, 1)); err == nil {
		t.Fatal("accepted data without Start")
	}
}

func TestPeriodicFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.FlushInterval = time.Second; c.FSync = true })
		if err := h.exp.Start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if err := h.exp.ConsumeTraces(context.Background(), testTraces(1, 2)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if st, _ := os.Stat(h.cfg.Path); st.Size() != 0 {
			t.Fatal("flushed before the interval")
		}
		time.Sleep(600 * time.Millisecond)
		synctest.Wait()
		if got := readLines(t, h.cfg.Path); len(got) != 1 {
			t.Fatalf("after the interval: %d lines, want 1", len(got))
		}
		if items, _ := h.sent(pipeline.SignalTraces); items != 2 {
			t.Fatalf("sent = %v, want 2", items)
		}
		if err := h.exp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCreatesDirectoryAndAppends(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "out.jsonl")
	for i := 1; i <= 2; i++ {
		h := newHarness(t, func(c *Config) { c.Path = path })
		h.start(t)
		if err := h.exp.ConsumeLogs(context.Background(), testLogs(i, 1)); err != nil {
			t.Fatal(err)
		}
		h.shutdown(t)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0].seq() != 1 || lines[1].seq() != 2 {
		t.Fatalf("a restart did not append: %d lines", len(lines))
	}
}

func TestStartFailsOnBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Path = filepath.Join(file, "sub", "out.jsonl") })
	if err := h.exp.Start(context.Background(), nil); err == nil {
		t.Fatal("Start succeeded under a regular file")
	}
	h.shutdown(t)
}

// A partial last line left by a crash is ended, so the next line is whole.
func TestEndsTornLastLine(t *testing.T) {
	h := newHarness(t, nil)
	if err := os.WriteFile(h.cfg.Path, []byte(`{"resourceLogs":[{"reso`), 0o600); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	if err := h.exp.ConsumeLogs(context.Background(), testLogs(7, 1)); err != nil {
		t.Fatal(err)
	}
	h.shutdown(t)
	data, _ := os.ReadFile(h.cfg.Path)
	parts := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(parts) != 2 || parts[0] != `{"resourceLogs":[{"reso` {
		t.Fatalf("file = %q", data)
	}
	if l := decodeLine(t, "line 2", []byte(parts[1])); l.seq() != 7 {
		t.Fatal("wrong line")
	}
}

func TestRotation(t *testing.T) {
	const maxSize, maxBackups = 4 << 10, 3
	h := newHarness(t, func(c *Config) {
		c.Rotation = &Rotation{MaxSize: maxSize, MaxBackups: maxBackups}
	})
	// A backup left by a larger max_backups before is cleaned up.
	stale := h.cfg.Path + ".9"
	if err := os.WriteFile(h.cfg.Path+".4", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	const batches = 60
	for i := 0; i < batches; i++ {
		if err := h.exp.ConsumeTraces(context.Background(), testTraces(i, 2)); err != nil {
			t.Fatal(err)
		}
	}
	h.shutdown(t)

	files := []string{h.cfg.Path + ".3", h.cfg.Path + ".2", h.cfg.Path + ".1", h.cfg.Path} // oldest first
	var seqs []int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxSize {
			t.Errorf("%s is %d bytes, over max_size %d", f, st.Size(), maxSize)
		}
		lines := readLines(t, f)
		if len(lines) == 0 {
			t.Errorf("%s is empty", f)
		}
		for _, l := range lines {
			seqs = append(seqs, l.seq())
		}
	}
	for _, gone := range []string{h.cfg.Path + ".4", stale} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s kept beyond max_backups", gone)
		}
	}
	// The files hold the newest batches, in order, without gaps.
	for i, s := range seqs {
		if want := int64(batches - len(seqs) + i); s != want {
			t.Fatalf("line %d has seq %d, want %d (seqs %v)", i, s, want, seqs)
		}
	}
	if items, _ := h.sent(pipeline.SignalTraces); items != 2*batches {
		t.Fatalf("sent = %v, want %d", items, 2*batches)
	}
}

func TestRotationEdges(t *testing.T) {
	t.Run("line larger than max_size", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.Rotation = &Rotation{MaxSize: 1 << 10, MaxBackups: 2}
			c.FlushInterval = 0
		})
		h.start(t)
		ctx := context.Background()
		_ = h.exp.ConsumeLogs(ctx, testLogs(1, 1))
		_ = h.exp.ConsumeLogs(ctx, testLogs(2, 200)) // far over 1KiB
		_ = h.exp.ConsumeLogs(ctx, testLogs(3, 1))
		h.shutdown(t)
		for f, seq := range map[string]int64{h.cfg.Path + ".2": 1, h.cfg.Path + ".1": 2, h.cfg.Path: 3} {
			lines := readLines(t, f)
			if len(lines) != 1 || lines[0].seq() != seq {
				t.Errorf("%s: want only batch %d", f, seq)
			}
		}
	})
	t.Run("no backups", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.Rotation = &Rotation{MaxSize: 1 << 10, MaxBackups: 0}
		})
		h.start(t)
		for i := 0; i < 20; i++ {
			_ = h.exp.ConsumeLogs(context.Background(), testLogs(i, 3))
		}
		h.shutdown(t)
		matches, _ := filepath.Glob(h.cfg.Path + "*")
		if len(matches) != 1 {
			t.Fatalf("files: %v, want only the current one", matches)
		}
		lines := readLines(t, h.cfg.Path)
		if len(lines) == 0 || lines[len(lines)-1].seq() != 19 {
			t.Fatal("current file lacks the newest batch")
		}
	})
}

// Many goroutines and all three signals share one file; every line stays
// whole and every item is accounted for.
func TestConcurrentWriters(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond, time.Second} {
		t.Run(interval.String(), func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.FlushInterval = interval
				c.Rotation = &Rotation{MaxSize: 256 << 10, MaxBackups: 100}
			})
			h.start(t)
			const workers, perWorker = 6, 40
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Go(func() {
					ctx := context.Background()
					for i := 0; i < perWorker; i++ {
						var err error
						switch w % 3 {
						case 0:
							err = h.exp.ConsumeTraces(ctx, testTraces(i, 1+i%5))
						case 1:
							err = h.exp.ConsumeMetrics(ctx, testMetrics(i))
						case 2:
							err = h.exp.ConsumeLogs(ctx, testLogs(i, 1+i%7))
						}
						if err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			h.shutdown(t)

			files, _ := filepath.Glob(h.cfg.Path + "*")
			counts := map[pipeline.Signal]int{}
			for _, f := range files {
				for _, l := range readLines(t, f) {
					switch l.signal {
					case pipeline.SignalTraces:
						counts[l.signal] += l.traces.SpanCount()
					case pipeline.SignalMetrics:
						counts[l.signal] += l.metrics.DataPointCount()
					case pipeline.SignalLogs:
						counts[l.signal] += l.logs.LogRecordCount()
					}
				}
			}
			for _, sig := range pipeline.Signals {
				items, _ := h.sent(sig)
				if items != float64(counts[sig]) || counts[sig] == 0 {
					t.Errorf("%s: %d items in the files, %v counted as sent", sig, counts[sig], items)
				}
			}
		})
	}
}

// A failed write is a retryable error, is counted, leaves the file with
// whole lines only, and the exporter recovers on the next write.
func TestWriteErrorRecovers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.FlushInterval = time.Hour })
	h.start(t)
	ctx := context.Background()
	if err := h.exp.ConsumeLogs(ctx, testLogs(1, 2)); err != nil {
		t.Fatal(err)
	}
	// Break the handle under the buffered batch, as a failing disk would.
	h.exp.mu.Lock()
	_ = h.exp.f.Close()
	h.exp.mu.Unlock()

	big := testLogs(2, 2000) // larger than the buffer: forces a write now
	err := h.exp.ConsumeLogs(ctx, big)
	if err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("write error = %v, want retryable", err)
	}
	if got := h.failed(pipeline.SignalLogs, "write"); got != 2+2000 {
		t.Fatalf("failed{write} = %v, want the buffered and the refused batch", got)
	}
	// The sender retries; the exporter reopens the file.
	if err := h.exp.ConsumeLogs(ctx, big); err != nil {
		t.Fatalf("retry: %v", err)
	}
	h.shutdown(t)
	lines := readLines(t, h.cfg.Path)
	if len(lines) != 1 || lines[0].seq() != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	if items, _ := h.sent(pipeline.SignalLogs); items != 2000 {
		t.Fatalf("sent = %v, want 2000", items)
	}
}

// A full disk, for real, where the platform has /dev/full.
func TestDiskFull(t *testing.T) {
	if f, err := os.OpenFile("/dev/full", os.O_RDWR|os.O_APPEND, 0); err != nil {
		t.Skip("no /dev/full:", err)
	} else {
		_ = f.Close()
	}
	h := newHarness(t, func(c *Config) { c.Path = "/dev/full"; c.FlushInterval = 0 })
	h.start(t)
	err := h.exp.ConsumeTraces(context.Background(), testTraces(1, 3))
	if err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("error = %v, want retryable", err)
	}
	if got := h.failed(pipeline.SignalTraces, "write"); got != 3 {
		t.Fatalf("failed{write} = %v, want 3", got)
	}
	_ = h.exp.Shutdown(context.Background())
}

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "file" || len(f.Signals) != 3 {
		t.Fatalf("factory = %+v", f)
	}
	if _, err := f.Create(context.Background(), pipeline.Settings{}, f.CreateDefaultConfig()); err == nil {
		t.Fatal("created without a path")
	}
	h := newHarness(t, nil)
	var _ consumer.Traces = h.exp
	var _ consumer.Metrics = h.exp
	var _ consumer.Logs = h.exp
	if h.exp.Capabilities().MutatesData {
		t.Fatal("claims to mutate data")
	}
}

func BenchmarkConsumeTraces(b *testing.B) {
	cfg := createDefaultConfig()
	cfg.Path = filepath.Join(b.TempDir(), "out.jsonl")
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("file")}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	exp := c.(*exporter)
	if err := exp.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	td := testTraces(1, 100)
	line, _ := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	b.SetBytes(int64(len(line) + 1))
	b.ReportAllocs()
	for b.Loop() {
		if err := exp.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
}
