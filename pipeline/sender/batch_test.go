package sender

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/units"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

// The tests of merging queued records into wire requests (batch.go).

// testZstd compresses wire bodies in these tests, as the OTLP exporter's
// zstd does.
func testZstd(raw []byte) ([]byte, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil), nil
}

func unzstd(t testing.TB, body []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(body, nil)
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	return raw
}

// tracesBody is an OTLP ExportTraceServiceRequest of n spans named
// name-0 .. name-(n-1).
func tracesBody(t testing.TB, name string, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "batch-test")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(fmt.Sprintf("%s-%d", name, i))
		sp.SetTraceID([16]byte{1, byte(i)})
		sp.SetSpanID([8]byte{2, byte(i)})
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metricsBody(t testing.TB, name string, n int) []byte {
	t.Helper()
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	g := m.SetEmptyGauge()
	for i := range n {
		dp := g.DataPoints().AppendEmpty()
		dp.SetIntValue(int64(i))
		dp.SetTimestamp(1)
	}
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsBody(t testing.TB, name string, n int) []byte {
	t.Helper()
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := range n {
		sl.LogRecords().AppendEmpty().Body().SetStr(fmt.Sprintf("%s-%d", name, i))
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// itemNames decodes an OTLP body of sig with the official pdata decoders
// and returns its items' names in order (span names, metric name with the
// point's value, log bodies).
func itemNames(t testing.TB, sig pipeline.Signal, raw []byte) []string {
	t.Helper()
	var out []string
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw); err != nil {
			t.Fatalf("decode traces: %v", err)
		}
		rss := req.Traces().ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					out = append(out, spans.At(k).Name())
				}
			}
		}
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw); err != nil {
			t.Fatalf("decode metrics: %v", err)
		}
		rms := req.Metrics().ResourceMetrics()
		for i := range rms.Len() {
			sms := rms.At(i).ScopeMetrics()
			for j := range sms.Len() {
				ms := sms.At(j).Metrics()
				for k := range ms.Len() {
					dps := ms.At(k).Gauge().DataPoints()
					for p := range dps.Len() {
						out = append(out, fmt.Sprintf("%s-%d", ms.At(k).Name(), dps.At(p).IntValue()))
					}
				}
			}
		}
	case pipeline.SignalLogs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw); err != nil {
			t.Fatalf("decode logs: %v", err)
		}
		rls := req.Logs().ResourceLogs()
		for i := range rls.Len() {
			sls := rls.At(i).ScopeLogs()
			for j := range sls.Len() {
				lrs := sls.At(j).LogRecords()
				for k := range lrs.Len() {
					out = append(out, lrs.At(k).Body().Str())
				}
			}
		}
	}
	return out
}

// sink records what reaches the far side: each request's decoded item
// names, time and compressed size.
type sink struct {
	t      testing.TB
	mu     sync.Mutex
	reqs   []sunk
	refuse func(names []string) error // nil takes everything
}

type sunk struct {
	sig   pipeline.Signal
	names []string
	at    time.Time
	body  int
}

func (s *sink) send(_ context.Context, r Request) error {
	raw := r.Body
	if r.Compression == "zstd" {
		raw = unzstd(s.t, r.Body)
	} else if r.Compression != "" {
		return consumererror.NewPermanent(fmt.Errorf("unexpected compression %q", r.Compression))
	}
	names := itemNames(s.t, r.Signal, raw)
	if len(names) != r.Items {
		s.t.Errorf("request says %d items, its body holds %d", r.Items, len(names))
	}
	if s.refuse != nil {
		if err := s.refuse(names); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, sunk{sig: r.Signal, names: names, at: time.Now(), body: len(r.Body)})
	s.mu.Unlock()
	return nil
}

func (s *sink) requests() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// batchOutput starts an Output with a memory queue (a disk queue in dir if
// dir is set) that merges records as cfg says and sends to s.
func batchOutput(t testing.TB, tel *selftelemetry.Metrics, dir string, cfg BatchConfig, send SendFunc) *Output {
	t.Helper()
	qc := DefaultQueueConfig()
	qc.Batch = cfg
	if dir == "" {
		qc.Kind = string(queue.KindMemory)
	}
	o, err := NewOutput(OutputSettings{
		Exporter: "exp", Telemetry: tel, Dir: dir, Queue: qc, Retry: quickRetry(), Send: send,
		Compress: testZstd, Compression: "zstd", Mergeable: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	return o
}

func putBody(t testing.TB, o *Output, lane queue.Lane, sig pipeline.Signal, items int, body []byte) {
	t.Helper()
	if err := o.Put(context.Background(), lane, Request{Signal: sig, Items: items, Body: body, Encoding: EncodingProto}); err != nil {
		t.Fatal(err)
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestBatchMergesRecordsPerSignal: records of one signal queued together
// leave as one request whose body (decoded with the official pdata
// decoders) holds exactly the records' items, in order; each signal gets
// its own requests.
func TestBatchMergesRecordsPerSignal(t *testing.T) {
	bodies := map[pipeline.Signal]func(testing.TB, string, int) []byte{
		pipeline.SignalTraces: tracesBody, pipeline.SignalMetrics: metricsBody, pipeline.SignalLogs: logsBody,
	}
	for _, sig := range pipeline.Signals {
		t.Run(string(sig), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tel := selftelemetry.New()
				s := &sink{t: t}
				o := batchOutput(t, tel, "", BatchConfig{MinSize: 100, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: time.Second}, s.send)
				var want []string
				for i := range 5 {
					p := fmt.Sprintf("r%d", i)
					putBody(t, o, queue.LaneNormal, sig, 3, bodies[sig](t, p, 3))
					want = append(want, names(p, 3)...)
				}
				time.Sleep(2 * time.Second)
				synctest.Wait()
				mustNil(t, o.Shutdown(context.Background()))
				reqs := s.requests()
				t.Logf("%s: 5 records of 3 items -> %d request(s), items %v", sig, len(reqs), reqs[0].names)
				if len(reqs) != 1 || !slices.Equal(reqs[0].names, want) {
					t.Fatalf("requests %+v, want one holding %v", reqs, want)
				}
				if got := metric(t, tel, "outpost_exporter_sent_items_total", sig, ""); got != 15 {
					t.Errorf("sent items %g, want 15", got)
				}
			})
		})
	}
}

// TestBatchLimits: max_size and max_bytes bound a request along record
// boundaries; min_size sends at once when reached; flush_timeout is how
// long a record waits for company from its creation; a signal change
// starts a new request.
func TestBatchLimits(t *testing.T) {
	rec := tracesBody(t, "x", 3)
	type put struct {
		after time.Duration // since the previous put
		sig   pipeline.Signal
	}
	cases := []struct {
		name  string
		cfg   BatchConfig
		puts  []put
		sizes []int           // items per request, in order
		at    []time.Duration // when each request was sent, since the start
	}{
		{"max_size", BatchConfig{MinSize: 0, MaxSize: 7, MaxBytes: 1 << 20},
			[]put{{0, "traces"}, {0, "traces"}, {0, "traces"}, {0, "traces"}, {0, "traces"}},
			[]int{6, 6, 3}, []time.Duration{0, 0, 0}},
		{"max_bytes", BatchConfig{MinSize: 0, MaxSize: 1000, MaxBytes: configsBytes(2*len(rec) + 1)},
			[]put{{0, "traces"}, {0, "traces"}, {0, "traces"}},
			[]int{6, 3}, []time.Duration{0, 0}},
		{"min_size reached before flush_timeout", BatchConfig{MinSize: 6, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: time.Second},
			[]put{{0, "traces"}, {300 * time.Millisecond, "traces"}},
			[]int{6}, []time.Duration{300 * time.Millisecond}},
		{"flush_timeout", BatchConfig{MinSize: 100, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: time.Second},
			[]put{{0, "traces"}, {400 * time.Millisecond, "traces"}, {2 * time.Second, "traces"}},
			[]int{6, 3}, []time.Duration{time.Second, 3400 * time.Millisecond}},
		{"flush_timeout 0 sends what is queued", BatchConfig{MinSize: 100, MaxSize: 1000, MaxBytes: 1 << 20},
			[]put{{0, "traces"}, {400 * time.Millisecond, "traces"}},
			[]int{3, 3}, []time.Duration{0, 400 * time.Millisecond}},
		{"signal change", BatchConfig{MinSize: 0, MaxSize: 1000, MaxBytes: 1 << 20},
			[]put{{0, "traces"}, {0, "traces"}, {0, "logs"}, {0, "traces"}},
			[]int{6, 3, 3}, []time.Duration{0, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &sink{t: t}
				start := time.Now()
				mk := func(p put) Request {
					body := rec
					if p.sig == pipeline.SignalLogs {
						body = logsBody(t, "l", 3)
					}
					return Request{Signal: p.sig, Items: 3, Body: body, Encoding: EncodingProto}
				}
				// The records of instant 0 are queued before the senders
				// start, so that none leaves before the others are there.
				dir := t.TempDir()
				var first []Request
				rest := tc.puts
				for len(rest) > 0 && rest[0].after == 0 {
					first = append(first, mk(rest[0]))
					rest = rest[1:]
				}
				prefill(t, dir, queue.LaneNormal, first...)
				o := batchOutput(t, selftelemetry.New(), dir, tc.cfg, s.send)
				for _, p := range rest {
					time.Sleep(p.after)
					r := mk(p)
					putBody(t, o, queue.LaneNormal, r.Signal, r.Items, r.Body)
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				mustNil(t, o.Shutdown(context.Background()))
				var sizes []int
				var at []time.Duration
				for _, r := range s.requests() {
					sizes = append(sizes, len(r.names))
					at = append(at, r.at.Sub(start))
				}
				t.Logf("%s: items per request %v, sent at %v", tc.name, sizes, at)
				if !slices.Equal(sizes, tc.sizes) || !slices.Equal(at, tc.at) {
					t.Fatalf("items per request %v at %v, want %v at %v", sizes, at, tc.sizes, tc.at)
				}
			})
		})
	}
}

func configsBytes(n int) units.ByteSize { return units.ByteSize(n) }

// prefill queues reqs in the disk queue in dir, as an Output of the
// batchOutput settings would, before any sender runs.
func prefill(t *testing.T, dir string, lane queue.Lane, reqs ...Request) {
	t.Helper()
	o, err := NewOutput(OutputSettings{Exporter: "exp", Dir: dir, Queue: DefaultQueueConfig(), Retry: quickRetry(),
		Send: func(context.Context, Request) error { return nil }, Mergeable: true})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Options{Kind: queue.KindDisk, Dir: dir, Limits: DefaultQueueConfig().limits()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		rec, err := o.record(lane, time.Now(), r)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	mustNil(t, o.Shutdown(context.Background()))
}

// TestBatchBacklogIsNotDelayed: after an outage the backlog leaves in
// max_size requests back to back, without waiting for flush_timeout, not
// even for its last, partial request (its records are old).
func TestBatchBacklogIsNotDelayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{t: t}
		outage := time.Now().Add(time.Minute)
		send := func(ctx context.Context, r Request) error {
			if time.Now().Before(outage) {
				return errors.New("connection refused")
			}
			return s.send(ctx, r)
		}
		o := batchOutput(t, selftelemetry.New(), "", BatchConfig{MinSize: 30, MaxSize: 30, MaxBytes: 1 << 20, FlushTimeout: 10 * time.Second}, send)
		for range 40 {
			putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 3, tracesBody(t, "b", 3))
			time.Sleep(time.Second)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		mustNil(t, o.Shutdown(context.Background()))
		reqs := s.requests()
		var sizes []int
		for _, r := range reqs {
			sizes = append(sizes, len(r.names))
		}
		t.Logf("40 records of 3 spans queued during a 1-minute outage: requests after it %v, first at %v, last at %v",
			sizes, reqs[0].at.Sub(outage).Round(time.Millisecond), reqs[len(reqs)-1].at.Sub(outage).Round(time.Millisecond))
		if !slices.Equal(sizes, []int{30, 30, 30, 30}) {
			t.Fatalf("items per request %v, want 4 x 30", sizes)
		}
		if !reqs[len(reqs)-1].at.Equal(reqs[0].at) {
			t.Errorf("backlog requests spread from %v to %v: the sender waited", reqs[0].at, reqs[len(reqs)-1].at)
		}
	})
}

// TestBatchLanesNeverMix: records of different lanes never share a
// request, and the more important lane goes first; a record of a more
// important lane ends the wait for a less important one's batch; the
// high lane never waits for company.
func TestBatchLanesNeverMix(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{t: t}
		// The first request (low0, cut short by the high record) is held
		// at the far side until every record is queued.
		gate := make(chan struct{})
		var first sync.Once
		send := func(ctx context.Context, r Request) error {
			first.Do(func() { <-gate })
			return s.send(ctx, r)
		}
		o := batchOutput(t, selftelemetry.New(), "", BatchConfig{MinSize: 1000, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: 10 * time.Second}, send)
		start := time.Now()
		putBody(t, o, queue.LaneLow, pipeline.SignalTraces, 3, tracesBody(t, "low0", 3))
		time.Sleep(time.Second)
		for i := range 3 {
			putBody(t, o, queue.LaneHigh, pipeline.SignalTraces, 3, tracesBody(t, fmt.Sprintf("high%d", i), 3))
			putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 3, tracesBody(t, fmt.Sprintf("normal%d", i), 3))
			putBody(t, o, queue.LaneLow, pipeline.SignalTraces, 3, tracesBody(t, fmt.Sprintf("low%d", i+1), 3))
		}
		close(gate)
		time.Sleep(time.Minute)
		synctest.Wait()
		mustNil(t, o.Shutdown(context.Background()))
		for _, r := range s.requests() {
			lane := strings.TrimRight(r.names[0], "0123456789-")
			t.Logf("request at %v: %d items, lane %s", r.at.Sub(start), len(r.names), lane)
			for _, n := range r.names {
				if strings.TrimRight(n, "0123456789-") != lane {
					t.Fatalf("request mixes lanes: %v", r.names)
				}
			}
		}
		reqs := s.requests()
		if len(reqs) != 4 {
			t.Fatalf("%d requests, want 4 (low cut short, high, normal, low)", len(reqs))
		}
		// low0 waited for company; high's arrival at 1s ended the wait.
		if reqs[0].names[0] != "low0-0" || reqs[0].at.Sub(start) != time.Second || len(reqs[0].names) != 3 {
			t.Errorf("first request %v at %v, want low0 alone at 1s", reqs[0].names, reqs[0].at.Sub(start))
		}
		// The high lane does not wait for company; the others wait for
		// flush_timeout from their creation (1s + 10s).
		if !strings.HasPrefix(reqs[1].names[0], "high") || len(reqs[1].names) != 9 || reqs[1].at.Sub(start) != time.Second {
			t.Errorf("second request %v at %v, want the 3 high records at 1s", reqs[1].names, reqs[1].at.Sub(start))
		}
		if !strings.HasPrefix(reqs[2].names[0], "normal") || reqs[2].at.Sub(start) != 11*time.Second {
			t.Errorf("third request %v at %v, want the normal records at 11s", reqs[2].names, reqs[2].at.Sub(start))
		}
	})
}

// TestBatchRefusedRecordIsIsolated: the far side refuses for its data a
// request holding one bad record among good ones (as Prometheus rolls back
// a remote-write request with one too-old sample and answers 400); the
// records are sent again in halves, so only the bad record's items are
// counted failed (under the reason the far side gave) and every good item
// is delivered once.
func TestBatchRefusedRecordIsIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		var attempts atomic.Int64
		s := &sink{t: t, refuse: func(names []string) error {
			attempts.Add(1)
			for _, n := range names {
				if strings.HasPrefix(n, "bad") {
					return consumererror.NewPermanent(&ReasonError{Reason: "out_of_bounds", Err: errors.New("400: too old sample")})
				}
			}
			return nil
		}}
		o := batchOutput(t, tel, "", BatchConfig{MinSize: 1000, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: time.Second}, s.send)
		var want []string
		for i := range 7 {
			p := fmt.Sprintf("good%d", i)
			if i == 4 {
				p = "bad"
			} else {
				want = append(want, names(p, 2)...)
			}
			putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 2, tracesBody(t, p, 2))
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mustNil(t, o.Shutdown(context.Background()))
		var got []string
		for _, r := range s.requests() {
			got = append(got, r.names...)
		}
		sent := metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalTraces, "")
		failed := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalTraces, "out_of_bounds")
		t.Logf("7 records of 2 spans, record 4 refused: %d attempts, %d delivered requests, sent %g, failed{out_of_bounds} %g",
			attempts.Load(), len(s.requests()), sent, failed)
		if !slices.Equal(got, want) || sent != 12 || failed != 2 || failedTotal(t, tel) != 2 {
			t.Fatalf("delivered %v, sent %g, failed %g (all reasons %g); want %v, 12, 2, 2", got, sent, failed, failedTotal(t, tel), want)
		}
	})
}

// TestBatchTooLargeSplitsRecordsThenItems: a 413 on a merged request
// splits it along records first and then, for one record still too
// large, inside it with the SplitFunc.
func TestBatchTooLargeSplitsRecordsThenItems(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		s := &sink{t: t, refuse: func(names []string) error {
			if len(names) > 3 {
				return consumererror.NewPermanent(fmt.Errorf("413: %w", ErrTooLarge))
			}
			return nil
		}}
		qc := DefaultQueueConfig()
		qc.Kind = string(queue.KindMemory)
		qc.Batch = BatchConfig{MinSize: 0, MaxSize: 1000, MaxBytes: 1 << 20}
		var splits atomic.Int64
		o, err := NewOutput(OutputSettings{Exporter: "exp", Telemetry: tel, Queue: qc, Retry: quickRetry(), Send: s.send,
			Compress: testZstd, Compression: "zstd", Mergeable: true,
			Split: func(r Request) (Request, Request, error) {
				splits.Add(1)
				n := itemNames(t, r.Signal, unzstd(t, r.Body))
				mk := func(part []string) Request {
					td := ptrace.NewTraces()
					ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
					for _, name := range part {
						ss.Spans().AppendEmpty().SetName(name)
					}
					raw, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
					body, _ := testZstd(raw)
					return Request{Signal: r.Signal, Items: len(part), Body: body, Encoding: r.Encoding, Compression: r.Compression}
				}
				return mk(n[:len(n)/2]), mk(n[len(n)/2:]), nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		mustNil(t, o.Start())
		putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 2, tracesBody(t, "a", 2))
		putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 6, tracesBody(t, "b", 6))
		putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 2, tracesBody(t, "c", 2))
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mustNil(t, o.Shutdown(context.Background()))
		var got []string
		var sizes []int
		for _, r := range s.requests() {
			got = append(got, r.names...)
			sizes = append(sizes, len(r.names))
		}
		t.Logf("records of 2, 6, 2 spans, far side takes at most 3 a request: delivered requests %v, %d in-record splits", sizes, splits.Load())
		want := append(append(names("a", 2), names("b", 6)...), names("c", 2)...)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || failedTotal(t, tel) != 0 || splits.Load() == 0 {
			t.Fatalf("delivered %v (failed %g, splits %d), want %v", got, failedTotal(t, tel), splits.Load(), want)
		}
	})
}

// countingBudget records what each attempt waited for.
type countingBudget struct {
	mu    sync.Mutex
	waits []int
	sent  int
}

func (b *countingBudget) Wait(_ context.Context, n int) error {
	b.mu.Lock()
	b.waits = append(b.waits, n)
	b.mu.Unlock()
	return nil
}
func (b *countingBudget) Adjust(int) {}
func (b *countingBudget) Sent(n int) { b.mu.Lock(); b.sent += n; b.mu.Unlock() }

// TestBatchBudgetMetersTheMergedRequest: the uplink budget is waited on
// once per merged request, for the bytes of its compressed body: not per
// record, not for the records' stored bytes.
func TestBatchBudgetMetersTheMergedRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{t: t}
		b := &countingBudget{}
		tel := selftelemetry.New()
		o := batchOutput(t, tel, "", BatchConfig{MinSize: 1000, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: time.Second}, s.send)
		o.sender.set.Budget = b // as NewOutput does with an uplink.Budget
		stored := 0
		for i := range 6 {
			body := tracesBody(t, fmt.Sprintf("u%d", i), 20)
			st, _ := storeBody(StorageCodec, body)
			stored += len(st)
			putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 20, body)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		mustNil(t, o.Shutdown(context.Background()))
		reqs := s.requests()
		t.Logf("6 records (%d bytes stored) -> %d request(s) of %d compressed bytes; budget waits %v, sent %d", stored, len(reqs), reqs[0].body, b.waits, b.sent)
		if len(reqs) != 1 || !slices.Equal(b.waits, []int{reqs[0].body}) || b.sent != reqs[0].body {
			t.Fatalf("budget waits %v (sent %d) for requests %d bytes; want one wait for the merged body", b.waits, b.sent, reqs[0].body)
		}
	})
}

// TestBatchStopPutsAllRecordsBack: a merged request cut short by shutdown
// puts all its records back, uncounted; the next Output on the same disk
// queue delivers them all, merged, and counts them once.
func TestBatchStopPutsAllRecordsBack(t *testing.T) {
	dir := t.TempDir()
	tel := selftelemetry.New()
	attempted := make(chan struct{}, 100)
	down := func(ctx context.Context, r Request) error {
		attempted <- struct{}{}
		return errors.New("connection refused")
	}
	cfg := BatchConfig{MinSize: 0, MaxSize: 1000, MaxBytes: 1 << 20}
	o := batchOutput(t, tel, dir, cfg, down)
	var want []string
	for i := range 5 {
		p := fmt.Sprintf("s%d", i)
		want = append(want, names(p, 4)...)
		putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 4, tracesBody(t, p, 4))
	}
	select {
	case <-attempted:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt")
	}
	mustNil(t, o.Shutdown(context.Background()))
	if f := failedTotal(t, tel); f != 0 {
		t.Fatalf("%g items counted failed at shutdown; they were put back", f)
	}
	s := &sink{t: t}
	tel2 := selftelemetry.New()
	o2 := batchOutput(t, tel2, dir, cfg, s.send)
	waitFor(t, 10*time.Second, "delivery", func() bool {
		return metric(t, tel2, "outpost_exporter_sent_items_total", pipeline.SignalTraces, "") >= 20
	})
	mustNil(t, o2.Shutdown(context.Background()))
	var got []string
	for _, r := range s.requests() {
		got = append(got, r.names...)
	}
	t.Logf("5 records put back at shutdown, delivered after restart in %d request(s)", len(s.requests()))
	if !slices.Equal(got, want) || failedTotal(t, tel2) != 0 {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// TestBatchDeliversV1AndV2Records: a disk queue written by format version
// 1 (testdata of pipeline/queue: wire-ready bodies) gets new records of
// version 2; all are delivered, the v1 records as they were stored and
// the v2 ones merged.
func TestBatchDeliversV1AndV2Records(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, filepath.Join("..", "queue", "testdata", "v1"), dir)
	tel := selftelemetry.New()
	s := &sink{t: t}
	o := batchOutput(t, tel, dir, BatchConfig{MinSize: 0, MaxSize: 1000, MaxBytes: 1 << 20}, s.send)
	for i := range 4 {
		putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 2, tracesBody(t, fmt.Sprintf("v2-%d", i), 2))
	}
	waitFor(t, 10*time.Second, "delivery", func() bool {
		return metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalTraces, "") >= 9*2+4*2
	})
	mustNil(t, o.Shutdown(context.Background()))
	var v1, v2 int
	for _, r := range s.requests() {
		t.Logf("request: %v", r.names)
		for _, n := range r.names {
			if strings.HasPrefix(n, "v1-") {
				v1++
			} else {
				v2++
			}
		}
		if strings.HasPrefix(r.names[0], "v1-") && len(r.names) != 2 {
			t.Errorf("a v1 record was merged: %v", r.names)
		}
	}
	if v1 != 18 || v2 != 8 || failedTotal(t, tel) != 0 {
		t.Fatalf("delivered %d v1 and %d v2 spans (failed %g), want 18 and 8", v1, v2, failedTotal(t, tel))
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBatchConfigValidate: the batch section's bad values, named by key.
func TestBatchConfigValidate(t *testing.T) {
	if err := DefaultBatchConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := []struct {
		mod  func(*BatchConfig)
		want string
	}{
		{func(c *BatchConfig) { c.MinSize = -1 }, "batch.min_size: must not be negative"},
		{func(c *BatchConfig) { c.MaxSize = 0 }, "batch.max_size: must be at least 1"},
		{func(c *BatchConfig) { c.MinSize, c.MaxSize = 10, 5 }, "batch.min_size: must not exceed batch.max_size"},
		{func(c *BatchConfig) { c.MaxBytes = 0 }, "batch.max_bytes: must be between"},
		{func(c *BatchConfig) { c.MaxBytes = 65 << 20 }, "batch.max_bytes: must be between"},
		{func(c *BatchConfig) { c.FlushTimeout = -time.Second }, "batch.flush_timeout: must not be negative"},
	}
	for _, tc := range cases {
		c := DefaultBatchConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

// TestBatchMemoryQueueShutdownFlushes: draining a memory queue at
// shutdown does not wait for flush_timeout: the senders send what they
// hold at once.
func TestBatchMemoryQueueShutdownFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{t: t}
		tel := selftelemetry.New()
		o := batchOutput(t, tel, "", BatchConfig{MinSize: 1000, MaxSize: 1000, MaxBytes: 1 << 20, FlushTimeout: time.Hour}, s.send)
		putBody(t, o, queue.LaneNormal, pipeline.SignalTraces, 3, tracesBody(t, "m", 3))
		time.Sleep(time.Second)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		mustNil(t, o.Shutdown(ctx))
		t.Logf("memory queue with flush_timeout 1h drained at shutdown in %v: %d request(s)", time.Since(start), len(s.requests()))
		if len(s.requests()) != 1 || time.Since(start) > 20*time.Millisecond {
			t.Fatalf("%d requests after %v; want the record sent at once", len(s.requests()), time.Since(start))
		}
		if got := metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalTraces, ""); got != 3 {
			t.Errorf("sent %g, want 3", got)
		}
	})
}

// TestBatchRequestsStaySmallUnderABudget: under an uplink budget a merged
// request is kept to about 100 ms of the budget's rate (compressed), so
// that a request waiting for the budget holds a more important lane back
// no longer; without a binding budget all records merge.
func TestBatchRequestsStaySmallUnderABudget(t *testing.T) {
	for _, rate := range []int64{1 << 20, 4 << 10} {
		t.Run(fmt.Sprintf("%dB/s", rate), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tel := selftelemetry.New()
				s := &sink{t: t}
				dir := t.TempDir()
				var reqs []Request
				for i := range 40 {
					reqs = append(reqs, Request{Signal: pipeline.SignalTraces, Items: 20, Body: tracesBody(t, fmt.Sprintf("r%d", i), 20), Encoding: EncodingProto})
				}
				prefill(t, dir, queue.LaneNormal, reqs...)
				qc := DefaultQueueConfig()
				qc.Batch = BatchConfig{MinSize: 0, MaxSize: 10000, MaxBytes: 1 << 20}
				budget := uplink.New(uplink.Config{BytesPerSecond: rate}, tel)
				o, err := NewOutput(OutputSettings{Exporter: "exp", Telemetry: tel, Dir: dir, Queue: qc, Retry: quickRetry(), Send: s.send,
					Compress: testZstd, Compression: "zstd", Mergeable: true, Uplink: budget})
				if err != nil {
					t.Fatal(err)
				}
				mustNil(t, o.Start())
				time.Sleep(time.Minute)
				synctest.Wait()
				mustNil(t, o.Shutdown(context.Background()))
				got := s.requests()
				var sizes, bodies []int
				items := 0
				for _, r := range got {
					sizes = append(sizes, len(r.names))
					bodies = append(bodies, r.body)
					items += len(r.names)
				}
				t.Logf("budget %d B/s: 40 records of 20 spans in %d requests, spans %v, compressed bytes %v", rate, len(got), sizes, bodies)
				if items != 800 {
					t.Fatalf("%d spans delivered, want 800", items)
				}
				share := int(float64(rate) * maxBudgetShare.Seconds())
				for i, r := range got {
					// One record always goes; more only within about the
					// share (the ratio is the previous request's estimate).
					if len(r.names) > 20 && r.body > 2*share {
						t.Errorf("request %d: %d compressed bytes of %d spans, over twice the budget share %d", i, r.body, len(r.names), share)
					}
				}
				if rate == 1<<20 && len(got) != 1 {
					t.Errorf("%d requests under an ample budget, want 1", len(got))
				}
				if rate == 4<<10 && len(got) < 5 {
					t.Errorf("%d requests under a thin budget, want at least 5", len(got))
				}
			})
		})
	}
}

// TestBatchSeveralConsumers: three senders merge records of one lane at
// once; every record is delivered once, counted once, and the cursor
// passes them all (reopened, the queue delivers nothing again).
func TestBatchSeveralConsumers(t *testing.T) {
	dir := t.TempDir()
	var reqs []Request
	var want []string
	for i := range 60 {
		p := fmt.Sprintf("c%d", i)
		want = append(want, names(p, 5)...)
		reqs = append(reqs, Request{Signal: pipeline.SignalTraces, Items: 5, Body: tracesBody(t, p, 5), Encoding: EncodingProto})
	}
	prefill(t, dir, queue.LaneNormal, reqs...)
	tel := selftelemetry.New()
	s := &sink{t: t}
	qc := DefaultQueueConfig()
	qc.Consumers = 3
	qc.Batch = BatchConfig{MinSize: 0, MaxSize: 50, MaxBytes: 1 << 20}
	o, err := NewOutput(OutputSettings{Exporter: "exp", Telemetry: tel, Dir: dir, Queue: qc, Retry: quickRetry(), Send: s.send,
		Compress: testZstd, Compression: "zstd", Mergeable: true})
	if err != nil {
		t.Fatal(err)
	}
	mustNil(t, o.Start())
	waitFor(t, 10*time.Second, "delivery", func() bool {
		return metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalTraces, "") >= 300
	})
	mustNil(t, o.Shutdown(context.Background()))
	var got []string
	var sizes []int
	for _, r := range s.requests() {
		got = append(got, r.names...)
		sizes = append(sizes, len(r.names))
	}
	t.Logf("60 records of 5 spans, 3 senders, max_size 50: requests of %v spans", sizes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalTraces, "") != 300 {
		t.Fatalf("delivered %d spans (want each of 300 once)", len(got))
	}
	for _, n := range sizes {
		if n > 50 {
			t.Fatalf("a request of %d spans, over max_size 50", n)
		}
	}
	q, err := queue.Open(queue.Options{Kind: queue.KindDisk, Dir: dir, Limits: DefaultQueueConfig().limits()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if st := q.Stats()[queue.LaneNormal]; st.Records != 0 {
		t.Fatalf("reopened queue holds %d records: the cursor did not pass them all", st.Records)
	}
}
