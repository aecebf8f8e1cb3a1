package main

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// writeFileAtomic replaces path by rename, as a secret rotation does.
func writeFileAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestFault10_RotatedTokenKeepsBacklog (issue 8, acceptance 4): under
// telemetrygen load, the central side rotates the credential it accepts
// and answers 401 to outpost's token for 30 s; then outpost's token file is
// rotated to the new token. Every span outpost acknowledged arrives (none
// dropped as permanent, as the whole backlog was before), and
// outpost_exporter_blocked{reason="unauthorized"} was 1 during the 401s
// and is 0 after.
func TestFault10_RotatedTokenKeepsBacklog(t *testing.T) {
	const (
		oldToken, newToken = "token-before-rotation", "token-after-rotation"
		unauthorizedFor    = 30 * time.Second
	)
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 20})
	sink.RequireAuthorization("Bearer " + oldToken)
	o := newOutpost(t)
	tokenFile := filepath.Join(filepath.Dir(o.config), "token")
	writeFileAtomic(t, tokenFile, oldToken+"\n")
	o.start(t, o.otlpIn()+testutil.Sprintf(`
node: {name: e2e-node, site: lab}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    auth: {bearer_token_file: %s}
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}
`, sink.GRPCAddr(), tokenFile))

	// Load for the whole scenario: before, during and after the 401s.
	var load sync.WaitGroup
	load.Go(func() {
		telemetrygenRate(t, "100", "traces", "--otlp-endpoint", o.grpc, "--duration", "50s")
	})

	blocked := func() float64 {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_exporter_blocked", map[string]string{"exporter": "otlp", "reason": "unauthorized"})
	}
	time.Sleep(8 * time.Second)
	before := sink.Spans()
	// The central side now accepts only the new token.
	sink.RequireAuthorization("Bearer " + newToken)
	start := time.Now()
	var blockedSeen float64
	samples := 0
	for time.Since(start) < unauthorizedFor {
		blockedSeen = max(blockedSeen, blocked())
		samples++
		time.Sleep(500 * time.Millisecond)
	}
	refused := sink.FailedCount()
	duringAccepted := sink.Spans() - before
	writeFileAtomic(t, tokenFile, newToken+"\n") // the operator rotates outpost's token
	load.Wait()

	accepted := func() float64 {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_receiver_accepted_items_total", map[string]string{"signal": "traces"})
	}
	acked := accepted()
	// Wait for the backlog to drain, but report the figures even if it
	// never does (as before the fix, when the 401s dropped it).
	for deadline := time.Now().Add(90 * time.Second); float64(sink.Spans()) < acked && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
	}
	type spanKey struct {
		trace pcommon.TraceID
		span  pcommon.SpanID
	}
	unique := map[spanKey]bool{}
	total := 0
	for _, td := range sink.Traces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			for j := 0; j < td.ResourceSpans().At(i).ScopeSpans().Len(); j++ {
				spans := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					unique[spanKey{spans.At(k).TraceID(), spans.At(k).SpanID()}] = true
					total++
				}
			}
		}
	}
	m := testutil.Scrape(t, o.telemetry)
	failed := m.Sum("outpost_exporter_failed_items_total", nil)
	blockedAfter := m.Sum("outpost_exporter_blocked", map[string]string{"exporter": "otlp", "reason": "unauthorized"})
	t.Logf("401 for %s under load: %d requests refused; spans acknowledged by outpost %.0f, arrived %d unique (%d duplicates), accepted during the 401s %d; exporter failed items %.0f; outpost_exporter_blocked{unauthorized} max %.0f over %d scrapes during, %.0f after",
		unauthorizedFor, refused, acked, len(unique), total-len(unique), duringAccepted, failed, blockedSeen, samples, blockedAfter)
	if float64(len(unique)) != acked {
		t.Errorf("%d unique spans arrived, outpost acknowledged %.0f", len(unique), acked)
	}
	if refused == 0 {
		t.Errorf("the sink refused no request: the scenario did not happen")
	}
	if failed != 0 {
		t.Errorf("outpost_exporter_failed_items_total = %.0f, want 0", failed)
	}
	if blockedSeen != 1 || blockedAfter != 0 {
		t.Errorf("outpost_exporter_blocked{unauthorized}: %.0f during, %.0f after; want 1 and 0", blockedSeen, blockedAfter)
	}
	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}
