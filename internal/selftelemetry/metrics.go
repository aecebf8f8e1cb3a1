// Package selftelemetry defines every metric outpost exposes about itself and
// serves them, with health and profiling endpoints, on telemetry.address.
//
// All metric families are declared here, in one table, so that
// docs/metrics.md can be checked against it; components take the vectors
// they need from Metrics and never register their own. A Metrics value
// outlives configuration reloads, so counters keep counting across them.
package selftelemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds outpost's own metric vectors and the registry that exposes
// them.
type Metrics struct {
	Registry *prometheus.Registry

	ReceiverAccepted *prometheus.CounterVec // receiver, signal, transport
	ReceiverRefused  *prometheus.CounterVec // receiver, signal, transport, reason
	// ReceiverBadRequests counts requests refused before their items could
	// be counted (undecodable, too large, wrong content type).
	ReceiverBadRequests *prometheus.CounterVec // receiver, signal, transport, reason
	// ReceiverDroppedExemplars counts exemplars a receiver left out
	// although it accepted their request.
	ReceiverDroppedExemplars *prometheus.CounterVec // receiver, reason
	// ReceiverScrapesSkipped counts scrapes whose data the pipeline (or
	// memory_limit) refused: the prometheus receiver skips the cycle.
	ReceiverScrapesSkipped *prometheus.CounterVec // receiver, reason

	ProcessorDropped     *prometheus.CounterVec   // processor, signal, reason
	ProcessorBatchSize   *prometheus.HistogramVec // processor, signal
	ProcessorBatchFlush  *prometheus.CounterVec   // processor, signal, trigger
	PipelineClonedItems  *prometheus.CounterVec   // signal
	ExporterSent         *prometheus.CounterVec   // exporter, signal
	ExporterSentBytes    *prometheus.CounterVec   // exporter, signal
	ExporterFailed       *prometheus.CounterVec   // exporter, signal, reason
	ExporterRetries      *prometheus.CounterVec   // exporter, signal
	ExporterSendDuration *prometheus.HistogramVec // exporter, signal
	// ExporterBlocked is 1 while an exporter's sends fail for a reason of
	// the endpoint (credentials, routing, TLS, DNS), 0 once one succeeds.
	ExporterBlocked *prometheus.GaugeVec // exporter, reason

	// The durable queue of each exporter (pipeline/queue).
	QueueBytes     *prometheus.GaugeVec   // exporter, lane: bytes of queued records
	QueueRecords   *prometheus.GaugeVec   // exporter, lane: queued records (request bodies)
	QueueItems     *prometheus.GaugeVec   // exporter, lane: items in the queued records
	QueueOldestAge *prometheus.GaugeVec   // exporter, lane: age of the oldest queued record, seconds
	QueueCapacity  *prometheus.GaugeVec   // exporter: max_bytes
	QueueDropped   *prometheus.CounterVec // exporter, lane, reason: items the queue dropped
	QueueCorrupt   *prometheus.CounterVec // exporter: corrupt or torn records found and set aside
	// QueueIOErrors counts failed reads of the queue's own files (not
	// corruption: the data is retried); QueueUnreadable is the size of the
	// segments kept aside because their format version is unknown.
	QueueIOErrors   *prometheus.CounterVec // exporter, op (open, read)
	QueueUnreadable *prometheus.GaugeVec   // exporter, lane: bytes
	// QueueOrphanedBytes is set at start and reload for each queue
	// directory under storage.directory that no running exporter owns and
	// that still holds records.
	QueueOrphanedBytes *prometheus.GaugeVec // directory

	// QueueFsyncErrors counts failed fsyncs of a disk queue's segments and
	// lane directories.
	QueueFsyncErrors *prometheus.CounterVec // exporter

	// The shared uplink budget (pipeline/uplink).
	UplinkRate  prometheus.Gauge       // bytes per second
	UplinkBurst prometheus.Gauge       // bytes
	UplinkBytes *prometheus.CounterVec // exporter: bytes granted, as sent on the wire
	UplinkWait  *prometheus.CounterVec // exporter: seconds spent waiting for the budget

	// The global memory limit (pipeline/memlimit).
	MemoryLimit    prometheus.Gauge // bytes; 0 when unlimited
	MemoryInFlight prometheus.Gauge // bytes held by requests in flight and memory queues

	// Reduce holds the metrics of the stateful reducing processors.
	Reduce *ReduceMetrics
	// ProcessorRedacted counts what the redaction processor removed or
	// masked.
	ProcessorRedacted *prometheus.CounterVec // processor, signal, reason
	// The aggregate processor (processors/aggregateprocessor); its drops
	// go to ProcessorDropped.
	AggregateStateBytes *prometheus.GaugeVec // processor: bytes of state, as counted against max_bytes
	AggregateSeries     *prometheus.GaugeVec // processor: input series tracked
	// The aggregate processor's dedup_interval: points replaced in their
	// window, and points passed on undeduplicated for want of room.
	AggregateDeduplicated  *prometheus.CounterVec // processor
	AggregateDedupBypassed *prometheus.CounterVec // processor, reason
	// TailSampling holds the tail_sampling processor's metrics.
	TailSampling *TailSamplingMetrics
	// SpanMetrics holds the metrics of the spanmetrics connector.
	SpanMetrics *SpanMetricsMetrics
	// Sampling holds the metrics of the sampling processors.
	Sampling *SamplingMetrics
	// Scrapers holds the metrics of the polling receivers.
	Scrapers *ScraperMetrics
	// Filelog holds the filelog receiver's own metrics.
	Filelog *FilelogMetrics

	BuildInfo     *prometheus.GaugeVec   // version, revision, config_hash
	ConfigReloads *prometheus.CounterVec // result

	families []Family
}

// Family describes one metric family for the docs check.
type Family struct {
	Name string
	Help string
}

// New creates the metric vectors and registers them, with the Go runtime and
// process collectors, on a new registry.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.Registry.MustRegister(v)
		m.families = append(m.families, Family{Name: name, Help: help})
		return v
	}
	m.ReceiverAccepted = counter("outpost_receiver_accepted_items_total",
		"Items (spans, metric data points, log records) a receiver handed to its pipelines and acknowledged to the client.",
		"receiver", "signal", "transport")
	m.ReceiverRefused = counter("outpost_receiver_refused_items_total",
		"Items a receiver answered with an error, so the client keeps them (or drops them if the error is permanent).",
		"receiver", "signal", "transport", "reason")
	m.ReceiverBadRequests = counter("outpost_receiver_bad_requests_total",
		"Requests a receiver refused before it could count their items: undecodable body, too large, unsupported content type or encoding, wrong method, memory_limit, missing or wrong credentials.",
		"receiver", "signal", "transport", "reason")
	m.ReceiverDroppedExemplars = counter("outpost_receiver_dropped_exemplars_total",
		"Exemplars a receiver left out of a request it accepted, by reason.",
		"receiver", "reason")
	m.ReceiverScrapesSkipped = counter("outpost_receiver_scrapes_skipped_total",
		"Scrapes a prometheus receiver skipped because the pipeline or memory_limit refused their data; the data is not retried.",
		"receiver", "reason")
	m.ProcessorDropped = counter("outpost_processor_dropped_items_total",
		"Items a processor dropped, by reason.",
		"processor", "signal", "reason")
	m.ProcessorBatchFlush = counter("outpost_processor_batch_flushes_total",
		"Batches the batch processor sent on, by what triggered the send (size, timeout, idle, shutdown).",
		"processor", "signal", "trigger")
	m.PipelineClonedItems = counter("outpost_pipeline_cloned_items_total",
		"Items copied by a fan-out so that a consumer that mutates data never shares a batch with another consumer.",
		"signal")
	m.ExporterSent = counter("outpost_exporter_sent_items_total",
		"Items an exporter delivered and the far side acknowledged.",
		"exporter", "signal")
	m.ExporterSentBytes = counter("outpost_exporter_sent_bytes_total",
		"Request body bytes an exporter delivered, as they went on the wire (after compression).",
		"exporter", "signal")
	m.ExporterFailed = counter("outpost_exporter_failed_items_total",
		"Items an exporter could not deliver, by reason (permanent, retries_exhausted, rejected, shutdown, write, encode).",
		"exporter", "signal", "reason")
	m.ExporterRetries = counter("outpost_exporter_send_retries_total",
		"Send attempts an exporter repeated after a retryable failure.",
		"exporter", "signal")
	m.QueueDropped = counter("outpost_queue_dropped_items_total",
		"Items an exporter's queue dropped, by lane and reason (queue_full, expired).",
		"exporter", "lane", "reason")
	m.QueueFsyncErrors = counter("outpost_queue_fsync_errors_total",
		"Failed fsyncs of an exporter's disk queue (segments and lane directories); the records they covered are not known durable.",
		"exporter")
	m.QueueCorrupt = counter("outpost_queue_corrupt_records_total",
		"Torn or corrupt records an exporter's disk queue found (by checksum) and set aside.",
		"exporter")
	m.QueueIOErrors = counter("outpost_queue_io_errors_total",
		"I/O errors (not checksum mismatches) an exporter's disk queue got opening or reading its own files, by operation (open, read); the data stays queued and is retried with backoff.",
		"exporter", "op")
	m.UplinkBytes = counter("outpost_uplink_bytes_total",
		"Bytes an exporter sent through the shared uplink budget, counted on the wire after compression.",
		"exporter")
	m.UplinkWait = counter("outpost_uplink_wait_seconds_total",
		"Time an exporter's senders spent waiting for the uplink budget.",
		"exporter")
	m.ProcessorRedacted = counter("outpost_processor_redacted_total",
		"Attributes and log bodies the redaction processor changed, by reason (key_not_allowed: removed; blocked_key: whole value masked; blocked_value: matches in the value masked).",
		"processor", "signal", "reason")
	m.ConfigReloads = counter("outpost_config_reloads_total",
		"Configuration reloads, by result (success, invalid, failed).",
		"result")

	m.ProcessorBatchSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "outpost_processor_batch_size_items",
		Help:    "Items in each batch the batch processor sent on.",
		Buckets: []float64{10, 100, 500, 1000, 2000, 5000, 8192, 16384, 50000},
	}, []string{"processor", "signal"})
	m.ExporterSendDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "outpost_exporter_send_duration_seconds",
		Help:    "Duration of each send attempt, successful or not.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30},
	}, []string{"exporter", "signal"})
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		m.Registry.MustRegister(v)
		m.families = append(m.families, Family{Name: name, Help: help})
		return v
	}
	m.QueueBytes = gauge("outpost_queue_bytes",
		"Disk (or memory) the exporter's queue uses, by lane: its segment files, which hold the waiting records and, until the segment is deleted, acknowledged ones before them; this is what counts against max_bytes.",
		"exporter", "lane")
	m.QueueRecords = gauge("outpost_queue_records",
		"Records (ready-to-send request bodies) waiting in an exporter's queue, by lane.",
		"exporter", "lane")
	m.QueueItems = gauge("outpost_queue_items",
		"Items in the records waiting in an exporter's queue, by lane.",
		"exporter", "lane")
	m.QueueOldestAge = gauge("outpost_queue_oldest_age_seconds",
		"Age of the oldest record waiting in an exporter's queue, by lane; 0 when the lane is empty.",
		"exporter", "lane")
	m.QueueCapacity = gauge("outpost_queue_capacity_bytes",
		"The queue's max_bytes.",
		"exporter")
	m.QueueUnreadable = gauge("outpost_queue_unreadable_bytes",
		"Bytes of queue segments kept aside, never deleted, because their format version is unknown to this binary (written by a newer outpost), by lane.",
		"exporter", "lane")
	m.QueueOrphanedBytes = gauge("outpost_queue_orphaned_bytes",
		"Bytes of a queue directory under storage.directory that no configured exporter owns and that still holds records (a renamed or removed exporter's backlog); see `outpost queue adopt`.",
		"directory")
	m.UplinkRate = gauge("outpost_uplink_budget_bytes_per_second",
		"The uplink budget's rate (uplink.bytes_per_second); 0 when unlimited.").WithLabelValues()
	m.UplinkBurst = gauge("outpost_uplink_burst_bytes",
		"The uplink budget's burst (uplink.burst).").WithLabelValues()
	m.ExporterBlocked = gauge("outpost_exporter_blocked",
		"1 while an exporter's sends fail because of the endpoint (reason: unauthorized, forbidden, not_found, proxy_auth, client_error, credentials, tls, dns, unknown) and its data stays queued; 0 once a send succeeds.",
		"exporter", "reason")
	m.MemoryLimit = gauge("outpost_memory_limit_bytes",
		"The memory_limit: bytes in flight above which receivers refuse new data; 0 when unlimited.").WithLabelValues()
	m.MemoryInFlight = gauge("outpost_memory_in_flight_bytes",
		"Bytes held by requests in flight through receivers and processors and by memory queues, as counted against memory_limit.").WithLabelValues()
	m.AggregateStateBytes = gauge("outpost_processor_aggregate_state_bytes",
		"Bytes of state an aggregate processor holds (input series, output groups, quantile samples, points held by dedup_interval), as counted against its max_bytes.",
		"processor")
	m.AggregateSeries = gauge("outpost_processor_aggregate_series",
		"Input series an aggregate processor tracks, over all its rules (not the points dedup_interval holds: see its state bytes).",
		"processor")
	m.AggregateDeduplicated = counter("outpost_processor_aggregate_deduplicated_points_total",
		"Data points an aggregate processor's dedup_interval left out because a point of the same series with a later (or equal, arrived later) timestamp went on for the same window.",
		"processor")
	m.AggregateDedupBypassed = counter("outpost_processor_aggregate_dedup_bypassed_points_total",
		"Data points an aggregate processor's dedup_interval passed on at once, undeduplicated, because a new series would pass max_bytes (reason: max_bytes).",
		"processor", "reason")
	m.BuildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outpost_build_info",
		Help: "Always 1; labels give the version and revision of the binary and a hash of the running configuration.",
	}, []string{"version", "revision", "config_hash"})
	m.Registry.MustRegister(m.ProcessorBatchSize, m.ExporterSendDuration, m.BuildInfo)
	m.families = append(m.families,
		Family{Name: "outpost_processor_batch_size_items", Help: "Items in each batch the batch processor sent on."},
		Family{Name: "outpost_exporter_send_duration_seconds", Help: "Duration of each send attempt, successful or not."},
		Family{Name: "outpost_build_info", Help: "Always 1; labels give the version and revision of the binary and a hash of the running configuration."},
	)
	m.Reduce = m.newReduceMetrics()
	m.TailSampling = m.newTailSamplingMetrics()
	m.SpanMetrics = m.newSpanMetricsMetrics()
	m.Sampling = m.newSamplingMetrics()
	m.Scrapers = m.newScraperMetrics()
	m.Filelog = m.newFilelogMetrics()
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// SetBuildInfo records the binary's version and the running config's hash,
// replacing the series of a previous configuration.
func (m *Metrics) SetBuildInfo(version, revision, configHash string) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, revision, configHash).Set(1)
}

// Families lists the outpost_* metric families declared by New.
func (m *Metrics) Families() []Family { return append([]Family(nil), m.families...) }
