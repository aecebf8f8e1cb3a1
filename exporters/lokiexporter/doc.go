// Package lokiexporter sends logs to Loki through its push API
// (/loki/api/v1/push): a push.PushRequest from github.com/grafana/loki/pkg/push,
// Loki's own wire types, in protobuf, snappy block-compressed, with the
// tenant in X-Scope-OrgID.
//
// # Mapping
//
// Each log record becomes one entry:
//
//   - Stream labels: a short, configured list (`labels:`), by default
//     service_name (resource service.name, "unknown_service" when absent, as
//     Loki itself names such streams), node (node.name) and site (node.site),
//     which outpost stamps on every resource from its `node` section, and
//     level. A label takes its value from a resource attribute, a log record
//     attribute or the severity; a label whose value is empty is left out
//     (Loki treats empty as absent), and a stream left with no label at all
//     is {service_name="unknown_service"}. Label names are sanitised as Loki
//     requires, [a-zA-Z_][a-zA-Z0-9_]* (every other byte, dots included,
//     becomes "_"; a leading digit gets "_" in front); values are kept
//     (invalid UTF-8 becomes U+FFFD).
//   - level: the SeverityNumber's range name (1-4 trace, 5-8 debug, 9-12
//     info, 13-16 warn, 17-20 error, 21-24 fatal) when the number is set,
//     else the SeverityText trimmed and lower-cased, else no level label
//     (Loki then detects a level from the line). The number goes first
//     because it is normalised: "Information", "INFO" and "info" from three
//     libraries make one stream, not three.
//   - Structured metadata: everything else, most specific first: trace_id
//     and span_id (lower-case hex), severity_text, severity_number, flags
//     (when set), the record's attributes, scope_name, scope_version and the
//     scope's attributes, then the resource's attributes (with
//     `resource_attributes: drop`, not those). These names are Loki's own
//     OTLP endpoint's, so queries written for it work. Names are sanitised
//     like label names; values are strings (numbers in decimal, booleans
//     true/false, bytes in base64, maps and slices as JSON). Attributes a
//     label uses are not repeated; a name that comes twice after sanitising
//     keeps its first (most specific) value; a name equal to one of the
//     stream's labels is left out.
//   - Line: a string body verbatim; a map body as JSON (keys in the order
//     they came) or logfmt (`body_format: logfmt`); any other body as its
//     string form (a slice as JSON, bytes in base64, an empty body as an
//     empty line).
//   - Timestamp: the record's time, else its observed time, else the time
//     the batch is encoded.
//
// A request holds one stream per distinct label set, streams sorted by
// their label string, entries sorted by timestamp within each stream (equal
// timestamps keep their order): entries reach Loki in order even where
// its unordered_writes is off.
//
// # Send path
//
// As in every central exporter: ConsumeLogs splits the batch by priority
// lane (`priority`), translates and encodes each part once into a body
// (Request Encoding "loki-push-proto", a PushRequest in protobuf) and puts
// it in a sender.Output, the durable queue by default. Senders merge
// consecutive bodies of one lane into one PushRequest (its one field,
// streams, is repeated), snappy-compress it once and POST it, with
// Content-Type application/x-protobuf, Content-Encoding snappy,
// User-Agent outpost, the configured headers, when `tenant` is set
// X-Scope-OrgID, and when `auth` is set Authorization.
//
// # Client options
//
// `tls`, `auth`, `headers` and the proxy are internal/clientconfig's, as
// in otlphttp (docs/exporters.md, "Client options"):
//
//   - auth: `bearer_token_file` (sent as "Authorization: Bearer <token>")
//     or `basic` (username with `password` or `password_file`). The files
//     are read when the exporter is created (missing or empty is an
//     error naming the key) and re-read when they change on disk: a
//     rotated token or password is sent from the next request.
//   - tls: the client certificate, key and CA files are re-read when they
//     change, at each TLS handshake, so a rotated certificate or CA takes
//     effect at the next new connection. HTTP keeps connections alive
//     between requests: the new certificate is used once Loki (or a load
//     balancer in front of it) closes the current one, or after a network
//     error. A change that does not load (a certificate written before
//     its key) keeps the previous files' contents until it does.
//   - headers: sent with every request; their values, like
//     auth.basic.password, print as [redacted] in %v, %+v, %#v and %s. Not
//     the headers the exporter sets (Content-Type, Content-Encoding,
//     Content-Length, Transfer-Encoding, Host, Connection), not
//     Authorization when `auth` is set, and not X-Scope-OrgID, refused
//     with "use tenant": the tenant has its own key, so that it is set in
//     one place only.
//   - proxy: HTTP_PROXY for http:// endpoints, HTTPS_PROXY (CONNECT) for
//     https:// ones, NO_PROXY for exceptions, read when the exporter
//     starts. Like every Go client, requests to localhost and loopback
//     addresses never go through a proxy.
//
// # Outcomes
//
// 2xx is delivered. 429 (Loki's ingestion or stream rate limits) is a
// throttle, retried after Retry-After when Loki gives one. Every 5xx is
// retried. Any other status is permanent: the request is dropped, counted
// (outpost_exporter_failed_items_total{reason="permanent"}) and Loki's
// message logged. Loki answers 400 for entries it will never take (out of
// order against what it has, too old, too far in the future, line or
// structured metadata too long, too many metadata entries); it has stored
// the request's other entries by then, but says which only in prose, so the
// whole request's items are counted as failed. Network errors are retried.
//
// # What it does not do
//
//   - No tenant per record (`tenant_from_attribute`): a queued Request
//     carries only its body, encoding and compression, so a tenant could
//     not survive the queue. The tenant is the exporter's, like its
//     endpoint, and applies to queued data too; use one exporter per tenant
//     (with a filter in each pipeline) to split.
//   - No JSON push (protobuf only, which every Loki 2.x and 3.x takes) and
//     no compression other than snappy (Loki's protobuf push takes nothing
//     else).
//   - No flattening of map attributes into several metadata entries (Loki's
//     OTLP endpoint does that); a map is one entry holding JSON, which keeps
//     entries within Loki's max_structured_metadata_entries_count.
//   - No observed_timestamp metadata, no counting of which entries of a
//     400 Loki took, no line truncation (Loki's max_line_size applies).
//   - No closing of kept-alive connections to pick up a rotated client
//     certificate sooner: that is the server's or load balancer's
//     connection age, as for every HTTP exporter.
package lokiexporter
