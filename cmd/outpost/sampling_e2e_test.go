package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestProbabilisticSamplingTwoOutposts: two outposts with the same
// probabilistic_sampler configuration each get half of the spans of every
// trace and export to one real Jaeger. Every trace whose randomness is at
// least the 30 % threshold arrives whole — the spans of both outposts,
// with the threshold in their tracestate — and no span of any other trace
// arrives; each outpost's counters add up to the spans it received.
func TestProbabilisticSamplingTwoOutposts(t *testing.T) {
	j := startJaegerPeer(t)
	const (
		traces        = 200
		spansPerTrace = 4
	)
	nodes := []string{"edge-a", "edge-b"}
	var outposts []*outpost
	for _, node := range nodes {
		o := newOutpost(t)
		o.start(t, o.otlpIn()+testutil.Sprintf(`
node: {name: %s, site: lab}
processors:
  probabilistic_sampler: {sampling_percentage: 30}
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  jaeger:
    endpoint: %s
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [probabilistic_sampler, batch], exporters: [jaeger]}
`, node, j.otlpGRPC))
		outposts = append(outposts, o)
	}

	// The decision, as the specification defines it: keep when the low
	// 56 bits of the trace id are at least the threshold of 30 %.
	th, err := sampling.ProbabilityToThresholdWithPrecision(0.3, 4)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2026, 12))
	ids := make([]pcommon.TraceID, traces)
	sampled := map[pcommon.TraceID]bool{}
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:8], r.Uint64())
		binary.BigEndian.PutUint64(ids[i][8:], r.Uint64())
		sampled[ids[i]] = th.ShouldSample(sampling.TraceIDToRandomness(ids[i]))
	}

	// Spans 0 and 1 of each trace go to edge-a, 2 and 3 to edge-b.
	start := pcommon.Timestamp(time.Now().Add(-time.Minute).UnixNano())
	for half, o := range outposts {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "e2e-sampling")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i, id := range ids {
			for k := half * spansPerTrace / 2; k < (half+1)*spansPerTrace/2; k++ {
				sp := spans.AppendEmpty()
				sp.SetTraceID(id)
				sp.SetSpanID(pcommon.SpanID{0xe2, byte(i >> 8), byte(i), byte(k), 1, 2, 3, 4})
				if k > 0 {
					sp.SetParentSpanID(pcommon.SpanID{0xe2, byte(i >> 8), byte(i), 0, 1, 2, 3, 4})
				}
				sp.SetName(fmt.Sprintf("step %d", k))
				sp.SetStartTimestamp(start + pcommon.Timestamp(k)*1000)
				sp.SetEndTimestamp(start + 1_000_000 - pcommon.Timestamp(k)*1000)
			}
		}
		conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		cancel()
		conn.Close()
		if err != nil {
			t.Fatalf("export to %s: %v", nodes[half], err)
		}
	}

	// Each outpost: received = kept + dropped, and everything kept has
	// been delivered before absence in Jaeger is taken as a drop.
	want := 0
	for _, s := range sampled {
		if s {
			want++
		}
	}
	for i, o := range outposts {
		testutil.Eventually(t, 20*time.Second, nodes[i]+" delivered what it kept", func() bool {
			m := testutil.Scrape(t, o.telemetry)
			return m.Sum("outpost_exporter_sent_items_total", map[string]string{"exporter": "jaeger"}) == float64(want*spansPerTrace/2)
		})
		m := testutil.Scrape(t, o.telemetry)
		kept := m.Sum("outpost_processor_sampler_kept_items_total", map[string]string{"reason": "sampled", "signal": "traces"})
		dropped := m.Sum("outpost_processor_dropped_items_total", map[string]string{"processor": "probabilistic_sampler", "reason": "sampled_out"})
		if kept != float64(want*spansPerTrace/2) || kept+dropped != traces*spansPerTrace/2 {
			t.Errorf("%s: kept %v + dropped %v, want %d + %d", nodes[i], kept, dropped, want*spansPerTrace/2, (traces-want)*spansPerTrace/2)
		}
		if est := m.Sum("outpost_processor_sampler_adjusted_count_total", map[string]string{"signal": "traces"}); est < kept*3.3 || est > kept*3.34 {
			t.Errorf("%s: adjusted count sum %v for %v spans kept at 30 %%", nodes[i], est, kept)
		}
	}

	for _, id := range ids {
		if !sampled[id] {
			continue
		}
		got := j.trace(t, id, spansPerTrace)
		seen := map[string]int{}
		for _, rs := range got.ResourceSpans().All() {
			node, _ := rs.Resource().Attributes().Get("node.name")
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					seen[node.Str()]++
					if ts := sp.TraceState().AsRaw(); ts != "ot=th:"+th.TValue() {
						t.Errorf("trace %s: span tracestate %q, want ot=th:%s", id, ts, th.TValue())
					}
				}
			}
		}
		if got.SpanCount() != spansPerTrace || seen["edge-a"] != 2 || seen["edge-b"] != 2 {
			t.Errorf("trace %s in jaeger: %d spans by node %v, want 2 from each outpost", id, got.SpanCount(), seen)
		}
	}
	absent := 0
	for _, id := range ids {
		if sampled[id] {
			continue
		}
		code, body, err := testutil.HTTPGet(j.query + "/api/v3/traces/" + id.String())
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusNotFound { // Jaeger answers 404 "No traces found"
			t.Errorf("trace %s was not sampled but Jaeger answers %d: %.200s", id, code, body)
			continue
		}
		absent++
	}
	fmt.Printf("sampling e2e: two outposts, probabilistic_sampler 30%% (th %s), %d traces of %d spans split between them: %d sampled traces whole in Jaeger (2 spans from each outpost), %d unsampled absent\n",
		th.TValue(), traces, spansPerTrace, want, absent)
}
