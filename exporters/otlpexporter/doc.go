// Package otlpexporter sends traces, metrics and logs over OTLP: the `otlp`
// exporter speaks OTLP/gRPC, the `otlphttp` exporter OTLP/HTTP (protobuf or
// JSON). Both are how outpost reaches Jaeger (which takes OTLP natively),
// an OpenTelemetry Collector, or another outpost acting as a site gateway
// (use zstd there).
//
// # Send path
//
// Each ConsumeTraces/ConsumeMetrics/ConsumeLogs call encodes the batch
// once into a ready-to-send body (an OTLP ExportRequest; for OTLP/HTTP also
// compressed, with pooled encoders) and wraps it as a sender.Request. A
// sender.Sender then makes attempts through the transport's send function
// (retries with exponential backoff and jitter, per-attempt timeout,
// metrics, rate-limited logs). No attempt re-encodes the batch:
//
//	ConsumeX ─ encode once ─▶ sender.Request ─▶ Sender.Send ─▶ send function ─▶ wire
//	                                        ▲
//	                    the durable queue goes here (next change)
//
// For OTLP/gRPC the body is the plain protobuf ExportRequest, sent through
// ClientConn.Invoke with a pass-through codec; gRPC compresses each message
// (gzip, or zstd via internal/grpccompress) as it sends it, and the bytes
// counted as sent are the compressed ones gRPC reports. For OTLP/HTTP the
// body is already compressed and goes out as is, labelled from the
// Request (not from the current configuration), so a stored body stays
// valid across a configuration change.
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
// throttle honouring Retry-After (seconds or HTTP date); 502, 503 and 504
// are retried, honouring Retry-After when present; every other status is
// permanent. Errors carry the server's message (the google.rpc.Status
// message, or the first 256 bytes of a text body). Network errors are
// retried. When retries run out the caller gets a retryable error, a
// throttle if the last failure was one, so that receivers push back with
// 429 / RESOURCE_EXHAUSTED.
//
// # What it does not do (yet)
//
// There is no queue: ConsumeX blocks its caller while it retries, and
// Shutdown cancels sends in progress, whose callers then get a retryable
// error. The next change puts outpost's durable queue between the encoder
// and Sender.Send: ConsumeX will append the Request to the queue and
// return, and a fixed pool of workers will replay stored Requests through
// the same Sender. That is why the body is encoded, and for HTTP
// compressed, before the Sender sees it, and why a Request records its own
// encoding and compression. The uplink budget will meter the same bodies.
// There is no load balancing across several endpoints, no cert reload
// (clientconfig gains it later), no authentication extensions beyond
// static headers, and no OTLP profiles.
package otlpexporter
