package selftelemetry

import "github.com/prometheus/client_golang/prometheus"

// TailSamplingMetrics are the tail_sampling processor's own metrics. Its
// drops go to Metrics.ProcessorDropped like any other processor's, so
// that received = sampled + dropped (by reason) + held.
type TailSamplingMetrics struct {
	Received   *prometheus.CounterVec // processor: spans received
	Sampled    *prometheus.CounterVec // processor: spans passed on as sampled
	Decisions  *prometheus.CounterVec // processor, decision, trigger: traces decided
	LateSpans  *prometheus.CounterVec // processor, decision: spans that followed a cached decision
	HeldSpans  *prometheus.GaugeVec   // processor
	HeldTraces *prometheus.GaugeVec   // processor
	StateBytes *prometheus.GaugeVec   // processor: estimated bytes held, as charged
}

// newTailSamplingMetrics registers the tail sampling metrics on m's
// registry.
func (m *Metrics) newTailSamplingMetrics() *TailSamplingMetrics {
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
	return &TailSamplingMetrics{
		Received: counter("outpost_processor_tail_sampling_received_spans_total",
			"Spans the tail_sampling processor received.",
			"processor"),
		Sampled: counter("outpost_processor_tail_sampling_sampled_spans_total",
			"Spans the tail_sampling processor passed on because their trace was sampled (late spans included).",
			"processor"),
		Decisions: counter("outpost_processor_tail_sampling_decisions_total",
			"Traces the tail_sampling processor decided, by decision (sampled, not_sampled) and trigger (decision_wait, or early: num_traces, max_bytes, memory_limit, shutdown).",
			"processor", "decision", "trigger"),
		LateSpans: counter("outpost_processor_tail_sampling_late_spans_total",
			"Spans that arrived after their trace was decided and followed the cached decision (sampled: passed on; not_sampled: dropped).",
			"processor", "decision"),
		HeldSpans: gauge("outpost_processor_tail_sampling_held_spans",
			"Spans the tail_sampling processor holds: awaiting their trace's decision, or refused by the next consumer and waiting to be sent again.",
			"processor"),
		HeldTraces: gauge("outpost_processor_tail_sampling_held_traces",
			"Traces the tail_sampling processor holds awaiting a decision.",
			"processor"),
		StateBytes: gauge("outpost_processor_tail_sampling_state_bytes",
			"Estimated bytes of the spans the tail_sampling processor holds (refused ones waiting included), as charged to memory_limit.",
			"processor"),
	}
}
