package selftelemetry

import "github.com/prometheus/client_golang/prometheus"

// ReduceMetrics are the metrics of the processors that reduce data at the
// edge by keeping state: log_dedup, throttle and cardinality_limit. Drops
// by these processors go to Metrics.ProcessorDropped like any other
// processor's.
type ReduceMetrics struct {
	DedupMerged   *prometheus.CounterVec // processor: records merged into an identical one
	DedupBypassed *prometheus.CounterVec // processor, reason: records passed on at once, not held
	DedupState    *prometheus.GaugeVec   // processor: bytes of held records
	// DedupRefusedFlushes counts flushes the next consumer refused with a
	// retryable error; their records are kept for the next flush.
	DedupRefusedFlushes *prometheus.CounterVec // processor
	ThrottleStream      *prometheus.GaugeVec   // processor: streams with a token bucket
	CardOverflow        *prometheus.CounterVec // processor, reason: points folded into an overflow series
	CardSeries          *prometheus.GaugeVec   // processor: series tracked
}

// newReduceMetrics registers the reduce metrics on m's registry.
func (m *Metrics) newReduceMetrics() *ReduceMetrics {
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
	return &ReduceMetrics{
		DedupMerged: counter("outpost_processor_log_dedup_merged_items_total",
			"Log records the log_dedup processor merged into an identical record it already held (each emitted record stands for log_count received ones: log_count-1 are counted here).",
			"processor"),
		DedupBypassed: counter("outpost_processor_log_dedup_bypassed_items_total",
			"Log records the log_dedup processor passed on at once instead of holding them, because its state was full (reason: max_bytes, memory_limit).",
			"processor", "reason"),
		DedupState: gauge("outpost_processor_log_dedup_state_bytes",
			"Estimated bytes of the records the log_dedup processor holds, including a refused flush kept for the next one.",
			"processor"),
		DedupRefusedFlushes: counter("outpost_processor_log_dedup_refused_flushes_total",
			"Flushes of the log_dedup processor that the next consumer refused with a retryable error (back-pressure); their records are kept, merged with newer identical ones, for the next flush.",
			"processor"),
		ThrottleStream: gauge("outpost_processor_throttle_streams",
			"Streams the throttle processor keeps a token bucket for.",
			"processor"),
		CardOverflow: counter("outpost_processor_cardinality_overflow_points_total",
			"Data points the cardinality_limit processor folded into a metric's overflow series (reason: limit, max_series).",
			"processor", "reason"),
		CardSeries: gauge("outpost_processor_cardinality_series",
			"Series (metric, resource, scope and point attributes) the cardinality_limit processor tracks.",
			"processor"),
	}
}
