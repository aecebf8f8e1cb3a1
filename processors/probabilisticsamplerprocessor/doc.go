// Package probabilisticsamplerprocessor implements the probabilistic_sampler
// processor for traces and logs: consistent probability sampling as the
// OpenTelemetry specification defines it (trace/tracestate-probability-
// sampling.md, trace/tracestate-handling.md; OTEP 235), stateless, item by
// item.
//
// # Name and keys
//
// The OpenTelemetry Collector contrib probabilisticsampler is the model:
// its type name and keys (sampling_percentage, hash_seed, mode,
// sampling_precision, fail_closed, attribute_source, from_attribute,
// sampling_priority) mean what they mean there, and its hash_seed mode
// makes the same decisions with the same seed. Thresholds and randomness
// are the Collector's pkg/sampling. Differences: sampling_percentage has
// no default (the Collector's 0 drops everything); log records without a
// trace id are kept by default (logs_without_trace_id, outpost's own key;
// the Collector drops them under its default fail_closed); fail_closed
// false passes unusable items unchanged.
//
// # Decision
//
// Each item has a 56-bit randomness R and leaves with a rejection
// threshold T (the tracestate's `th`); it is kept when R ≥ T, so the
// probability is (2^56−T)/2^56 and the adjusted count, the items it
// stands for, 2^56/(2^56−T). R is, in order: the `rv` of the item's
// tracestate (spans) or its sampling.randomness attribute (records); the
// low 56 bits of the trace id (presumed random, as W3C Trace Context
// Level 2 makes them; a trace id without the W3C random flag is taken as
// random too, and this is logged once); for records without a trace id
// (logs_without_trace_id: sample) or with attribute_source: record, a
// hash of from_attribute's value or, lacking it, of the body. T is, by
// mode, for an item arriving with threshold T_s (none: T_s = 0):
//
//   - proportional: the threshold of p × P(T_s), p = sampling_percentage/100,
//     rounded to sampling_precision hex digits, never below T_s; below
//     2^-56 the item is dropped. Output is p × input, whatever earlier
//     stages did.
//   - equalizing: max(T_s, the threshold of p): every item leaves with
//     probability p, unless an earlier stage sampled it harder.
//   - hash_seed: the Collector's legacy mode: FNV-1a over the seed's four
//     bytes (little-endian) and the trace id (or record value), whose low
//     14 bits are compared with p×2^14 in float32. The hash is turned into
//     an R that makes the same decision against T = (2^14 − ⌊p×2^14⌋)×2^42
//     and written as `rv`, so that consistent samplers downstream agree.
//     An arriving `th` or `rv` is an error in this mode.
//
// "" chooses hash_seed when hash_seed is set (or, for logs, with
// attribute_source: record) and proportional otherwise, as the Collector.
// All modes are consistent: with one configuration every item of a trace,
// span or log record, on any outpost, gets the same decision, and a lower
// probability keeps a subset of what a higher one keeps.
//
// A kept span's tracestate gets `th` (and `rv` in hash_seed mode) in its
// `ot` entry, moved first; other entries and other `ot` keys are kept
// (pkg/sampling writes rv before th). A kept record gets the attributes
// sampling.threshold (and sampling.randomness when R came from a hash). A
// log record with a trace id and no sampling attributes thus gets the
// decision and threshold of the spans of its trace that arrive without a
// tracestate.
//
// # Priority and errors
//
// A span's `sampling.priority` (int, double or numeric string): 0 drops
// it, above 0 keeps it with T = 0 (or its arriving threshold, which a
// downstream stage may not lower). A record's sampling_priority attribute
// (int or double) is a percentage: 0 drops it, above 0 raises its
// probability to at least that value. Priorities override errors.
//
// An arriving threshold above the item's R is erased (the specification's
// consistency check). This, a tracestate or sampling attribute that does
// not parse, a span without randomness and `th`/`rv` in hash_seed mode
// are errors: fail_closed (default) drops the item; false keeps it
// unchanged (an erased threshold is instead decided afresh).
//
// Every item is counted once: kept in
// outpost_processor_sampler_kept_items_total, dropped in
// outpost_processor_dropped_items_total, by reason; the adjusted counts of
// kept items add up in outpost_processor_sampler_adjusted_count_total.
//
// # Adaptive sampling
//
// With an `adaptive` block (outpost's own; traces only) the probability
// follows the uplink: a goroutine looks, once per interval, at the named
// exporter's queue (queue.Registry.Backlog: pending items, bytes, oldest
// record) and at the uplink budget's wait (uplink.Budget.Delay), and
// applies an AIMD law (controller): above a target, with the queue not
// shrinking, the percentage is multiplied by decrease_factor (not below
// min_percentage); with every watched signal at most (1 − hysteresis) ×
// its target and the queue not falling behind, increase_step is added
// (not above sampling_percentage); otherwise it holds. Multiplicative
// decrease reaches the rate the uplink carries in ⌈ln r/ln(1/factor)⌉
// steps for an overload r; holding while the backlog drains keeps the
// lagging age of a draining queue from driving the probability to its
// floor; additive increase probes back gently. docs/configuration.md
// states the settling time.
//
// Each new percentage gets its own sampler (thresholds, tracestate),
// swapped atomically: a request is decided wholly at one probability,
// and each kept span carries that probability's `th`, so its adjusted
// count is right whatever changed since. Decisions stay consistent
// across changes (a lower probability keeps a subset of a higher one's),
// so a trace whose spans straddle a change may arrive in part on one
// node, and equalizing samplers downstream still see valid thresholds.
// Spans of a trace with an ERROR span in the same request are decided at
// sampling_percentage, never lower: after tail_sampling, which hands on
// whole traces, the error traces it keeps are untouched. The percentage
// is written to adaptive-percentage in the processor's storage directory
// at each change, so that a reload or restart resumes from it. Its
// gauge: outpost_processor_sampler_probability.
//
// # What it does not do
//
// No buffering: it does not wait for whole traces (tail_sampling does)
// and holds nothing at Shutdown. Without an adaptive block it has no
// state and no goroutine. Items keep
// their order; emptied scopes and resources are removed; a request left
// empty is not handed on and its caller gets no error.
package probabilisticsamplerprocessor
