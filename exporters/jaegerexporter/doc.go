// Package jaegerexporter sends traces to Jaeger. Jaeger's collector (v1.35
// and later, and v2) takes OTLP natively, so the `jaeger` exporter is the
// OTLP exporter (internal/otlpsend, shared with otlpexporter: durable
// queue, priority lanes, uplink budget, retries, the OTLP outcome
// classification) with Jaeger's defaults: OTLP/gRPC to 127.0.0.1:4317
// (plaintext to a loopback address, TLS elsewhere), or OTLP/HTTP
// (protobuf) to http://127.0.0.1:4318/v1/traces with `protocol: http`;
// gzip, which every Jaeger accepts (zstd works with Jaeger v2 over both
// protocols, tested against v2.13).
//
// # service.name
//
// Jaeger files every span under its resource's service.name. A resource
// without one is stored by Jaeger v2 under the service
// "missing-service-name" (the name is written into the stored resource),
// so spans of unrelated applications end up together; Jaeger v1 uses
// "OTLPResourceNoServiceName". outpost leaves the data as it is by
// default; `default_service_name` fills the name in where it is missing
// or empty, on a copy of the batch (the exporter never changes data it
// shares with other consumers).
//
// # What it does not do
//
// It speaks neither Jaeger's Thrift nor its legacy gRPC (api_v2) protocol:
// no Jaeger still supported needs them. It exports traces only.
package jaegerexporter
