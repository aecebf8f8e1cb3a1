// Package filterprocessor implements the filter processor ("filter"): it
// drops spans, log records, and metrics or metric data points that a
// declarative include/exclude configuration rejects, for all three
// signals. The keys are the legacy (non-OTTL) ones of the OpenTelemetry
// Collector contrib's filterprocessor:
//
//	spans:   {include, exclude}: match_type, services, span_names,
//	         attributes, resources, libraries
//	metrics: {include, exclude}: match_type, metric_names,
//	         resource_attributes, and outpost's datapoint_attributes
//	logs:    {include, exclude}: match_type, resource_attributes,
//	         record_attributes, severity_texts, severity_number {min,
//	         match_undefined}, bodies
//
// Matching follows internal/itemmatch. An item is kept when it matches
// include (if set) and does not match exclude (if set). A metrics block
// without datapoint_attributes decides on whole metrics; with it, on each
// data point (a metric left without points is removed). Scopes and
// resources left empty are removed; if nothing is left the next consumer
// is not called and the caller gets nil.
//
// Every dropped item (span, log record, data point) is counted in
// outpost_processor_dropped_items_total with reason not_included or
// excluded.
//
// Left out: OTTL conditions (traces.span, logs.log_record, …: OTTL costs
// about 6 MiB of binary), match_type expr, span_kinds, span events, the
// regexp cache options and error_mode; each is an unknown-key error.
package filterprocessor
