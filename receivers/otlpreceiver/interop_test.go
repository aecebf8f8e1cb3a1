package otlpreceiver

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
)

// TestTelemetrygen sends every signal over both transports with
// telemetrygen, whose exporters are the OpenTelemetry Go SDK's: the
// receiver must speak OTLP as real clients do, not only as pdata does.
func TestTelemetrygen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a peer binary")
	}
	bin := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	s := newSink()
	r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
	// telemetrygen traces sends two spans per trace.
	want := map[pipeline.Signal]int{pipeline.SignalTraces: 2 * 10, pipeline.SignalMetrics: 10, pipeline.SignalLogs: 10}
	count := map[pipeline.Signal]string{pipeline.SignalTraces: "--traces", pipeline.SignalMetrics: "--metrics", pipeline.SignalLogs: "--logs"}
	for _, sig := range allSignals {
		for _, transport := range []string{transportGRPC, transportHTTP} {
			args := []string{string(sig), "--otlp-insecure", "--rate", "0", count[sig], "10"}
			if transport == transportHTTP {
				args = append(args, "--otlp-endpoint", r.httpAddr, "--otlp-http")
			} else {
				args = append(args, "--otlp-endpoint", r.grpcAddr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("telemetrygen %v: %v\n%s", args, err, out)
			}
			if got := r.accepted(sig, transport); got != float64(want[sig]) {
				t.Errorf("%s over %s: accepted %v, want %d", sig, transport, got, want[sig])
			}
		}
		if got := s.got(sig); got != 2*want[sig] {
			t.Errorf("%s: sink has %d, want %d", sig, got, 2*want[sig])
		}
	}
}
