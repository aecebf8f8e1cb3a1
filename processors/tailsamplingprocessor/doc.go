// Package tailsamplingprocessor implements the tail_sampling processor: it
// holds the spans of each trace until decision_wait after the trace's
// first span, then evaluates its policies on the whole trace and passes
// the trace on, whole, or drops it. Policies and their keys are the
// OpenTelemetry Collector contrib tail_sampling processor's; unlike it,
// the spans held are bounded in bytes (max_bytes, charged to
// memory_limit), and at a bound the oldest traces are decided early
// instead of being dropped whole or growing the heap.
//
// # Decisions
//
// Each top-level policy says sampled or not sampled (string_attribute,
// numeric_attribute and boolean_attribute with invert_match say
// "inverted" sampled or not sampled). The trace is sampled when a policy
// says sampled and no inverted policy says not sampled (an inverted match
// is a veto), or when an inverted policy says sampled and no policy says
// not sampled, as the Collector combines them. The policies:
//
//   - always_sample;
//   - probabilistic: FNV-1a of hash_salt (default "default-hash-seed") and
//     the 16 trace ID bytes, at or under sampling_percentage/100 of 2⁶⁴−1;
//     the Collector's hash, so both keep the same traces;
//   - status_code: a span's status is one of status_codes;
//   - latency: latest span end less earliest span start ≥ threshold_ms, or
//     in (threshold_ms, upper_threshold_ms] when that is set;
//   - string_attribute, numeric_attribute (int or double in [min_value,
//     max_value], an absent bound open), boolean_attribute: a resource or
//     span attribute matches; regular expressions are cached per value in
//     a map of cache_max_size (default 128) entries, cleared when full;
//   - span_count: min_spans ≤ spans ≤ max_spans (0: no upper bound), the
//     spans that have arrived;
//   - trace_state: a span's W3C tracestate has key with one of values;
//   - rate_limiting: a token bucket of spans_per_second, burst twice that,
//     takes the trace's span count; bytes_limiting: one of bytes_per_second,
//     burst burst_capacity (default twice the rate), takes the trace's
//     estimated content bytes (the Collector's estimate: fixed span fields,
//     names, attribute keys and values, events, links, resource and scope);
//   - and: every sub-policy samples; not: the sub-policy's decision turned
//     round (inverted decisions pass through);
//   - composite: sub-policies in policy_order; the first that samples the
//     trace samples it if its rate_allocation share of
//     max_total_spans_per_second still has room for the trace's spans in
//     the current wall-clock second, else the trace is not sampled. Every
//     sub-policy must be in policy_order and rate_allocation (the
//     Collector silently never samples one left out of rate_allocation).
//
// # Late spans and the decision cache
//
// A decided trace's ID goes into one of two FIFO caches
// (decision_cache.sampled_cache_size and non_sampled_cache_size IDs, about
// 48 bytes each, split over the shards). A span whose trace ID is cached
// follows the decision at once: passed on in the caller's request, or
// dropped (late_not_sampled). A span of a trace decided and no longer
// cached starts a new trace.
//
// # Shards, bounds and early decisions
//
// Traces are split by trace ID into min(16, num_traces) shards, each with
// its own lock, decision cache and an equal part of num_traces (rounded
// up) and of max_bytes. No goroutine is started per trace or request:
// callers hold spans under their shard's lock and one goroutine decides
// due traces every decision_wait/10 (at least 10ms, at most 1s), so a
// trace is decided between decision_wait and decision_wait + that tick
// after its first span.
//
// A held span is charged an estimate of its memory: 320 bytes, plus 64 per
// attribute, event and link, plus its content bytes; a trace 192 bytes; a
// resource and scope 256 bytes plus theirs, charged once per run of spans
// of one trace that share them. The bytes are counted against max_bytes
// and charged to memory_limit (pipeline.Settings.Memory), so that spans
// held here narrow what receivers admit. When a new trace would pass
// num_traces, or a span max_bytes or memory_limit, the shard's oldest
// traces are decided at once on what has arrived (trigger num_traces,
// max_bytes, memory_limit) until it fits; when the span's own trace is all
// that is left, that trace is decided at once. Nothing is dropped for
// lack of room: a trace decided early is sampled or not by its policies.
// Spans of an early-decided sampled trace go on in the caller's request.
//
// # Refused hand-offs and back-pressure
//
// Sampled spans the next consumer refuses with a retryable error (a full
// queue under block) are kept, charged to memory_limit, and sent again
// in order at each tick before anything newer; while any wait, new
// requests are refused with a retryable error (the receiver answers 429 /
// RESOURCE_EXHAUSTED), so that back-pressure reaches the clients without
// making them resend spans already held. Refused spans kept are bounded by
// max_bytes (beyond it, and when memory_limit has no room, the oldest are
// dropped, reason refused), so the processor holds at most twice
// max_bytes. A permanent refusal drops the spans (reason refused). The
// held_spans gauge counts refused spans kept.
//
// # Accounting
//
// Every span received is, at any time, exactly one of: held (the
// held_spans gauge, refused spans kept included), passed on
// (sampled_spans_total) or dropped (outpost_processor_dropped_items_total,
// reason not_sampled, late_not_sampled, refused: the next consumer refused
// it for good, or more than max_bytes of refused spans were kept; shutdown:
// still refused at Shutdown). Decisions are counted by decision
// and trigger (decision_wait for the normal path, the others early).
//
// # Durability and what it does not do
//
// Spans held here are acknowledged to their clients: like every buffering
// processor, this one loses what it holds on kill -9 or a power cut.
// Shutdown decides every held trace and tries once more to send what was
// refused, within its context; what is still refused is dropped (reason
// shutdown) and Shutdown returns the error.
//
// Not offered, refused as unknown keys: expected_new_traces_per_sec (the
// maps grow as needed, bounded by num_traces), sample_on_first_match,
// drop_pending_traces_on_shutdown (pending traces are always decided at
// Shutdown), the ottl_condition and drop policies (outpost has no OTTL),
// policy extensions, and the Collector's feature gates (tracestate
// thresholds, disabled inverted decisions).
package tailsamplingprocessor
