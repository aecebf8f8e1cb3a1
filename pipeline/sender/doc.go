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
//   - consumererror.IsPermanent: refused for good; not retried;
//   - pipeline.IsThrottle: the far side asks to slow down; retried after its
//     hint (RetryAfter) when it gives one;
//   - anything else: transient; retried with exponential backoff and jitter.
//
// The Sender owns the retry loop, the per-attempt timeout, the exporter
// metrics (outpost_exporter_*) and rate-limited failure logs, so that every
// exporter behaves alike.
//
// Because a Request is self-contained (its body is already in wire format,
// and it records the encoding and compression it was made with), it can be
// stored and replayed later: the durable queue that follows this package
// sits between an exporter's encoder and Sender.Send, and replays a stored
// Request without re-encoding it, even if the exporter's configuration has
// changed since.
//
// The package deliberately does not queue, batch, or run worker goroutines:
// Send is synchronous and runs on the caller's goroutine. Concurrency and
// buffering are the caller's (the queue's) business.
package sender
