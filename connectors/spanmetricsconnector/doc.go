// Package spanmetricsconnector implements the `spanmetrics` connector: an
// exporter in traces pipelines and a receiver in metrics pipelines that
// turns every span it gets into request, error and duration (RED) metrics,
// with the configuration keys, metric names and attributes of the
// OpenTelemetry Collector contrib spanmetrics connector, so that
// dashboards made for it work unchanged. Put it before any sampling: the
// metrics then count 100 % of the spans.
//
// # Metrics
//
// With the default namespace `traces.span.metrics`:
//
//   - `traces.span.metrics.calls`: monotonic sum (int), spans per series;
//     errors are the series with status.code="STATUS_CODE_ERROR";
//   - `traces.span.metrics.duration`: span durations (end − start, 0 when
//     the end is before the start) in `ms` (default) or `s`, as an
//     explicit histogram (bucket i holds bounds[i-1] < d ≤ bounds[i], as
//     OTLP defines) or an exponential one (base 2, the scale lowered to
//     keep max_size buckets; zero durations in the zero bucket), unless
//     histogram.disable;
//   - `traces.span.metrics.events` (events.enabled): monotonic sum of span
//     events, by the span's dimensions and the configured event
//     attributes.
//
// Through the prometheusremotewrite exporter (default translation) they
// are traces_span_metrics_calls_total, traces_span_metrics_duration_
// milliseconds_bucket/_sum/_count (or a native histogram
// traces_span_metrics_duration_milliseconds when exponential) and
// traces_span_metrics_events_total, with labels service_name, span_name,
// span_kind, status_code and the configured dimensions.
//
// A series is one resource and one attribute set: service.name (of the
// resource; "unknown_service" when it has none, where the Collector drops
// such spans), span.name, span.kind ("SPAN_KIND_SERVER", ...),
// status.code ("STATUS_CODE_UNSET", "STATUS_CODE_OK",
// "STATUS_CODE_ERROR"), less exclude_dimensions, plus each configured
// dimension (span attribute, else resource attribute, else its default,
// else absent). Resources are told apart by all their attributes, or by
// resource_metrics_key_attributes; a resource's metrics carry the
// attributes of the first resource seen with its key. Every metric has one
// scope, ScopeName.
//
// # Temporality and flushes
//
// Every metrics_flush_interval, counted from Start (not aligned to the
// wall clock), and at Shutdown, the connector sends one batch with a point
// per series. Cumulative (default): every series' totals since it started
// (its start timestamp), each flush. Delta: only series that counted
// something since the previous flush, with that flush's end as start.
// Exemplars (exemplars.enabled) are the latest max_per_data_point spans of
// the series since the previous flush: trace_id, span_id, end time and
// duration, on the duration points (on the calls points when the
// histogram is disabled); they are cleared at each flush.
//
// Back-pressure: a flush the metrics pipeline refuses with a retryable
// error is counted (refused flushes) and nothing is lost: in cumulative
// mode the next flush carries the totals, in delta mode the refused counts
// are merged back into their series (exemplars excepted). A permanent
// refusal in delta mode, and a failed final flush, lose the spans they
// stood for: counted in outpost_connector_spanmetrics_dropped_spans_total.
// ConsumeTraces never waits on the metrics pipeline and never fails,
// except after Shutdown (retryable error).
//
// # Bounds
//
// The state is bounded in series: at most aggregation_cardinality_limit
// series of each metric per resource (0: no per-resource limit), at most
// max_series in all, at most resource_metrics_cache_size resources. A span
// (event) whose series has no room is counted in its resource's overflow
// series, whose only attribute is otel.metric.overflow=true; a span of a
// resource that has no room is counted in the overflow series of the
// overflow resource (attributes otel.metric.overflow=true). So calls
// always add up to the spans received; every overflow is counted by
// reason. There are at most two overflow series per resource. The
// estimated bytes of each series (a fixed part, twice its key, its
// buckets — max_size for exponential histograms — and exemplars, doubled
// in delta mode for a flush in flight) are charged to memory_limit; a new
// series that memory_limit refuses goes to the overflow series (reason
// memory_limit). With metrics_expiration > 0, a series that got no span
// for that long is removed after a flush (and a resource with no series
// left), giving its bytes back; a later span starts it again (a counter
// reset downstream).
//
// # What it does not do
//
// It does not evict resources by recency as the Collector's
// resource_metrics_cache_size does (that resets counters silently): extra
// resources go to the overflow resource until series expire. It has no
// calls_dimensions, histogram.dimensions, include_instrumentation_scope,
// add_resource_attributes, delta_temporality.metric_timestamp_cache_size
// nor dimensions_cache_size (deprecated in the Collector). It does not
// count spans by sampling adjusted count: each span counts 1, so place it
// before samplers.
package spanmetricsconnector
