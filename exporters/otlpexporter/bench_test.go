package otlpexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

const benchSpans = 1000

// BenchmarkEncodeTraces (the encoding alone) is in internal/otlpsend.

// BenchmarkExportTracesGRPC measures a whole send of a 1000-span batch to a
// local sink over OTLP/gRPC: encode, compress (in gRPC), round trip, decode
// on the sink.
func BenchmarkExportTracesGRPC(b *testing.B) {
	for _, comp := range []string{CompressionNone, CompressionGzip, CompressionZstd} {
		b.Run(comp, func(b *testing.B) {
			sink := otlpsink.StartWith(b, otlpsink.Options{})
			e, _ := startExporter(b, grpcConfig(sink.GRPCAddr(), func(c *Config) { c.Compression = comp }))
			benchExport(b, e, sink)
		})
	}
}

// BenchmarkExportTracesHTTP is BenchmarkExportTracesGRPC over OTLP/HTTP.
func BenchmarkExportTracesHTTP(b *testing.B) {
	for _, comp := range []string{CompressionNone, CompressionGzip, CompressionZstd} {
		b.Run(comp, func(b *testing.B) {
			sink := otlpsink.StartWith(b, otlpsink.Options{})
			e, _ := startExporter(b, httpConfig(sink.HTTPURL(), func(c *HTTPConfig) { c.Compression = comp }))
			benchExport(b, e, sink)
		})
	}
}

func benchExport(b *testing.B, e *exporter, sink *otlpsink.Sink) {
	td := testTraces(benchSpans)
	raw, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := e.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sink.Spans())/b.Elapsed().Seconds(), "spans/s")
}
