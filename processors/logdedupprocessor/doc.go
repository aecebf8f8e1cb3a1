// Package logdedupprocessor implements the log_dedup processor: identical
// log records that arrive within one interval leave as one record that
// says how many there were, as the OpenTelemetry Collector contrib
// log_dedup processor does, with the same configuration keys (less OTTL).
//
// # Identical records
//
// Two records are identical when they belong to equal resources (schema
// URL and attributes) and equal scopes (schema URL, name, version,
// attributes) and have equal severity number, severity text, body and
// attributes, after the exclude_fields have been removed from both. Map
// keys are compared as sets (their order does not matter); values compare
// with their types (the string "1" is not the int 1). Timestamps, trace
// and span IDs, flags and event names are not compared: the emitted record
// keeps those of the first record.
//
// # What is emitted
//
// Every `interval` (from Start), each distinct record held leaves as one
// record: the first one that arrived, without its excluded fields, with
//   - log_count_attribute (default log_count): how many identical records
//     arrived in the interval, an int ≥ 1;
//   - first_observed_timestamp, last_observed_timestamp: when the first and
//     the last of them reached this processor, RFC 3339 strings (seconds)
//     in `timezone`;
//   - Timestamp and ObservedTimestamp set to the time of the flush.
//
// Records are grouped under their resource and scope, in order of first
// arrival. An incoming record that already carries log_count_attribute is
// compared like any other record (its count is not added).
//
// # Bounds, memory_limit and shedding
//
// The held records are bounded by max_bytes (default 16MiB), estimated per
// distinct record as twice its comparison key (the canonical encoding of
// its severity, body and attributes) plus 256 bytes. The same bytes are
// charged to memory_limit (the top-level limit, pipeline.Settings.Memory),
// so data held here narrows what receivers admit. A record identical to a
// held one always merges (it costs no bytes). A new distinct record that
// does not fit in max_bytes, or that memory_limit refuses, is not held: it
// is handed to the next consumer at once, in the caller's request, and the
// caller gets that hand-off's error; it is counted in
// outpost_processor_log_dedup_bypassed_items_total{reason=max_bytes|memory_limit}.
// Nothing is dropped for lack of room.
//
// # Accounting
//
// Every record received is exactly one of: merged into a held record
// (outpost_processor_log_dedup_merged_items_total), the first of its kind
// (emitted once with its log_count), bypassed, or dropped
// (outpost_processor_dropped_items_total). So at the next consumer the sum
// of log_count over emitted records plus the bypassed records equals the
// records received, less the drops.
//
// # Refused flushes
//
// A flush is one request to the next consumer, with the processor's own
// context (cancelled when Shutdown begins). When it is refused with a
// retryable error (back-pressure: a full queue), its records are put back,
// merged with identical records that arrived since (counts added, the
// older record kept), and go out at the next interval; the refusal is
// counted in outpost_processor_log_dedup_refused_flushes_total and their
// bytes stay charged, so new distinct records bypass the processor once
// max_bytes is reached and then meet the back-pressure themselves. A
// permanent refusal drops the records, counted by the records received
// they stand for, reason refused.
//
// # Shutdown and durability
//
// Shutdown stops the interval flushes and sends what is held in one last
// flush within its context; if that fails, the records are dropped,
// counted with reason shutdown, and Shutdown returns the error. If its
// deadline passes while an interval flush is still in flight, the records
// held are dropped and counted at once (reason shutdown), as are those of
// that flush if it then fails, and Shutdown returns the context's error.
// The final flush relies on the next consumer honouring the context.
// Records
// held here have been acknowledged to their clients: like every buffering
// processor, this one loses at most one interval of records (as counts) on
// kill -9 or a power cut. Put it in pipelines where that is acceptable.
//
// Not done: OTTL `conditions` (outpost does not carry OTTL; every record is
// eligible), include_fields, metadata_keys (client metadata is not kept
// past the receivers).
package logdedupprocessor
