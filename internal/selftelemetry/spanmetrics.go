package selftelemetry

import "github.com/prometheus/client_golang/prometheus"

// SpanMetricsMetrics are the metrics of the spanmetrics connector.
type SpanMetricsMetrics struct {
	Spans    *prometheus.CounterVec // connector: spans counted
	Overflow *prometheus.CounterVec // connector, metric, reason: spans (events) counted in an overflow series
	// Dropped counts spans whose counts were lost: never delivered by a
	// flush (reason refused, shutdown) or held by an expired series.
	Dropped        *prometheus.CounterVec // connector, reason
	RefusedFlushes *prometheus.CounterVec // connector: flushes refused with a retryable error
	Series         *prometheus.GaugeVec   // connector: series held, overflow series included
	StateBytes     *prometheus.GaugeVec   // connector: estimated bytes of the state
}

// newSpanMetricsMetrics registers the spanmetrics metrics on m's registry.
func (m *Metrics) newSpanMetricsMetrics() *SpanMetricsMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.Registry.MustRegister(v)
		m.families = append(m.families, Family{Name: name, Help: help})
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		m.Registry.MustRegister(v)
		m.families = append(m.families, Family{Name: name, Help: help})
		return v
	}
	return &SpanMetricsMetrics{
		Spans: counter("outpost_connector_spanmetrics_spans_total",
			"Spans the spanmetrics connector counted into its calls and duration metrics.",
			"connector"),
		Overflow: counter("outpost_connector_spanmetrics_overflow_total",
			"Spans (metric=calls) and span events (metric=events) the spanmetrics connector counted in an overflow series (otel.metric.overflow=true) because their own series had no room (reason: limit, max_series, memory_limit, resource_limit).",
			"connector", "metric", "reason"),
		Dropped: counter("outpost_connector_spanmetrics_dropped_spans_total",
			"Spans whose counts the spanmetrics connector lost: in a flush refused for good in delta temporality (reason refused), in a failed final flush (shutdown), or held undelivered by a series that expired (expired).",
			"connector", "reason"),
		RefusedFlushes: counter("outpost_connector_spanmetrics_refused_flushes_total",
			"Flushes of the spanmetrics connector refused by the metrics pipeline with a retryable error (back-pressure); their counts are sent with the next flush.",
			"connector"),
		Series: gauge("outpost_connector_spanmetrics_series",
			"Series the spanmetrics connector holds, overflow series included.",
			"connector"),
		StateBytes: gauge("outpost_connector_spanmetrics_state_bytes",
			"Estimated bytes of the spanmetrics connector's series (also charged to memory_limit).",
			"connector"),
	}
}
