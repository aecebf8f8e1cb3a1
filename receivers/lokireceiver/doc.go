// Package lokireceiver receives logs over Loki's push API, as Promtail,
// Grafana Alloy, the Docker driver, loki-client-go and loki-canary send
// them: POST to /loki/api/v1/push, or the legacy /api/prom/push.
//
// # Wire formats (as Loki's distributor takes them)
//
//   - Content-Type application/x-protobuf, or none: a push.PushRequest
//     (github.com/grafana/loki/pkg/push, Loki's own wire types) in
//     protobuf, as one snappy block. Content-Encoding none or snappy means
//     that block as is; gzip or deflate (raw DEFLATE, as Loki reads it)
//     wrap it once more.
//   - Content-Type application/json: {"streams":[{"stream":{"label":
//     "value"},"values":[["<Unix ns as a string>","<line>",{"<metadata
//     name>":"<value>"}]]}]} (the third element is optional), plain, gzip
//     or deflate. The older shape {"streams":[{"labels":"{a=\"b\"}",
//     "entries":[{"ts":"<RFC 3339>","line":"..."}]}]} is also taken, on
//     either path.
//
// Stream labels must be Loki's: at least one, names
// [a-zA-Z_][a-zA-Z0-9_]*, each once, values valid UTF-8. Anything else is a
// 400, as in Loki; the whole push is refused.
//
// # Mapping to OpenTelemetry logs
//
// Each stream becomes one ResourceLogs with one ScopeLogs (no scope name):
//
//   - Stream labels become resource attributes of the same name, except
//     service_name, which becomes service.name (Loki makes service_name
//     from service.name; the way back restores it).
//   - The X-Scope-OrgID header, when sent, becomes the resource attribute
//     loki.tenant.
//   - Each entry becomes one log record: the line is the body (a string,
//     verbatim); the entry's timestamp is the record's time when
//     use_incoming_timestamp is true (the default), and the arrival time is
//     its observed time; structured metadata become record attributes of
//     the same name (string values). Severity is left unset: Loki has no
//     severity field, and a `level` label or metadata stays an attribute.
//
// Round trip through outpost's loki exporter: with the exporter's labels
// listing the stream's label names as resource attributes ({resource:
// app} gives label app; the default service_name rule reads service.name)
// and `resource_attributes: drop`, a pushed line reaches Loki in the same
// stream, with the same labels, line, timestamp and structured metadata
// (cmd/outpost's TestLokiReceiverRealClients checks it with loki-client-go
// against a real Loki).
// With the exporter's defaults, labels it does not list and loki.tenant
// arrive as structured metadata instead.
//
// # Answers and admission
//
// 204 once every entry is in the pipelines' queues (acknowledged, see
// pipeline.Component). A retryable failure downstream (a full queue under
// `block`, a throttle) and memory_limit answer 503 with Retry-After, never
// 429, which Promtail and the Docker driver do not retry by default. A
// permanent refusal, or entries refused for good inside a partial
// success, answer 400 with the reason, as Loki does for entries it will
// not take. A body over max_request_body_size, as sent or decompressed
// (snappy's declared length is checked before it is decompressed), is
// 413; an unknown content type or encoding 415; a method other than POST
// 405.
//
// Memory admission follows otlpreceiver: a body sent as is with a
// Content-Length is charged (memlimit.Expansion bytes per byte) before a
// byte is read, any other as its bytes arrive, and a protobuf body's
// snappy block again by its decoded length before it is decompressed.
// When the limit is taken a charge waits up to a second, then the push is
// refused with 503 (bad_requests reason memory_limit).
//
// # Security
//
// protocols.http takes internal/serverconfig's `tls` and `auth` blocks:
// HTTPS (mutual TLS with client_ca_file) and a bearer token or basic
// credentials (Promtail's and Alloy's bearer_token / basic_auth), files
// followed without restart. A push without valid credentials is answered
// 401 before its body is read and counted in
// outpost_receiver_bad_requests_total{reason="unauthenticated"}. Answers
// to pipeline errors carry serverconfig's fixed messages, never the
// error's text (which can name queue files); the log has the error.
// Start warns when the endpoint is beyond loopback without TLS or auth.
//
// # What it does not do
//
// No gRPC push (Loki's logproto.Pusher); no mapping of a level label to
// the record's severity; no per-tenant limits, and no tenant bound to a
// credential (X-Scope-OrgID is taken as sent).
package lokireceiver
