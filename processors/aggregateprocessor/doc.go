// Package aggregateprocessor implements the aggregate processor
// ("aggregate"): streaming aggregation of metrics at the edge, so that
// fewer series at a coarser interval cross the uplink. Its specification
// is VictoriaMetrics' stream aggregation (vmagent's `-streamAggr.config`,
// docs/stream-aggregation.md and lib/streamaggr's tests in
// VictoriaMetrics), carried over to OTLP's typed, cumulative data with
// start times.
//
// # Rules
//
// Each rule takes the data points whose metric name matches
// match.metric_name (an anchored Go regexp) and whose attributes match
// match.attributes (looked up on the point, then on its resource). A point
// may feed several rules. Unless every rule that took it has keep_input,
// the point is removed from what goes on; the rest passes through
// unchanged (or, with dedup_interval, downsampled: see "Dedup of the
// points that go on"). Summaries are never aggregated.
//
// # Input series and output groups
//
// An input series is one rule's view of (resource attributes, scope name,
// metric name, point attributes), identified by a 64-bit xxhash of them
// (a collision, about 1 in 10^7 at a million series, merges two series).
// Series are grouped into output groups by metric name and the attributes
// that by/without keep:
//
//   - by: [k...] keeps only these keys, whether they sit on the resource
//     or on the point (each stays where it was); `by: []` keeps none;
//   - without: [k...] drops these keys from both and keeps the rest;
//   - neither: every attribute is kept: series are aggregated over time
//     only (series that differ only in their scope merge).
//
// Resource attributes under node.* (node.name, node.site, node.region: the
// node identity that outpost stamps on every resource) are always kept, so
// that two nodes' aggregates never merge and the Prometheus mapping keeps
// them apart; without may not list them. Other resource attributes, such
// as service.name (from which Prometheus derives job), are kept only as
// by/without say.
//
// # Outputs
//
// Each group emits, at the end of each interval, one point per output, on
// a metric named `<input name>:<interval>[_by_<keys>|_without_<keys>]_<output>`
// (keys sorted and joined by "_", interval as Prometheus writes durations:
// 30s, 1m, 1h30m), with the kept attributes, the input's unit (none for the
// counts), in an instrumentation scope named ScopeName. Point timestamps
// are the interval's end. Intervals are aligned to wall-clock multiples of
// the interval since the Unix epoch, so the first interval after start is
// shorter. A sample belongs to the interval in which it arrives (as in
// vmagent), whatever its own timestamp.
//
//   - total: Sum, cumulative, monotonic, start time = when the group was
//     created. The increases of its input series added up: a counter reset
//     (the value goes down, or the start time changes) adds the new value
//     whole. Emitted at every flush while the group has live series.
//   - increase: Sum, cumulative, not monotonic, start time = the
//     interval's start, value = the increase over that interval: a
//     cumulative sum that restarts every interval. This is the number PromQL
//     `increase(x[interval])` gives for the interval, so Prometheus should
//     store it as a gauge (not monotonic maps to a gauge): were it a
//     counter, rate() and increase() over it would take a larger next
//     interval for a continuation and a smaller one for a reset, both wrong.
//     Add intervals with sum_over_time. A delta Sum would say the same in
//     OTLP, but Prometheus remote write cannot carry deltas.
//   - sum, count_samples, last, min, max, avg: Gauge over the samples that
//     arrived in the interval (sum is vmagent's sum_samples; last is the
//     sample with the latest timestamp). Emitted for intervals with samples.
//   - count_series: Gauge, the distinct input series with a sample in the
//     interval.
//   - quantiles(phi, ...): Gauge points with attribute quantile=<phi>, over
//     the samples of the interval, interpolated as PromQL
//     quantile_over_time does (rank phi×(n-1)); vmagent uses an
//     approximate sketch and can give another sample.
//   - histogram: merges histogram inputs. Explicit-bucket histograms with
//     identical bounds are added bucket by bucket into a cumulative
//     Histogram (start time = group creation, increases of each input
//     series as for total); a point whose bounds differ from its group's
//     (the first point's) is dropped and counted
//     (histogram_bounds_mismatch), never re-bucketed, since re-bucketing
//     cannot be exact. Exponential histograms are merged into a cumulative
//     ExponentialHistogram at the coarsest scale seen: finer inputs (and
//     the running sum, when a coarser input comes) are downscaled by
//     merging 2^k neighbouring buckets, and further while the merged
//     buckets of one sign would span more than 160 (the OpenTelemetry SDK's
//     default max_size); the zero bucket takes the largest zero threshold
//     seen. A malformed point (counts not one more than bounds, a scale
//     outside -10..20, buckets no scale can hold in 160) is dropped and
//     counted (invalid_histogram). Min and max are not kept. vmagent's
//     histogram_bucket (vmrange buckets over float samples) is not
//     implemented.
//
// Number outputs take Gauge and Sum points; histogram takes only histogram
// points. Points flagged "no recorded value" and NaN are ignored (removed
// unless keep_input).
//
// # Cumulative safety
//
// total, increase and histogram keep per input series its last cumulative
// point: a new point adds its difference, a reset (value or a bucket goes
// down, or a new start time) adds the new point whole, a point older than
// the last is skipped and counted (out_of_order). The first point of a
// series is counted whole when its start time is at or after the
// processor's creation (the counter began while we watched); otherwise it
// is only the base for the next one, as vmagent does by default, since the
// processor cannot know what the counter held before. Delta inputs are
// increases already and are added as they come.
//
// dedup_interval keeps, per input series and dedup window (aligned as the
// interval), the sample with the latest timestamp (the larger value on a
// tie), and aggregates only that one. An input series with no sample for
// staleness_interval (default 2×interval) is forgotten; a group goes with
// its last series, and a later sample starts a new group with a new start
// time.
//
// # Bounds and memory
//
// The state (series, groups, their attributes, histogram buckets, the
// samples quantiles keep) is counted in bytes by estimate and capped at
// max_bytes (default 16MiB), which Start reserves out of memory_limit (it
// fails when that does not fit). A point of a new series or group, or a
// quantile sample, that would pass the cap is shed and counted
// (state_full; like every drop of this processor, once per rule that
// drops it); existing series keep being aggregated, and histogram
// growth of an existing group is charged but never refused. The state and
// the number of series are exported as outpost_processor_aggregate_*.
//
// # Flushes and back-pressure
//
// ConsumeMetrics never waits for a flush: it aggregates under a lock and
// passes the unmatched rest on at once. One goroutine per processor
// flushes each rule at its boundaries and hands the output to the next
// consumer. A refused flush is kept and sent again, ahead of the new
// output, at the next flush; a permanent refusal is dropped and counted
// (flush_refused), and so is the oldest kept flush when more than
// maxPendingFlushes (4) are waiting. Shutdown flushes the intervals in
// progress, stamped with the shutdown time, and sends everything kept,
// honouring its context; what is still refused then is counted
// (flush_refused) and its error returned.
//
// Durability. A point is acknowledged to its client once it is aggregated,
// not once its aggregate is in an exporter's queue: making clients wait up
// to an interval would stall them. So, unlike the rest of outpost, a crash
// (kill -9, power cut) loses the intervals in progress and the refused
// flushes kept in memory; what has been flushed into a disk queue is as
// durable as any other data. When the next consumer refuses the
// unmatched rest of a request, the client gets the error and may send the
// request again: its counter and histogram points then add nothing (a
// repeated cumulative point has no increase), but gauge points count again
// in sum, count_samples, avg and quantiles.
//
// State lives in memory only: a restart or a configuration reload starts
// empty (the old instance flushes its intervals in progress as it shuts
// down; the new one's total and histogram outputs start again with a new
// start time, which OTLP and Prometheus read as a counter reset). During a
// reload the old and the new instance both hold their max_bytes
// reservation until the old one has shut down.
//
// # Dedup of the points that go on
//
// dedup_interval (top level, default 0: off) downsamples what goes on
// unaggregated without renaming it, as vmagent's -streamAggr.dedupInterval
// (and -dedup.minScrapeInterval) does: the points no rule took, and the
// inputs of keep_input rules. Rule inputs are aggregated as above (a rule
// has its own dedup_interval). With it set, rules may be empty.
//
// A series is (resource attributes and schema URL; scope name, version,
// attributes and schema URL; metric name, unit, type, temporality and
// monotonicity; point attributes), identified by 64-bit xxhash as input
// series are (attribute values as strings: values of different types that
// print the same are one series). The description is not part of it:
// Prometheus's staleness markers come without one; the window keeps the
// first description it saw. Windows are aligned to wall-clock multiples
// of dedup_interval since the Unix epoch, as rule intervals are, and are
// emitted at their end. A point stamped in the current or the previous
// window (a scrape stamped just before a boundary may arrive after it) is
// live: per series and window of arrival only the live point with the
// latest timestamp is kept (on a tie, the one that arrived last); a point
// older than the kept one replaces nothing. A point stamped earlier is
// replayed (a client's retry buffer, an upstream outpost's queue
// draining after an outage): it is kept per series and window of its own
// timestamp, so a backlog keeps one point per series per dedup_interval
// instead of collapsing into one. At the window's
// end the kept points go on unchanged: metric name, description, unit,
// metadata, type, temporality, monotonicity, start time, timestamp, value,
// buckets, min/max, flags, exemplars, point attributes, resource and scope
// (a "no recorded value" staleness marker that is the latest point goes
// on, so Prometheus marks the series stale). They are grouped back: one
// ResourceMetrics per resource, one ScopeMetrics per scope in it, one
// Metric per metric in that. A series with no point in a window sends
// nothing for it; nothing of a series outlives its window.
//
// Gauge, cumulative Sum, cumulative Histogram, cumulative
// ExponentialHistogram and Summary points are deduplicated. Delta (and
// unspecified-temporality) Sum, Histogram and ExponentialHistogram points
// go on at once, untouched: each is an increment, and keeping one would
// lose the others.
//
// The points left out (replaced by a later one, or older than the one
// kept) are reduced, not lost: they are counted in
// outpost_processor_aggregate_deduplicated_points_total{processor}, so that
// per window, points in = points emitted + deduplicated + bypassed. The
// kept points are charged to max_bytes beside the rules' state (estimated
// per resource, scope, metric and point, with attributes, exemplars and
// buckets; BenchmarkDedupStateBytesPerSeries compares the estimate with
// the heap). When keeping the point of a new series would pass max_bytes,
// the point goes on at once, undeduplicated, and is counted in
// outpost_processor_aggregate_dedup_bypassed_points_total{processor,
// reason="max_bytes"}; a series already held keeps being deduplicated,
// and a replacing point larger than the one it replaces is charged but
// never refused.
//
// The window's points are emitted by the flush goroutine at the window's
// end, in the same flush as rule outputs due then: a refused flush is kept
// and retried ahead of the next, as for rules; Shutdown emits the window
// in progress. Durability: like rule inputs, held points are acknowledged
// before they reach an exporter's queue, so a crash (kill -9, power cut)
// loses at most the window in progress (and refused flushes kept in
// memory). When the next consumer refuses the rest of a request and the
// client sends it again, its held points come again with the same
// timestamps and only replace themselves: nothing is emitted twice. A
// counter reset inside a window reaches Prometheus only through
// the window's last point: the increase between the previous window's
// point and the reset is not counted by increase() or rate() (vmagent's
// dedup has the same effect); a window at most as long as the counter's
// shortest time between resets keeps that loss rare.
//
// # What it does not do
//
// No cardinality limit per output (see max_bytes), no output relabelling,
// no rate/stddev/stdvar/unique_samples outputs, no windows by sample
// timestamp: a sample that arrives late counts in the interval it arrives
// in.
package aggregateprocessor
