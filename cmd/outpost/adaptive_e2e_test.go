package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// adaptiveConfig is OTLP in → the adaptive probabilistic sampler → batch
// → OTLP out (disk queue, no compression, so that the wire carries what
// the sampler lets through) under an uplink budget of rate.
func adaptiveConfig(o *outpost, sink, rate string) string {
	return o.otlpIn() + testutil.Sprintf(`
uplink: {bytes_per_second: %s}
processors:
  probabilistic_sampler:
    sampling_percentage: 100
    adaptive:
      exporter: otlp
      target_oldest_age: 4s
      interval: 1s
      decrease_factor: 0.5
      increase_step: 10
      hysteresis: 0.5
  batch: {timeout: 200ms, send_batch_size: 256}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    compression: none
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [probabilistic_sampler, batch], exporters: [otlp]}
`, rate, sink)
}

// adaptiveSample is one look at outpost's /metrics.
type adaptiveSample struct {
	at          time.Duration
	probability float64
	items       float64 // spans waiting in the otlp exporter's queue
	bytes       float64
	age         float64
	sent        float64 // bytes on the uplink so far
}

func sampleAdaptive(t *testing.T, o *outpost, start time.Time) adaptiveSample {
	m := testutil.Scrape(t, o.telemetry)
	return adaptiveSample{
		at:          time.Since(start).Round(100 * time.Millisecond),
		probability: m.Sum("outpost_processor_sampler_probability", map[string]string{"processor": "probabilistic_sampler", "signal": "traces"}),
		items:       m.Sum("outpost_queue_items", map[string]string{"exporter": "otlp"}),
		bytes:       m.Sum("outpost_queue_bytes", map[string]string{"exporter": "otlp"}),
		age:         m.Sum("outpost_queue_oldest_age_seconds", map[string]string{"exporter": "otlp", "lane": "normal"}),
		sent:        m.Sum("outpost_uplink_bytes_total", map[string]string{"exporter": "otlp"}),
	}
}

// TestAdaptiveSamplingE2E: telemetrygen offers 1000 spans/s (about
// 200 kB/s on the wire uncompressed) to outpost under a 24 KiB/s uplink.
// The sampler, tied to the disk queue's oldest age (target 4 s, a step a
// second, halving), must lower its probability until the backlog stops
// growing: within 30 s of the start (the age passes 4 s after a few
// seconds, then about three halvings reach the ~12 % the uplink carries);
// the queue's peak is then behind it. The budget is then lifted by a
// config reload (SIGHUP): the new sampler instance starts from the
// persisted probability and climbs back to 100 % once the backlog drained.
func TestAdaptiveSamplingE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 10})
	o := newOutpost(t)
	o.start(t, adaptiveConfig(o, sink.GRPCAddr(), "24KiB/s"))

	done := make(chan struct{})
	go func() {
		defer close(done)
		// 500 traces/s of a parent and a child span, for 100 s.
		telemetrygenRate(t, "500", "traces", "--otlp-endpoint", o.grpc, "--duration", "100s", "--service", "adaptive")
	}()
	start := time.Now()
	var phase1 []adaptiveSample
	for time.Since(start) < 60*time.Second {
		time.Sleep(2 * time.Second)
		phase1 = append(phase1, sampleAdaptive(t, o, start))
	}
	var log strings.Builder
	// The control law is AIMD: under a budget the backlog saws (it grows
	// while the probability climbs back, falls after each cut), so "it stops
	// growing" means it stays bounded: its peak over 30–60 s is within 2× its
	// peak over the first 30 s and its oldest age within 4× the 4 s target.
	// Without the controller it would grow by about 700 of the 1000 spans/s
	// offered (the budget carries about 280 a second), past 20,000 spans
	// by 30 s.
	minP, peakItems, peakAt := 1.0, 0.0, time.Duration(0)
	var peakEarly, peakLate, ageLate float64
	for _, s := range phase1 {
		fmt.Fprintf(&log, "%v: p=%.3f queue %0.f spans %.0f B age %.1fs; ", s.at, s.probability, s.items, s.bytes, s.age)
		minP = min(minP, s.probability)
		if s.items > peakItems {
			peakItems, peakAt = s.items, s.at
		}
		if s.at <= 30*time.Second {
			peakEarly = max(peakEarly, s.items)
		} else {
			peakLate, ageLate = max(peakLate, s.items), max(ageLate, s.age)
		}
	}
	t.Logf("budget 24 KiB/s: %s", log.String())
	last := phase1[len(phase1)-1]
	first := phase1[len(phase1)/2]
	rate := (last.sent - first.sent) / (last.at - first.at).Seconds()
	var sum, maxLate float64
	for _, s := range phase1[len(phase1)/2:] {
		sum += s.probability
		maxLate = max(maxLate, s.probability)
	}
	mean := sum / float64(len(phase1)-len(phase1)/2)
	t.Logf("peak backlog %.0f spans at %v; uplink %.0f B/s over 30–60 s; probability min %.3f, mean over 30–60 s %.3f", peakItems, peakAt, rate, minP, mean)
	if minP >= 1 || mean >= 0.5 {
		t.Errorf("the probability did not fall under a budget ~8× below the volume: min %.3f, mean %.3f", minP, mean)
	}
	if maxLate >= 1 {
		t.Errorf("under the low budget the probability climbed back to 1 (30–60 s)")
	}
	if minP < 0.01 {
		t.Errorf("probability %.4f below the floor 0.01", minP)
	}
	t.Logf("backlog peak %.0f spans over 0–30 s, %.0f over 30–60 s; oldest age over 30–60 s at most %.1fs", peakEarly, peakLate, ageLate)
	if peakLate > 2*peakEarly || ageLate > 4*4 {
		t.Errorf("the backlog kept growing after 30 s: peak %.0f spans over 30–60 s against %.0f before (at most 2×), oldest age %.1fs (at most 16s)", peakLate, peakEarly, ageLate)
	}
	if rate > 1.2*24*1024 {
		t.Errorf("uplink %.0f B/s over a 24 KiB/s budget", rate)
	}

	// Lift the budget: reload with an unlimited uplink.
	if err := os.WriteFile(o.config, []byte(adaptiveConfig(o, sink.GRPCAddr(), "0")), 0o644); err != nil {
		t.Fatal(err)
	}
	o.proc.Signal(t, syscall.SIGHUP)
	raised := time.Now()
	testutil.Eventually(t, 10*time.Second, "reload success", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", map[string]string{"result": "success"}) == 1
	})
	after := sampleAdaptive(t, o, start)
	if after.probability >= 1 {
		t.Errorf("the reloaded sampler started at %.3f, not from the persisted probability", after.probability)
	}
	log.Reset()
	var recovered time.Duration
	for time.Since(raised) < 30*time.Second {
		s := sampleAdaptive(t, o, start)
		fmt.Fprintf(&log, "%v: p=%.3f queue %.0f spans age %.1fs; ", s.at, s.probability, s.items, s.age)
		// Drained: what is queued is younger than the exporter's batching
		// wait (queue.batch.flush_timeout, 1 s) plus a second, however many
		// spans that is.
		if s.probability >= 1 && s.age < 2 {
			recovered = time.Since(raised)
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("budget lifted at %v (p=%.3f): %s", raised.Sub(start).Round(time.Second), after.probability, log.String())
	if recovered == 0 {
		t.Fatalf("probability and backlog did not recover within 30 s of lifting the budget")
	}
	t.Logf("recovered to p=1 with the backlog drained %v after the budget was lifted", recovered.Round(100*time.Millisecond))
	<-done
	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("outpost exit code %d", code)
	}
}
