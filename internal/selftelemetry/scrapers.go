package selftelemetry

import "github.com/prometheus/client_golang/prometheus"

// ScraperMetrics are the metrics of the receivers that poll a source at an
// interval (hostmetrics, outpost) besides the receiver metrics they share
// with every receiver.
type ScraperMetrics struct {
	// Errors counts what a scraper could not read in a cycle, by scraper
	// and reason; the cycle still sends what was read.
	Errors *prometheus.CounterVec // receiver, scraper, reason
}

// newScraperMetrics registers the scraper metrics on m's registry.
func (m *Metrics) newScraperMetrics() *ScraperMetrics {
	const name = "outpost_receiver_scraper_errors_total"
	const help = "Failures of a polling receiver's scrapers, by scraper and reason (read, statfs, timeout, hung, gather); the cycle still sends what was read."
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"receiver", "scraper", "reason"})
	m.Registry.MustRegister(v)
	m.families = append(m.families, Family{Name: name, Help: help})
	return &ScraperMetrics{Errors: v}
}
