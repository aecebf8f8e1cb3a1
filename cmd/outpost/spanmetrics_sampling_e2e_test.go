package main

import (
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// TestSpanMetricsUnderSampling: spanmetrics takes 100 % of the spans in
// the first traces pipeline, which hands them through a forward
// connector to a second pipeline with a probabilistic_sampler at 10 %.
// The calls and error counts in the real Prometheus (through remote
// write) must equal those of every span sent, while the traces that
// reach the OTLP sink are 10 % of those sent (binomial 99.9 % bounds),
// whole.
func TestSpanMetricsUnderSampling(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 16})
	o := newOutpost(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
connectors:
  spanmetrics:
    metrics_flush_interval: 500ms
  forward: {}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
  probabilistic_sampler: {sampling_percentage: 10}
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
  otlp:
    endpoint: %s
    tls: {insecure: true}
service:
  pipelines:
    traces/in: {receivers: [otlp], exporters: [spanmetrics, forward]}
    traces/sampled: {receivers: [forward], processors: [probabilistic_sampler, batch], exporters: [otlp]}
    metrics: {receivers: [spanmetrics], processors: [batch], exporters: [prometheusremotewrite]}
`, prom.addr, sink.GRPCAddr()))

	// Every telemetrygen trace is a parent and one child span with the
	// run's status. Runs of 500 traces: telemetrygen's SDK drops spans
	// beyond its 2048-span export queue when it sends unthrottled.
	const okTraces, errTraces, perRun = 4500, 500, 500
	for range okTraces / perRun {
		telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--service", "shop", "--traces", strconv.Itoa(perRun), "--status-code", "Ok")
	}
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--service", "shop", "--traces", strconv.Itoa(errTraces), "--status-code", "Error")
	const traces = okTraces + errTraces
	const spans = 2 * traces

	var last float64
	defer func() {
		if t.Failed() {
			m := testutil.Scrape(t, o.telemetry)
			t.Logf("last sum of calls in Prometheus: %v; spanmetrics counted %v; receiver accepted %v refused %v", last,
				m.Sum("outpost_connector_spanmetrics_spans_total", nil),
				m.Sum("outpost_receiver_accepted_items_total", nil), m.Sum("outpost_receiver_refused_items_total", nil))
		}
	}()
	testutil.Eventually(t, 30*time.Second, "every span counted in Prometheus", func() bool {
		last = prom.scalar(t, `sum(traces_span_metrics_calls_total{job="shop"})`)
		return last == spans
	})
	for status, want := range map[string]float64{"STATUS_CODE_OK": 2 * okTraces, "STATUS_CODE_ERROR": 2 * errTraces} {
		q := fmt.Sprintf(`sum(traces_span_metrics_calls_total{job="shop", status_code=%q})`, status)
		if got := prom.scalar(t, q); got != want {
			t.Errorf("%s = %v, want %v (every span, before sampling)", q, got, want)
		}
	}
	if got := prom.scalar(t, `sum(traces_span_metrics_duration_milliseconds_count{job="shop"})`); got != spans {
		t.Errorf("duration count = %v, want %v", got, spans)
	}

	// The sampler's counters add up to every span, and the sink gets
	// what it kept.
	m := testutil.Scrape(t, o.telemetry)
	kept := m.Sum("outpost_processor_sampler_kept_items_total", map[string]string{"processor": "probabilistic_sampler", "signal": "traces"})
	dropped := m.Sum("outpost_processor_dropped_items_total", map[string]string{"processor": "probabilistic_sampler", "signal": "traces"})
	if kept+dropped != spans {
		t.Errorf("sampler kept %v + dropped %v ≠ %d spans", kept, dropped, spans)
	}
	testutil.Eventually(t, 20*time.Second, "the kept spans at the sink", func() bool { return float64(sink.Spans()) >= kept })
	perTrace := map[pcommon.TraceID]int{}
	for _, td := range sink.Traces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					perTrace[sp.TraceID()]++
					if ts := sp.TraceState().AsRaw(); ts != "ot=th:e666" {
						t.Fatalf("kept span's tracestate %q, want ot=th:e666 (10 %%)", ts)
					}
				}
			}
		}
	}
	for tid, n := range perTrace {
		if n != 2 {
			t.Errorf("trace %v arrived with %d of its 2 spans", tid, n)
		}
	}
	// 10 % of 5000 traces: 500 ± 3.29 σ (σ = √(5000 × 0.1 × 0.9) ≈ 21.2).
	got := float64(len(perTrace))
	sigma := math.Sqrt(traces * 0.1 * 0.9)
	if math.Abs(got-traces*0.1) > 3.29*sigma {
		t.Errorf("%v of %d traces kept, want %v ± %.0f", got, traces, traces*0.1, 3.29*sigma)
	}
	adjusted := m.Sum("outpost_processor_sampler_adjusted_count_total", map[string]string{"processor": "probabilistic_sampler", "signal": "traces"})
	t.Logf("spanmetrics under 10 %% sampling: Prometheus counts %d spans (%d errors) = all sent; %v traces (%v spans) kept at the sink; adjusted count %.0f for %d spans",
		spans, 2*errTraces, got, kept, adjusted, spans)
}
