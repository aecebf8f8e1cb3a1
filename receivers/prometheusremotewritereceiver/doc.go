// Package prometheusremotewritereceiver receives metrics by Prometheus
// remote write, 1.0 (prompb.WriteRequest) and 2.0
// (io.prometheus.write.v2.Request), on one HTTP endpoint (POST
// /api/v1/write by default), and hands them to the pipeline as pdata.
//
// # Wire
//
// The version is negotiated from Content-Type as the remote-write 2.0
// specification says: application/x-protobuf without a proto parameter,
// or with proto=prometheus.WriteRequest, is 1.0;
// proto=io.prometheus.write.v2.Request is 2.0; any other message type or
// media type is answered 415, and so is a Content-Encoding other than
// snappy (block format; an absent Content-Type or Content-Encoding is
// taken as 1.0 and snappy, as Prometheus's own receiver does for old
// clients). A 2.0 request is answered with the
// X-Prometheus-Remote-Write-Samples-Written, -Histograms-Written and
// -Exemplars-Written headers: what the pipeline took (0 on a failure).
//
//	pipeline error / request             HTTP
//	nil                                   204
//	*pipeline.ThrottleError (queue full)  503, Retry-After: its hint or 1 s
//	any other retryable error             503, Retry-After: 1
//	consumererror permanent               400
//	*pipeline.PartialError                400 (the rest is stored)
//	undecodable body, bad symbol refs     400
//	over max_request_body_size            413
//	refused at memory_limit               503, Retry-After: 1
//
// Never 429: Prometheus does not retry a 429 unless its
// retry_on_http_429 is set, and would drop the batch. When a fan-out joins
// several errors, a retryable one wins (Prometheus resends; at least
// once).
//
// # Memory
//
// The snappy body is charged to memory_limit byte for byte as it is read
// (whole, from Content-Length, when declared), and its decoded length,
// which the snappy block header states, is checked against
// max_request_body_size and charged memlimit.Expansion times before the
// body is decoded; that covers the decoded bytes, the protobuf
// structures and the pdata. Native histograms are stored densely in
// OTLP, so the empty buckets one request's spans may declare are bounded
// by its size too.
//
// # Mapping
//
// The translation is designed so that a series written into outpost and
// forwarded by outpost's prometheusremotewrite exporter arrives with the
// same name, labels and values:
//
//   - job → resource service.name, instance → resource
//     service.instance.id (one resource per pair, as the OpenTelemetry
//     Prometheus compatibility specification maps them); other labels →
//     data point attributes; __name__ → the metric name, unchanged.
//   - float series → cumulative monotonic sum when the name ends in
//     _total and the type is counter or unknown; gauge otherwise (gauges,
//     classic histogram and summary parts, info, stateset, and counters
//     not named _total, which the exporter would rename).
//   - types: from each series' metadata in 2.0; in 1.0 from metadata sent
//     earlier (remembered per family name, up to metadata_cache_size), and
//     without any from the _total suffix.
//   - native histograms (integer, and float with whole counts) →
//     exponential histograms: scale = schema, OTLP bucket index =
//     Prometheus index − 1, zero bucket and threshold kept; custom-bucket
//     (schema −53) and non-integer float histograms are refused, counted
//     with reason unsupported.
//   - unit: kept when the name (without _total) ends with it; help →
//     description; stale NaN → "no recorded value" flag; 2.0 start
//     timestamps → start timestamps.
//   - exemplars → exemplars of the latest point of their series in the
//     request (trace_id/span_id as ids, other labels as filtered
//     attributes); without such a point they are left out, counted in
//     outpost_receiver_dropped_exemplars_total.
//
// # Security
//
// `tls` and `auth` are internal/serverconfig's blocks: HTTPS (mutual TLS
// with client_ca_file) and a bearer token or basic credentials, files
// followed without restart. A request without valid credentials is
// answered 401 before its body is read, and counted in
// outpost_receiver_bad_requests_total{reason="unauthenticated"}. Answers
// to pipeline errors carry serverconfig's fixed messages, never the
// error's text (which can name queue files); the log has the error.
// Start warns when the endpoint is beyond loopback without TLS or auth.
//
// # What it does not do
//
// It does not reassemble classic histograms or summaries from their
// series (remote write spreads them over requests and shards), keep
// metadata for series types it maps to gauges, or serve remote read.
package prometheusremotewritereceiver
