// Package batchprocessor implements the batch processor ("batch"): it
// gathers the spans, metric data points or log records of many requests
// into fewer, larger batches for the next consumer, for all three signals.
//
// # When to use it
//
// Exporters batch by themselves now: each exporter's senders merge the
// records queued for it into large wire requests, compressed once, after
// the client has been acknowledged (`queue.batch` of the exporter; see
// pipeline/sender). Request size on the uplink is no reason to put batch in
// a pipeline any more, and a pipeline without it acknowledges clients
// sooner. Use it when a processor after it works better on bigger batches
// (tail sampling, aggregation, dedup: fewer, larger calls into their
// state), or to cut the number of records appended to exporter queues
// when clients send very many tiny requests (each append is a write and,
// under fsync: always, an fsync). Otherwise it is not needed.
//
// Its defaults never make a client wait for the timeout: with
// flush_when_idle a lone request is sent on at once, and under load a
// request waits at most for the flush in flight (an exporter's queue
// append) and its own; the timeout only bounds that wait when a flush
// stalls (TestDefaultsNeverCostTheTimeout).
//
// # Callers wait for their batch
//
// outpost acknowledges a client only once its data is in an exporter's
// queue (see "Back-pressure, end to end" in the design). So, unlike the
// OpenTelemetry Collector's batch processor, this one is synchronous for its
// callers: ConsumeTraces (and the others) moves the caller's items into the
// pending batch and then waits for the flush that carries them, returning
// that flush's error unchanged (permanent and throttle errors keep their
// type). A request split over several batches waits for all of them and
// returns the first error. The next consumer gets a context of the
// processor's own, not a caller's, since a batch carries many callers'
// items; it is cancelled when Shutdown ends.
//
// At-least-once edge: a caller whose context ends while it waits gets
// ctx.Err(), but the items it already added stay in their batch and are
// still sent. A client that retries may therefore deliver them twice;
// nothing acknowledged is ever lost.
//
// # When a batch is sent
//
//   - size: it holds send_batch_size items;
//   - timeout: its oldest item has waited `timeout` (0: at once);
//   - idle: flush_when_idle is true and no flush of this processor is in
//     flight;
//   - shutdown: Shutdown flushes whatever is pending.
//
// flush_when_idle (the default) is group commit. Because callers wait, the
// Collector's rule (wait for size or timeout) would add up to `timeout` to
// every request at low load, and a client sending one request at a time
// would never fill a batch. With flush_when_idle a lone request is sent at
// once; under load, requests that arrive while a flush is in flight gather
// into the next batch, so batches grow with load up to send_batch_size.
// flush_when_idle: false gives the Collector's behaviour.
//
// # Bounds
//
// A batch never holds more than send_batch_max_size items (0: no cap, and a
// request is never split); larger requests are split by resource, scope
// and item (data point, for metrics, each part keeping the metric's
// metadata). At most max_in_flight batches are being sent at once, by as
// many long-lived goroutines per processor; there is no goroutine per
// request. When the pending batch is full and every flush slot is busy,
// callers block until a slot frees or their context ends: back-pressure
// reaches the receivers instead of memory growing. Memory held is at most
// max_in_flight + 1 batches.
//
// The processor takes ownership of what it is given and moves resources
// into its batches rather than copying them (Capabilities().MutatesData is
// true); only read-only input is copied. Requests with no items are
// accepted and dropped. It does not merge resources or scopes that are
// equal, and it does not batch by client metadata.
//
// Start launches the flush goroutines; a request that arrives before Start
// waits for it (the pipeline starts processors before receivers). After
// Shutdown begins, new requests get a retryable error. If Shutdown's
// context ends before everything is delivered, every caller still waiting
// gets a retryable error, running sends are cancelled, and Shutdown returns
// the context's error.
package batchprocessor
