// Package throttleprocessor implements the throttle processor: per stream
// of log records, a token bucket lets at most `threshold` records pass per
// `window` and drops the rest, counted; records at or above keep_severity
// (default ERROR) always pass.
//
// # Name and keys
//
// The OpenTelemetry Collector has no log throttling processor. Vector's
// `throttle` transform is the model, with its keys: threshold and window
// (Vector's window_secs, here a duration), key_fields for Vector's
// key_field template (outpost has no templates: a list of attribute
// references), and keep_severity for the common use of Vector's `exclude`
// condition. Fluent Bit's `throttle` filter averages over a sliding window
// and has no per-stream key, so it was not followed.
//
// # Semantics
//
// A stream is the records whose key_fields values are equal (a missing
// value counts as the empty string; values are compared as strings, so
// the int 1 and the string "1" are one stream). Each stream has a bucket
// of threshold tokens, full at first, refilled continuously at
// threshold/window tokens per second up to threshold. A record takes one
// token and passes, or finds less than one and is dropped: reason
// `throttled` in outpost_processor_dropped_items_total. So over any span
// of time T a stream passes at most threshold + T×threshold/window
// records, and a quiet stream may burst threshold records at once.
//
// A record whose severity is at or above keep_severity always passes and
// takes no token. Its severity is its severity number, or, when that is
// unset, the one its severity text names (TRACE, DEBUG, INFO, NOTICE,
// WARN/WARNING, ERROR/ERR, CRIT/CRITICAL, ALERT, EMERG, FATAL, PANIC, in
// any case, with an optional trailing digit as in ERROR2). A record with
// neither counts as below every threshold.
//
// Records keep their order; dropped ones are removed from the request,
// and empty scopes and resources with them. A request left empty is not
// handed on (its caller gets no error: the drops are deliberate).
//
// # Bounds
//
// Streams are identified by a 64-bit xxhash of their key (two streams
// share a bucket only on a hash collision, about 1 in 10^11 for 10,000
// streams). At most max_streams buckets are kept, about 64 bytes each.
// When a new stream arrives and all are in use, the buckets that have
// refilled are forgotten (a full bucket behaves as no bucket, so this
// changes no decision), at most once per window; if none has, the new
// stream's records share one overflow bucket of the same size, and what
// it drops is counted with reason `stream_limit`.
// outpost_processor_throttle_streams is the number of buckets kept.
//
// The processor is synchronous and starts no goroutine; it holds no data,
// so Shutdown has nothing to flush.
package throttleprocessor
