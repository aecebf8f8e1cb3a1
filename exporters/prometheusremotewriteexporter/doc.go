// Package prometheusremotewriteexporter sends metrics to Prometheus (or
// anything that speaks its remote-write protocol: Mimir, Thanos receive,
// VictoriaMetrics, Cortex) with remote write 1.0: a snappy-compressed
// (block format) prompb.WriteRequest POSTed with Content-Encoding: snappy,
// Content-Type: application/x-protobuf and
// X-Prometheus-Remote-Write-Version: 0.1.0.
//
// # Mapping
//
// OTLP data is mapped the way Prometheus's own OTLP endpoint maps it
// (storage/remote/otlptranslator in prometheus/prometheus), with metric and
// label names from github.com/prometheus/otlptranslator under the
// configured translation_strategy, and label names as Prometheus 3's
// defaults make them (label_name_underscore_sanitization and
// label_name_preserve_multiple_underscores, both on: `_private` →
// `key_private`, `__reserved` kept, `a..b` → `a__b`):
//
//   - gauge → gauge; cumulative monotonic sum → counter (`_total`);
//     cumulative non-monotonic sum → gauge;
//   - cumulative histogram → classic histogram: `_bucket{le}` with
//     cumulative counts and `le="+Inf"` = count, `_sum` (when set),
//     `_count`;
//   - cumulative exponential histogram → native histogram (schema = scale,
//     a scale above 8 merged down to 8), or dropped with
//     send_native_histograms: false;
//   - summary → `{quantile}`, `_sum`, `_count`;
//   - delta (or unspecified) temporality → refused: not sent, counted
//     (reason delta_temporality), reported to the client as a partial
//     success. Convert to cumulative before this exporter.
//   - `job` = service.namespace/service.name (or service.name), `instance`
//     = service.instance.id; every other resource attribute goes to a
//     `target_info` series (value 1, at the latest timestamp of the
//     resource's points); promote_resource_attributes (or
//     resource_to_telemetry_conversion) copies chosen (all) resource
//     attributes onto every series; external_labels are added to series
//     that lack them.
//   - exemplars of counters, histograms and native histograms carry
//     trace_id and span_id (hex) and, within 128 runes, their filtered
//     attributes; a classic histogram's exemplar goes on the first bucket
//     that holds its value.
//   - metadata (type, unit, help) once per metric family per request.
//   - a point flagged "no recorded value" becomes the stale marker;
//     timestamps are truncated to milliseconds.
//
// Within one request, the samples of a series are merged and put in time
// order; a second point of the same series and timestamp is dropped and
// counted (Prometheus refuses a whole request for one conflicting
// sample). A point without a timestamp is dropped and counted too.
//
// # Delivery
//
// As every central exporter, each batch is split by priority lane,
// translated once, and the body queued (on disk by default): replay after
// an outage costs no translation. Senders merge consecutive bodies of one
// lane into one WriteRequest (its fields, timeseries and metadata, are
// repeated) and snappy-compress it once; a merged request Prometheus
// refuses is sent again in halves, so that only the bodies holding the
// refused samples are counted under the reasons below. target_info always travels
// in the default lane so its samples stay in order. 2xx is delivered; 429
// is retried after Retry-After; 5xx and network errors are retried; any
// other 4xx is refused for good. Prometheus answers 400 when a sample is
// out of order, out of bounds, too old or conflicts with a stored one, and
// then stores nothing of the request: those are counted under reasons
// out_of_order, out_of_bounds, too_old and duplicate_sample.
//
// # Client options
//
// tls, auth, headers and timeout are internal/clientconfig's, as for
// otlphttp (see docs/exporters.md, "Client options"). The auth section sends an
// Authorization header at every request, from a bearer token file or
// basic credentials (password or password_file); the files are re-read
// when they change, so a rotated token or password applies from the next
// request. With auth set, an Authorization header is refused in headers.
// The tls client certificate, key and CA files are re-read when they
// change too, but apply at the next TLS handshake, that is the next new
// connection: connections are kept alive, so a rotated certificate is used
// once the server or a load balancer closes the open one. A change that
// does not load (a certificate written before its key) keeps the previous
// contents and logs once. Header values and the password are never shown
// when a configuration is printed. The proxy is taken from HTTP_PROXY
// (http:// endpoints), HTTPS_PROXY (https://, through a CONNECT tunnel)
// and NO_PROXY as they are when the exporter starts; loopback endpoints
// are never proxied.
//
// # What it does not do
//
// Remote write 2.0 is not implemented (1.0 only). Delta temporality is not
// converted. Exponential histograms are not converted to classic ones. It
// does not split a batch into requests by sample count: the batch
// processor bounds request size. Prometheus itself does not store the
// metadata of a remote-write 1.0 request (its /api/v1/metadata lists
// scraped targets' metadata only); it is sent for receivers that keep it
// (Mimir, Cortex). Queue consumers above 1 may
// reorder a series' samples across requests, which Prometheus refuses
// unless its out-of-order window allows it. No goroutine watches the
// credential files (they are checked per handshake and per request), and
// there is no authentication beyond bearer tokens, basic auth and static
// headers (no SigV4, no OAuth2 client credentials).
package prometheusremotewriteexporter
