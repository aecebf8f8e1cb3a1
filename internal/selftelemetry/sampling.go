package selftelemetry

import "github.com/prometheus/client_golang/prometheus"

// SamplingMetrics are the metrics of the sampling processors besides their
// drops, which go to Metrics.ProcessorDropped like any other processor's.
type SamplingMetrics struct {
	// Kept counts items a sampler let through, by reason: sampled (the
	// probabilistic decision), sampling_priority, fail_open,
	// no_trace_id.
	Kept *prometheus.CounterVec // processor, signal, reason
	// AdjustedCount sums the adjusted counts (1/probability, from the
	// threshold written on the item) of the items kept with a threshold:
	// an estimate of the items there were before sampling.
	AdjustedCount *prometheus.CounterVec // processor, signal
	// Probability is the sampling probability in force (0 to 1): the
	// configured one, or the one adaptive sampling set.
	Probability *prometheus.GaugeVec // processor, signal
}

// newSamplingMetrics registers the sampling metrics on m's registry.
func (m *Metrics) newSamplingMetrics() *SamplingMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.Registry.MustRegister(v)
		m.families = append(m.families, Family{Name: name, Help: help})
		return v
	}
	return &SamplingMetrics{
		Kept: counter("outpost_processor_sampler_kept_items_total",
			"Items a sampling processor let through, by reason (sampled, sampling_priority, fail_open, no_trace_id).",
			"processor", "signal", "reason"),
		AdjustedCount: counter("outpost_processor_sampler_adjusted_count_total",
			"Sum of the adjusted counts (1/sampling probability, from the threshold written on each item) of the items a sampling processor kept with a threshold: an estimate of the items before sampling.",
			"processor", "signal"),
		Probability: m.samplingGauge("outpost_processor_sampler_probability",
			"Sampling probability (0 to 1) a probabilistic sampler applies now: sampling_percentage/100, or the probability adaptive sampling lowered it to.",
			"processor", "signal"),
	}
}

func (m *Metrics) samplingGauge(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.Registry.MustRegister(v)
	m.families = append(m.families, Family{Name: name, Help: help})
	return v
}
