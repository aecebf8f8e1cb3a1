// Package loadtest holds the end-to-end load runs behind `make bench`.
//
// TestLoad runs the real outpost binary, driven by telemetrygen (the
// OpenTelemetry load generator), exporting over OTLP/gRPC to an in-process
// OTLP sink. Each run prints the items per second that reached the sink,
// outpost's CPU-seconds per million items, its peak RSS, and its idle RSS;
// the median of several runs is reported per signal.
//
// TestCompare (`make bench-compare`) runs outpost and the OpenTelemetry
// Collector (bin/otelcol-peer) side by side, in alternation, on the same
// loads and the same sink (benchSink: pdata's OTLP/gRPC services, counting
// requests, items and gRPC wire bytes exactly), with a probe client that
// measures acknowledgement latency, and prints medians and the ratios
// outpost / Collector; docs/benchmarks.md describes the loads, columns,
// configurations and knobs.
//
// The runs take minutes and want a quiet machine, so they only run when
// OUTPOST_LOADTEST=1 (make bench sets it). They measure; they assert
// nothing about speed, which a shared 2-core machine cannot promise. The
// tests of the harness itself (the sink's counts, the backlog producer's,
// percentiles) run in the normal `go test`.
package loadtest
