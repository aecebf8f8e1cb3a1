// Package loadtest holds the end-to-end load runs behind `make bench`: the
// real outpost binary, driven by telemetrygen (the OpenTelemetry load
// generator), exporting over OTLP/gRPC to an in-process OTLP sink. Each run
// prints the items per second that reached the sink, outpost's CPU-seconds
// per million items, its peak RSS, and its idle RSS; the median of several
// runs is reported per signal.
//
// The runs take minutes and want a quiet machine, so they only run when
// OUTPOST_LOADTEST=1 (make bench sets it). They measure; they assert
// nothing about speed, which a shared 2-core machine cannot promise.
package loadtest
