package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// TestSmallRequestsBecomeFewLargeUplinkRequests: many small OTLP requests
// (telemetrygen: 10 workers, 1000 traces/s each asked, 2 spans a trace,
// each trace its own request) go through outpost with its default disk
// queue to a sink; the exporter's senders merge the queued records, so the
// sink sees few large requests, and every span the receiver acknowledged
// arrives exactly once. It prints requests, spans per request and wire
// bytes per span at the sink.
func TestSmallRequestsBecomeFewLargeUplinkRequests(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 22, KeepRequests: 1 << 16})
	o := newOutpost(t)
	o.start(t, testutil.Sprintf(`
storage: {directory: %s}
telemetry: {address: %s}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: %s}
processors:
  batch: {}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    compression: zstd
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}
`, filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, o.grpc, sink.GRPCAddr()))

	bin := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "traces", "--otlp-endpoint", o.grpc, "--otlp-insecure",
		"--workers", "10", "--rate", "1000", "--child-spans", "1", "--duration", "4s").CombinedOutput()
	if err != nil {
		t.Fatalf("telemetrygen: %v\n%s", err, out)
	}
	accepted := func() float64 {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_receiver_accepted_items_total", map[string]string{"signal": "traces"})
	}
	acked := accepted()
	testutil.Eventually(t, 30*time.Second, "every acknowledged span at the sink", func() bool {
		return float64(sink.Spans()) >= acked
	})
	time.Sleep(500 * time.Millisecond) // nothing more may come
	reqs := sink.Requests()
	wire, spans := 0, 0
	for _, r := range reqs {
		wire += r.WireBytes
		spans += r.Items
	}
	ids := map[[8]byte]int{}
	for _, td := range sink.Traces() {
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				sp := sss.At(j).Spans()
				for k := range sp.Len() {
					ids[sp.At(k).SpanID()]++
				}
			}
		}
	}
	dups := 0
	for _, n := range ids {
		dups += n - 1
	}
	t.Logf("telemetrygen traces --workers 10 --rate 1000 --child-spans 1 --duration 4s: %g spans acknowledged; sink: %d spans in %d requests (%.0f spans/request), %.1f wire bytes/span, %d duplicate span ids",
		acked, sink.Spans(), len(reqs), float64(spans)/float64(max(len(reqs), 1)), float64(wire)/float64(max(spans, 1)), dups)
	if float64(sink.Spans()) != acked || spans != int(sink.Spans()) || len(ids) != spans || dups != 0 {
		t.Fatalf("sink got %d spans (%d distinct) for %g acknowledged", sink.Spans(), len(ids), acked)
	}
	// Few, large requests: with the defaults (min_size 8192, flush_timeout
	// 1s) at most about one request a second, plus the ones max_size cuts.
	if limit := 10 + spans/8192; len(reqs) > limit {
		t.Fatalf("%d requests for %d spans, want at most %d", len(reqs), spans, limit)
	}
}
