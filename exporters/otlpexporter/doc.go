// Package otlpexporter sends traces, metrics and logs over OTLP: the `otlp`
// exporter speaks OTLP/gRPC, the `otlphttp` exporter OTLP/HTTP (protobuf or
// JSON). Both are how outpost reaches an OpenTelemetry Collector, or
// another outpost acting as a site gateway (use zstd there); the `jaeger`
// exporter (jaegerexporter) is the same machinery with Jaeger's defaults.
//
// This package holds the two configurations and factories; the sending
// machinery described below is internal/otlpsend, shared with
// jaegerexporter. The client options (tls, auth, headers, timeout) are
// internal/clientconfig's: certificate, CA and token files are re-read
// when they change (see docs/exporters.md, "Client options").
//
// # Send path
//
// Each ConsumeTraces/ConsumeMetrics/ConsumeLogs call splits the batch by
// priority lane (pipeline/lanes, from the `priority` rules), encodes each
// part once into a ready-to-send body (an OTLP ExportRequest, compressed
// with pooled encoders) and puts it in a sender.Output: the exporter's
// durable queue (pipeline/queue, on disk by default). The call returns once
// the body is stored, so the client is acknowledged then. The queue's
// senders read bodies, most important lane first, wait on the shared uplink
// budget for each attempt's bytes, and send them through the transport
// with retries, until each is delivered, refused for good or older than
// `queue.max_age`. No attempt, and no replay after a restart, re-encodes or
// re-compresses a body:
//
//	ConsumeX ─ split by lane ─ encode+compress once ─▶ queue ─▶ senders ─▶ uplink budget ─▶ transport ─▶ wire
//
// With `queue.enabled: false` the Output sends on the caller's goroutine
// instead, and the caller's acknowledgement waits for the server's.
//
// For OTLP/gRPC the body is compressed by the exporter and handed to gRPC
// as precompressed (internal/grpccompress.Precompressed): gRPC frames it
// with the compressed flag and its grpc-encoding without compressing it
// again, so the bytes counted, and metered by the uplink budget, are the
// bytes on the wire. For OTLP/HTTP the compressed body goes out as is. Both
// label the body from the stored Request (not from the current
// configuration), so a stored body stays valid across a configuration
// change.
//
// # Outcomes
//
// gRPC: OK is delivered (a partial_success with rejected items becomes a
// *pipeline.PartialError and the rejected items are counted with reason
// "rejected"); UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
// DATA_LOSS and CANCELED (when not caused by our own shutdown) are retried,
// after the server's RetryInfo delay if it gives one; RESOURCE_EXHAUSTED is
// retried only with RetryInfo (it is then a throttle), as the OTLP
// specification says; every other code is permanent. HTTP: 2xx is delivered
// (with partial success decoded from the body when present); 429 is a
// throttle honouring Retry-After (seconds or HTTP date); every 5xx is
// retried, honouring Retry-After when present (the OTLP specification
// retries only 502, 503 and 504; outpost's delivery contract, with a
// durable queue behind it, retries every 5xx); every other status is
// permanent. Errors carry the server's message (the google.rpc.Status
// message, or the first 256 bytes of a text body). Network errors are
// retried. Without a queue, when retries run out the caller gets a
// retryable error, a throttle if the last failure was one, so that
// receivers push back with 429 / RESOURCE_EXHAUSTED; with a queue, a full
// queue under `full_policy: block` does the same.
//
// # What it does not do
//
// There is no load balancing across several endpoints, no authentication
// beyond bearer tokens, basic auth and static headers, and no OTLP
// profiles. A batch touching several lanes is
// stored as several bodies; if only some of them are stored (a full queue),
// the caller is asked to retry the whole batch, and the stored parts are
// then delivered twice (at-least-once).
package otlpexporter
