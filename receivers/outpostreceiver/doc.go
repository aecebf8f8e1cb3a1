// Package outpostreceiver is the `outpost` receiver: outpost's own metrics
// (the self-telemetry registry served on telemetry.address /metrics) read
// in process at collection_interval and handed to a metrics pipeline, so
// that a fleet of nodes behind NAT ships its queue depth, oldest age,
// drops, uplink use and build info to the central side through the same
// pipelines, queues and uplink budget as its data.
//
// Why a receiver of its own, named `outpost`: the OpenTelemetry Collector
// ships its own metrics by pointing its prometheus receiver at its own
// /metrics, which needs the telemetry server listening, an HTTP round trip
// and a text parse each cycle, and leaves the data to look like any
// scraped target. Reading the registry directly (prometheus.Gatherer)
// costs none of that and works with telemetry.address off; the type is
// named after the source, as hostmetrics is.
//
// The mapping from Prometheus families to pmetric is in convert.go:
// counters become cumulative monotonic sums with their created timestamp
// as start time, gauges gauges, histograms explicit-bucket histograms,
// summaries summaries; names and labels are kept, so that the
// prometheusremotewrite exporter writes the same names centrally
// (outpost_queue_bytes, outpost_build_info, ...). The resource has
// service.name "outpost" and service.version from outpost_build_info; the
// pipeline adds the node identity (node.name, node.site, node.region and
// node labels) as for every receiver, and the prometheusremotewrite
// exporter promotes it to node_* labels by default.
//
// Feedback: the receiver's own counters (its accepted items; the
// exporters' sent items and bytes, which include its batches) are in the
// registry it reads, so each cycle reports the previous cycles' traffic.
// That loop is bounded: a cycle emits one point per series that exists,
// never a point per event, so the series count does not grow with its own
// output, and the volume per cycle is constant. Its own accepted counter
// grows by that constant each cycle, which is the truth.
//
// It decodes no external input (it reads an in-process registry), so it
// has no fuzz target.
package outpostreceiver
