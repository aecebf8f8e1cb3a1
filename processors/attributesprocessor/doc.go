// Package attributesprocessor implements the attributes processor
// ("attributes"): it inserts, updates, upserts, deletes, hashes, extracts
// and converts attributes of spans, log records and metric data points,
// for all three signals, with the configuration keys of the OpenTelemetry
// Collector contrib's attributesprocessor (actions as in
// internal/attraction, include/exclude as in internal/itemmatch).
//
// An item's attributes are changed only when the item matches include (if
// set) and does not match exclude (if set). For spans the properties are
// services, span_names, attributes (span attributes), resources and
// libraries; for log records log_bodies, log_severity_texts,
// log_severity_number, attributes (record attributes), resources and
// libraries; for metrics metric_names, attributes (data point attributes),
// resources and libraries. A property that does not apply to the pipeline's
// signal is an error when the processor is created.
//
// The processor works on each batch in place and synchronously (see
// internal/inplace): it holds no state, starts no goroutine and drops
// nothing. It does not touch span events, span links, resource or scope
// attributes (the resource processor changes resources).
//
// Left out of the Collector's configuration: from_context (client metadata
// is not carried down outpost's pipelines), span_kinds, log_severity_number
// spelled as numbers, the regexp cache options, and the OTTL-based
// include/exclude of newer Collector versions. Each is an unknown-key error.
package attributesprocessor
