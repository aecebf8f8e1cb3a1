// Package otlpreceiver receives traces, metrics and logs over OTLP: gRPC
// (the opentelemetry.proto.collector.*.v1 Export services) and HTTP (POST
// of Export*ServiceRequest bodies to /v1/traces, /v1/metrics, /v1/logs).
//
// One receiver serves every signal that some pipeline takes from it; a
// signal that is not wired answers UNIMPLEMENTED (gRPC) or 404 (HTTP).
// Listeners come from the pipeline host, so a configuration reload never
// closes the port.
//
// Wire formats: gRPC with no compression, gzip or zstd; HTTP with
// Content-Type application/x-protobuf or application/json, and
// Content-Encoding none, gzip, zstd or deflate (zlib). Request sizes are
// capped after decompression (gRPC max_recv_msg_size, HTTP
// max_request_body_size), which defeats decompression bombs.
//
// Memory admission, the model for every receiver: requests are charged to
// memory_limit through pipeline/memlimit's Charge before they are read
// and while they are read, never after. HTTP charges a body sent as is
// whole from its Content-Length before reading it, and any other body as
// its decompressed bytes arrive (memlimit.Expansion bytes per byte, which
// also covers decoding), plus, for zstd, the window its first frame
// declares, which the decoder allocates whole. gRPC reads a message whole before the handler
// sees it, so a request is charged three times max_recv_msg_size (at most
// the whole capacity) before gRPC reads it, and brought to its decoded
// size once read. When the limit is taken, a charge waits up to a second
// for room, holding nothing, and one HTTP body at a time waits in the
// middle of its reading; then the request is refused with 429 and
// Retry-After / RESOURCE_EXHAUSTED with RetryInfo (counted as
// bad_requests reason memory_limit). A request larger than the limit can
// ever hold (memlimit.MaxRequestSize: what requests in flight may hold ÷
// Expansion) is refused as one over the size cap, 413 / RESOURCE_EXHAUSTED
// without RetryInfo (reason too_large), and Start logs a warning when
// memory_limit makes that cap lower than the configured one. So the bytes
// in flight never pass the limiter's capacity, whatever the clients send.
//
// A request is acknowledged only after the pipeline has taken it, so the
// pipeline's answer becomes the client's:
//
//	pipeline error                 HTTP                     gRPC
//	nil                            200                      OK
//	*pipeline.PartialError         200, partial_success     OK, partial_success
//	consumererror permanent        400                      INVALID_ARGUMENT
//	*pipeline.ThrottleError        429, Retry-After         RESOURCE_EXHAUSTED, RetryInfo
//	any other error                503, Retry-After         UNAVAILABLE, RetryInfo
//	undecodable request            400                      INVALID_ARGUMENT
//	request over the size cap      413                      RESOURCE_EXHAUSTED (no RetryInfo)
//
// Retry hints are the throttle's own or one second; Retry-After is in whole
// seconds, rounded up. When a fan-out joins several errors, a retryable one
// wins, so that data one pipeline could still take is not dropped; the
// client may then resend what another pipeline already took (at least
// once). Error bodies on HTTP are google.rpc.Status in the request's
// format. A request with no items is answered success without calling the
// pipeline.
//
// Every item is counted (outpost_receiver_accepted_items_total,
// outpost_receiver_refused_items_total by reason throttled, unavailable,
// permanent, rejected) and every request refused before it could be
// counted is too (outpost_receiver_bad_requests_total by reason decode,
// too_large, unsupported_media_type, unsupported_encoding,
// method_not_allowed, unauthenticated; gRPC requests with an unknown grpc-encoding are
// refused by gRPC itself and not counted). Nothing is logged per request;
// each kind of failure is logged at most once every ten seconds.
//
// Each protocol takes the shared security blocks of internal/serverconfig:
// `tls` (mutual TLS with client_ca_file; certificate, key and CA files
// followed, a rotated certificate served from the next connection), `auth`
// (bearer token file or basic credentials, checked before a gRPC message
// or an HTTP body is read; refused with 401 / UNAUTHENTICATED, counted as
// bad_requests reason unauthenticated) and, on HTTP, `cors` (preflight
// answered, Access-Control-Allow-Origin on every answer to an allowed
// origin). Start warns when a protocol listens beyond loopback without TLS
// or auth.
//
// Answers never carry the pipeline's error text: it names exporters,
// queue files and far-side URLs, the node's business. The client gets a
// fixed message for the outcome's kind (and partial success a fixed
// error_message); the log keeps the error, rate-limited.
//
// Deliberately not (yet) supported: HTTP/2 cleartext for OTLP/HTTP, gRPC
// reflection and health services, OTLP profiles, and passing client
// metadata (headers) down the pipeline.
package otlpreceiver
