// Package cardinalitylimitprocessor implements the cardinality_limit
// processor: each metric stream may have at most `limit` distinct point
// attribute sets; points of further sets are folded into one overflow
// series of that stream, with the single attribute
// otel.metric.overflow=true, as the OpenTelemetry metrics SDK does
// (specification: metrics SDK, "Cardinality limits").
//
// # Streams and series
//
// A stream is what an SDK would call a metric stream: one resource
// (schema URL and attributes), one scope (schema URL, name, version,
// attributes) and one metric name and kind (type, temporality and, for
// cumulative sums, monotonicity). Resource attributes therefore do not
// count against the limit: each resource gets `limit` series of each of
// its metrics, as each process with its own SDK would; what the limit
// bounds is the point attribute sets within it. A series is a stream and
// a point attribute set; both are identified by 64-bit xxhashes of the
// canonical encoding of their attributes (internal/attrkey), so two sets
// are confused only on a hash collision (about 1 in 3·10^9 at 100,000
// series).
//
// The first `limit` series of a stream are admitted: their points pass
// through unchanged. The limit does not include the overflow series (the
// SDK's does: an SDK limit of 2000 is limit: 1999 here). A series that has
// overflowed stays in overflow until it expires, even when room frees up:
// admitting it then would count its running total twice.
//
// # The overflow series
//
// It is emitted in the metric where its points were, in each request that
// folded points into it, as one point:
//   - gauge: the latest folded point (largest timestamp; the last on a
//     tie), its value, start and time;
//   - delta sum: the sum of the folded values, from the earliest start to
//     the latest time of the request's points; an int if every folded
//     point was an int, else a double;
//   - cumulative sum (monotonic or not): a running total that starts at
//     the timestamp of the first point ever folded into it and adds every
//     overflowed series' change since that series' previous point. A
//     series' first point gives only a baseline (its total includes what
//     came before the overflow series started), unless the series started
//     at or after the overflow series did: then all of it counts. A reset
//     (a new start time, or for a monotonic sum a lower value) counts the
//     new value whole, as Prometheus' increase() does. So the overflow
//     series is itself monotonic, its start time never changes, and over
//     any interval its increase is the sum of the overflowed series'
//     increases;
//   - histogram: delta points merged (count, sum, min, max, buckets);
//     cumulative ones as their changes, like sums, without min and max.
//     Buckets are summed when bounds are equal; a point with other bounds
//     has each bucket added whole to the overflow bucket that holds its
//     upper bound (the first folded point's bounds are the overflow's).
//     Counts stay exact; only placement within buckets coarsens;
//   - exponential histogram: merged at the lower scale of the two (buckets
//     downscaled, index i to i >> Δscale), and lowered further while a
//     range has more than 160 buckets; zero counts added, the larger zero
//     threshold kept; cumulative ones as their changes;
//   - summary: count and sum as a cumulative (changes added as above);
//     quantiles cannot be merged and are left out.
//
// Sums and counts are accumulated as float64: int totals are exact up to
// 2^53.
//
// Points flagged as having no recorded value (staleness markers) are
// removed without being folded. Exemplars of folded points are dropped.
//
// # Expiry and bounds
//
// A series (admitted, or overflowed and tracked) not seen for expire_after
// is forgotten and frees its room; an overflow series not fed for
// expire_after is forgotten too, and a new one starts afresh. Expiry runs
// when a request arrives, at most every expire_after/2, so a series idle
// for expire_after is gone within 1.5×expire_after of its last point.
//
// The processor tracks at most max_series series in all: admitted series,
// overflow series, and the overflowed series of cumulative kinds (whose
// last point it must keep; delta and gauge series that overflow are not
// tracked). About 100 bytes each, plus 8 per histogram bucket. When
// max_series is reached, a point of a new series folds into its stream's
// overflow series (counted with reason max_series), or, if the stream has
// none and there is no room to start one, or no room to track a
// cumulative series, is dropped: outpost_processor_dropped_items_total
// {reason="max_series"}.
//
// Folded points are counted in
// outpost_processor_cardinality_overflow_points_total{reason=limit|max_series};
// outpost_processor_cardinality_series is the number tracked. Every point
// received leaves as itself (admitted), inside an overflow point (folded)
// or is counted dropped.
//
// The processor is synchronous and starts no goroutine. Its state is
// lost on restart: cumulative overflow series then start again (a new
// start time), which Prometheus reads as a counter reset.
package cardinalitylimitprocessor
