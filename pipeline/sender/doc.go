// Package sender delivers ready-to-send request bodies with retries.
//
// An exporter encodes (and, where its protocol allows, compresses) each batch
// once into a Request. A Sender hands that Request to the exporter's
// SendFunc, which performs one attempt on the wire and classifies its
// outcome by error type:
//
//   - nil: delivered;
//   - *pipeline.PartialError: delivered, but the far side refused some items
//     for good; not retried;
//   - consumererror.IsPermanent: refused for good; not retried; counted
//     as reason "permanent", or as the Reason of a *ReasonError it wraps
//     (or is wrapped in), so that a protocol can say why (for example
//     Prometheus's out-of-order samples);
//   - a permanent error wrapping ErrTooLarge (HTTP 413): with a SplitFunc,
//     the request is sent again as two halves, recursively, and only a
//     single item still too large is refused for good (reason too_large);
//   - pipeline.IsThrottle: the far side asks to slow down; retried after its
//     hint (RetryAfter) when it gives one;
//   - a *BlockedError: the endpoint, not the data, is at fault (401, 403,
//     404, 407, TLS, DNS, ...); retried like any transient error, and
//     outpost_exporter_blocked{reason} is 1 until a request goes through,
//     the first failure of each reason logged at once with a hint;
//   - anything else: transient; retried with exponential backoff and jitter.
//
// HTTPStatusError, NetError and NewHTTPRequest give every HTTP exporter
// the same classification and the same count of bytes on the wire.
//
// The Sender owns the retry loop, the per-attempt timeout, the exporter
// metrics (outpost_exporter_*) and rate-limited failure logs, so that every
// exporter behaves alike.
//
// A stored record is self-contained (it records its signal, encoding and
// storage codec), so it can be replayed later, even if the exporter's
// configuration has changed since: the wire compression is the current
// configuration's.
//
// An Output is what exporters hand their Requests to. With the `queue`
// section enabled (the default) it stores each Request in the exporter's
// pipeline/queue (disk or memory, shared with the exporter's next instance
// across a reload through queue.Registry) and runs `queue.consumers`
// sender goroutines that Read records, most important lane first, and Send
// them.
//
// # Batching after the acknowledgement
//
// Exporters hand the Output uncompressed bodies; it stores them compressed
// with StorageCodec (s2) and their raw size. A sender merges consecutive
// records of one lane, one signal and one encoding (when the exporter says
// its bodies concatenate: OutputSettings.Mergeable) into one Request,
// within `queue.batch` (BatchConfig: max_size items, max_bytes before
// compression; waiting up to flush_timeout from the first record's
// creation while fewer than min_size items are queued, never when more
// important data waits), and compresses it once with the exporter's wire
// codec (OutputSettings.Compress). The merge is a concatenation of
// decompressed bodies, never a decode to pdata (an exporter may give its
// own OutputSettings.Merge: Loki's gathers equal streams). A Request refused for good for its
// data, or too large, is sent again in halves along record boundaries
// before anything is counted (sendRecordHalves); a single record too large
// is then split with the SplitFunc. Records of queue format version 1 are
// wire-ready and are sent alone, as stored. The records of a Request are
// acknowledged once the Sender settles them (delivered, or refused and
// counted); on shutdown the others go back to the queue.
//
// Each attempt first waits on the shared uplink budget for the
// (merged, compressed) body's bytes, and a record is retried until it is delivered, refused for
// good (counted, dropped, logged at most once per interval with the
// server's message) or older than `queue.max_age` (counted as expired). A
// send cut short by shutdown puts the record back (Nack): it is not lost
// and not counted as failed. A full blocking queue is a throttle to the
// caller, so receivers answer 429 / RESOURCE_EXHAUSTED. With the queue
// disabled, Output.Put is Sender.Send on the caller's goroutine.
//
// The Sender deliberately does not queue or run goroutines: Send is
// synchronous and runs on the caller's goroutine; the Output owns the
// fixed pool of senders.
//
// A Lifecycle is the part every such exporter shares: it makes the Output
// (and the lane classifier of its queue) from the exporter's
// pipeline.Settings, and runs the Start/Shutdown state machine over the
// Output and the exporter's Transport (its HTTP client or gRPC
// connection): the Transport is started before the senders and closed
// after them, Shutdown is idempotent, and Start after Shutdown fails.
package sender
