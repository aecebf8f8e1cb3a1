package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// tsTraceID is the trace ID of test trace n of a run.
func tsTraceID(run byte, n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	id[0], id[1] = 0x7a, run
	binary.BigEndian.PutUint64(id[8:], n*0x9e3779b97f4a7c15+1)
	binary.BigEndian.PutUint32(id[2:6], uint32(n))
	return id
}

// tsSpans appends spans first..last-1 of trace n: span 0 is the root,
// every span lasts 10ms from start, except the root of a slow trace
// (800ms); an error trace has its error on its last span.
func tsSpans(ss ptrace.ScopeSpans, id pcommon.TraceID, first, last int, slow, failed bool, start time.Time) {
	for i := first; i < last; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID{0x7a, byte(i), id[2], id[3], id[4], id[5], 1, 1})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{0x7a, 0, id[2], id[3], id[4], id[5], 1, 1})
		}
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.SetKind(ptrace.SpanKindServer)
		end := 10 * time.Millisecond
		if i == 0 && slow {
			end = 800 * time.Millisecond
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Millisecond + end)))
		if failed && i == last-1 {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
	}
}

func tsRequest(service string) (ptrace.Traces, ptrace.ScopeSpans) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("outpost.e2e.tail")
	return td, ss
}

// fnvKeeps is the probabilistic policy's rule (the Collector's): FNV-1a of
// salt and trace ID at or under percent/100 of 2⁶⁴−1.
func fnvKeeps(salt string, id pcommon.TraceID, percent float64) bool {
	h := fnv.New64a()
	h.Write([]byte(salt))
	h.Write(id[:])
	return float64(h.Sum64()) <= percent/100*float64(math.MaxUint64)
}

// jaegerServiceTraces returns the span count of each trace Jaeger holds
// for a service (API v1 search).
func (j *jaegerPeer) serviceTraces(t *testing.T, service string) map[string]int {
	t.Helper()
	code, body, err := testutil.HTTPGet(j.query + "/api/traces?service=" + service + "&limit=100000&lookback=1h")
	if err != nil || code != http.StatusOK {
		t.Fatalf("search %s: %d %v", service, code, err)
	}
	var resp struct {
		Data []struct {
			TraceID string            `json:"traceID"`
			Spans   []json.RawMessage `json:"spans"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, tr := range resp.Data {
		out[tr.TraceID] += len(tr.Spans)
	}
	return out
}

// tailCounts reads the tail_sampling processor's span accounting.
func tailCounts(m testutil.Metrics) (received, sampled, held float64, dropped map[string]float64) {
	p := map[string]string{"processor": "tail_sampling"}
	received = m.Sum("outpost_processor_tail_sampling_received_spans_total", p)
	sampled = m.Sum("outpost_processor_tail_sampling_sampled_spans_total", p)
	held = m.Sum("outpost_processor_tail_sampling_held_spans", p)
	dropped = map[string]float64{}
	for _, r := range []string{"not_sampled", "late_not_sampled", "refused", "shutdown"} {
		dropped[r] = m.Sum("outpost_processor_dropped_items_total", map[string]string{"processor": "tail_sampling", "reason": r})
	}
	return
}

// TestTailSamplingToJaeger sends 1000 traces of 3 spans in two requests
// each (10 % with an error on the last span, 10 % slow, the rest plain)
// through tail_sampling (errors, latency ≥ 500ms, 20 % probabilistic) to
// a real Jaeger, then a late fourth span of some traces after the
// decision: every error and slow trace arrives whole, late span included;
// the plain ones within the binomial bounds of 20 % and exactly those the
// hash keeps, whole; no late span of a dropped trace arrives; the counters
// add up.
func TestTailSamplingToJaeger(t *testing.T) {
	j := startJaegerPeer(t)
	o := newOutpost(t)
	const salt, percent = "e2e", 20.0
	o.start(t, o.otlpIn()+testutil.Sprintf(`
processors:
  tail_sampling:
    decision_wait: 2s
    policies:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: slow, type: latency, latency: {threshold_ms: 500}}
      - {name: rest, type: probabilistic, probabilistic: {hash_salt: %s, sampling_percentage: %v}}
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  jaeger:
    endpoint: %s
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [tail_sampling, batch], exporters: [jaeger]}
`, salt, percent, j.otlpGRPC))

	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	export := func(td ptrace.Traces) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	const n, service = 1000, "tail-e2e"
	kind := func(i uint64) (slow, failed bool) { return i%10 == 3, i%10 == 7 }
	start := time.Now().Add(-time.Minute)
	// Spans 0 and 1 of 100 traces a request, then span 2 of the same.
	for lo := uint64(0); lo < n; lo += 100 {
		for part := range 2 {
			td, ss := tsRequest(service)
			for i := lo; i < lo+100; i++ {
				slow, failed := kind(i)
				if part == 0 {
					tsSpans(ss, tsTraceID(1, i), 0, 2, slow, failed, start)
				} else {
					tsSpans(ss, tsTraceID(1, i), 2, 3, slow, failed, start)
				}
			}
			export(td)
		}
	}
	// After the decisions: a late fourth span of the first 100 traces.
	testutil.Eventually(t, 20*time.Second, "every trace decided", func() bool {
		_, _, held, _ := tailCounts(testutil.Scrape(t, o.telemetry))
		return held == 0
	})
	td, ss := tsRequest(service)
	for i := uint64(0); i < 100; i++ {
		slow, _ := kind(i)
		tsSpans(ss, tsTraceID(1, i), 3, 4, slow, false, start)
	}
	export(td)

	keptPlain, plain := 0, 0
	want := map[string]int{}
	for i := uint64(0); i < n; i++ {
		slow, failed := kind(i)
		spans := 3
		if i < 100 {
			spans = 4
		}
		id := tsTraceID(1, i)
		switch {
		case slow || failed:
			want[id.String()] = spans
		default:
			plain++
			if fnvKeeps(salt, id, percent) {
				keptPlain++
				want[id.String()] = spans
			}
		}
	}
	wantSpans := 0
	for _, s := range want {
		wantSpans += s
	}
	var got map[string]int
	testutil.Eventually(t, 30*time.Second, "sampled traces in jaeger", func() bool {
		got = j.serviceTraces(t, service)
		total := 0
		for _, s := range got {
			total += s
		}
		return total >= wantSpans
	})
	for id, s := range want {
		if got[id] != s {
			t.Errorf("trace %s: %d spans in jaeger, want %d", id, got[id], s)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("trace %s in jaeger, not sampled", id)
		}
	}
	p := percent / 100
	sd := math.Sqrt(float64(plain) * p * (1 - p))
	if d := math.Abs(float64(keptPlain) - float64(plain)*p); d > 3.29*sd {
		t.Errorf("plain traces kept %d of %d, outside %v ± %.1f (99.9 %%)", keptPlain, plain, float64(plain)*p, 3.29*sd)
	}
	received, sampled, held, dropped := tailCounts(testutil.Scrape(t, o.telemetry))
	sum := sampled + held
	for _, v := range dropped {
		sum += v
	}
	if received != float64(3*n+100) || sum != received || sampled != float64(wantSpans) {
		t.Errorf("received %v, sampled %v (want %d), held %v, dropped %v: do not add up", received, sampled, wantSpans, held, dropped)
	}
	fmt.Printf("tail_sampling → jaeger: %d traces (%d error, %d slow, %d plain), 3 spans each in 2 requests + 100 late spans; jaeger holds %d traces, %d spans: every error/slow trace whole with its late span, plain kept %d/%d = %.1f%% (20%% ± %.1f%% at 99.9%%); counters received %.0f = sampled %.0f + dropped %v + held %.0f\n",
		n, n/10, n/10, plain, len(got), wantSpans, keptPlain, plain, 100*float64(keptPlain)/float64(plain), 100*3.29*sd/float64(plain), received, sampled, dropped, held)
}

// procKiB reads a field of /proc/<pid>/status, in KiB.
func procKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	v, err := procStatus(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return v >> 10
}

// TestTailSamplingOverload drives tail_sampling at about 10× what its
// max_bytes holds over one decision_wait, with memory_limit set: the oldest
// traces are decided early (not dropped whole), outpost's peak RSS
// (VmHWM) stays under memory_limit, and received = sampled + dropped by
// reason.
func TestTailSamplingOverload(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 10, KeepRequests: 4})
	o := newOutpost(t)
	const memoryLimit = 64 << 20
	o.start(t, o.otlpIn()+testutil.Sprintf(`
memory_limit: 64MiB
processors:
  tail_sampling:
    decision_wait: 5s
    num_traces: 100000
    max_bytes: 2MiB
    policies:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 10}}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [tail_sampling], exporters: [otlp]}
`, sink.GRPCAddr()))

	// max_bytes 2MiB holds about 2MiB / ~650 bytes ≈ 3200 spans; over a
	// decision_wait of 5s that is ~650 spans/s. 4 senders each send 9
	// requests of 100 traces of 2 spans a second: ~7200 spans/s, ~11×.
	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	var sent, refused atomic.Int64
	var next atomic.Uint64
	ctx, stop := context.WithTimeout(context.Background(), 8*time.Second)
	defer stop()
	start := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			tick := time.NewTicker(110 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				td, ss := tsRequest("tail-overload")
				for range 100 {
					i := next.Add(1)
					tsSpans(ss, tsTraceID(2, i), 0, 2, false, i%50 == 0, start)
				}
				rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.Export(rctx, ptraceotlp.NewExportRequestFromTraces(td))
				cancel()
				if err != nil {
					refused.Add(200)
					continue
				}
				sent.Add(200)
			}
		})
	}
	// While the load runs: the bytes each held span is charged, to state
	// the overload against max_bytes.
	var perSpan float64
	for ctx.Err() == nil {
		time.Sleep(500 * time.Millisecond)
		m := testutil.Scrape(t, o.telemetry)
		p := map[string]string{"processor": "tail_sampling"}
		if held := m.Sum("outpost_processor_tail_sampling_held_spans", p); held > 0 {
			perSpan = m.Sum("outpost_processor_tail_sampling_state_bytes", p) / held
		}
	}
	wg.Wait()
	rate := float64(sent.Load()) / 8
	capacity := float64(2<<20) / perSpan / 5 // spans/s that max_bytes holds over decision_wait
	testutil.Eventually(t, 30*time.Second, "every trace decided and handed on", func() bool {
		received, sampled, held, dropped := tailCounts(testutil.Scrape(t, o.telemetry))
		sum := sampled + held
		for _, v := range dropped {
			sum += v
		}
		return held == 0 && sum == received
	})
	m := testutil.Scrape(t, o.telemetry)
	received, sampled, held, dropped := tailCounts(m)
	early := 0.0
	for _, tr := range []string{"max_bytes", "memory_limit", "num_traces"} {
		early += m.Sum("outpost_processor_tail_sampling_decisions_total", map[string]string{"processor": "tail_sampling", "trigger": tr})
	}
	onTime := m.Sum("outpost_processor_tail_sampling_decisions_total", map[string]string{"processor": "tail_sampling", "trigger": "decision_wait"})
	hwm := procKiB(t, o.pid(), "VmHWM") << 10
	fmt.Printf("tail_sampling overload: %.0f spans/s accepted for 8s (%d refused with back-pressure) against max_bytes 2MiB (%.0f bytes per held span: %.0f spans/s over decision_wait 5s, so %.1f× overload); decisions early %.0f, on time %.0f; received %.0f = sampled %.0f + dropped %v + held %.0f; peak RSS (VmHWM) %.1f MiB, memory_limit %d MiB\n",
		rate, refused.Load(), perSpan, capacity, rate/capacity, early, onTime, received, sampled, dropped, held, float64(hwm)/(1<<20), memoryLimit>>20)
	if rate < 9*capacity {
		t.Errorf("%.0f spans/s accepted: not a 10× overload of %.0f spans/s", rate, capacity)
	}
	if early == 0 {
		t.Error("no early decision at the bounds")
	}
	if received < float64(sent.Load()) {
		t.Errorf("received %.0f spans, fewer than the %d acknowledged to clients", received, sent.Load())
	}
	if hwm >= memoryLimit {
		t.Errorf("peak RSS %d bytes, memory_limit %d", hwm, memoryLimit)
	}
}
