package main

import (
	"fmt"
	"net/url"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestSpanMetricsPrometheus: real telemetrygen traces with a known count
// and error share → spanmetrics → remote write → a real Prometheus. The
// calls by status that PromQL sums must equal the spans sent, exactly,
// under the names the Collector's connector gets through remote write, and
// the duration histogram must carry exemplars with trace ids. The spans
// also go on, whole, through a separate traces pipeline (where a sampler
// would sit: the metrics count the spans before it).
func TestSpanMetricsPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	o := newOutpost(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
connectors:
  spanmetrics:
    metrics_flush_interval: 500ms
    exemplars: {enabled: true}
  spanmetrics/native:
    namespace: native
    metrics_flush_interval: 500ms
    histogram: {exponential: {max_size: 160}}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
  debug: {}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [spanmetrics, spanmetrics/native, debug]}
    metrics: {receivers: [spanmetrics, spanmetrics/native], processors: [batch], exporters: [prometheusremotewrite]}
`, prom.addr))

	// Every telemetrygen trace is a parent and one child span, both with
	// the run's status: 10 % of the traces fail.
	const okTraces, errTraces, unsetTraces = 800, 100, 100
	start := time.Now()
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--service", "checkout", "--traces", strconv.Itoa(okTraces), "--status-code", "Ok")
	telemetrygen(t, "traces", "--otlp-endpoint", o.http, "--otlp-http", "--service", "checkout", "--traces", strconv.Itoa(errTraces), "--status-code", "Error")
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--service", "checkout", "--traces", strconv.Itoa(unsetTraces), "--status-code", "Unset")
	const spans = 2 * (okTraces + errTraces + unsetTraces)

	testutil.Eventually(t, 30*time.Second, "every span counted in Prometheus", func() bool {
		return prom.scalar(t, `sum(traces_span_metrics_calls_total{job="checkout"})`) == spans &&
			prom.scalar(t, `sum(native_calls_total{job="checkout"})`) == spans
	})
	for status, want := range map[string]float64{
		"STATUS_CODE_OK":    2 * okTraces,
		"STATUS_CODE_ERROR": 2 * errTraces,
		"STATUS_CODE_UNSET": 2 * unsetTraces,
	} {
		q := fmt.Sprintf(`sum(traces_span_metrics_calls_total{job="checkout", status_code=%q})`, status)
		if got := prom.scalar(t, q); got != want {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
	}
	// The error ratio a RED dashboard computes.
	if got := prom.scalar(t, `sum(traces_span_metrics_calls_total{status_code="STATUS_CODE_ERROR"}) / sum(traces_span_metrics_calls_total)`); got != 0.1 {
		t.Errorf("error ratio = %v, want 0.1", got)
	}
	// Labels as the Collector's connector gives them after translation.
	r := prom.query(t, `traces_span_metrics_calls_total{job="checkout", status_code="STATUS_CODE_ERROR"}`)
	if len(r) != 2 {
		t.Fatalf("error series %v, want the parent's and the child's", r)
	}
	for _, s := range r {
		if s.Metric["service_name"] != "checkout" || s.Metric["span_name"] == "" || s.Metric["span_kind"] == "" {
			t.Errorf("series labels %v", s.Metric)
		}
	}
	// Durations: telemetrygen's spans last 123 µs, in the first bucket (2 ms).
	for q, want := range map[string]float64{
		`sum(traces_span_metrics_duration_milliseconds_count{job="checkout"})`:             spans,
		`sum(traces_span_metrics_duration_milliseconds_bucket{job="checkout", le="2"})`:    spans,
		`sum(traces_span_metrics_duration_milliseconds_bucket{job="checkout", le="+Inf"})`: spans,
	} {
		if got := prom.scalar(t, q); got != want {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
	}
	// The exponential histogram arrives as a native histogram.
	for q, want := range map[string]float64{
		`sum(histogram_count(native_duration_milliseconds{job="checkout"}))`:                                  spans,
		`sum(histogram_count(native_duration_milliseconds{job="checkout", status_code="STATUS_CODE_ERROR"}))`: 2 * errTraces,
	} {
		if got := prom.scalar(t, q); got != want {
			t.Errorf("%s = %v, want %v", q, got, want)
		}
	}
	// Exemplars with the spans' trace ids, for the link to the trace.
	var ex struct {
		Status string `json:"status"`
		Data   []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	prom.get(t, "/api/v1/query_exemplars?query="+url.QueryEscape(`traces_span_metrics_duration_milliseconds_bucket{job="checkout"}`)+
		fmt.Sprintf("&start=%d&end=%d", start.Add(-time.Minute).Unix(), time.Now().Add(time.Minute).Unix()), &ex)
	n := 0
	for _, d := range ex.Data {
		for _, e := range d.Exemplars {
			if len(e.Labels["trace_id"]) != 32 || len(e.Labels["span_id"]) != 16 {
				t.Errorf("exemplar labels %v: want trace_id and span_id in hex", e.Labels)
			}
			n++
		}
	}
	if n == 0 {
		t.Errorf("no exemplars in Prometheus (%s)", ex.Status)
	}
	// outpost's own count agrees.
	if got := testutil.Scrape(t, o.telemetry).Sum("outpost_connector_spanmetrics_spans_total", map[string]string{"connector": "spanmetrics"}); got != spans {
		t.Errorf("outpost_connector_spanmetrics_spans_total = %v, want %v", got, spans)
	}
	// A clean stop: the connector's final flush and Shutdown.
	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("outpost exit code %d", code)
	}
	t.Logf("spanmetrics e2e: %d spans sent (10 %% errors); Prometheus sums by status equal them; %d exemplars", spans, n)
}

// TestSpanMetricsFinalFlush: with a flush interval longer than the run,
// the counts reach Prometheus only through the connector's final flush at
// shutdown, which the graph runs before the exporter stops: the exporter's
// disk queue keeps it and the next run sends it.
func TestSpanMetricsFinalFlush(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	o := newOutpost(t)
	config := o.otlpIn() + testutil.Sprintf(`
connectors:
  spanmetrics: {metrics_flush_interval: 1h}
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [spanmetrics]}
    metrics: {receivers: [spanmetrics], exporters: [prometheusremotewrite]}
`, prom.addr)
	o.start(t, config)
	telemetrygen(t, "traces", "--otlp-endpoint", o.grpc, "--service", "final", "--traces", "50", "--status-code", "Error")
	if got := prom.scalar(t, `sum(traces_span_metrics_calls_total{job="final"})`); got != -1 {
		t.Fatalf("calls before shutdown = %v, want none yet", got)
	}
	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("outpost exit code %d", code)
	}
	o.start(t, config)
	testutil.Eventually(t, 20*time.Second, "the final flush in Prometheus", func() bool {
		return prom.scalar(t, `sum(traces_span_metrics_calls_total{job="final", status_code="STATUS_CODE_ERROR"})`) == 100
	})
}
