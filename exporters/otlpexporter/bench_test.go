package otlpexporter

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

const benchSpans = 1000

// BenchmarkEncodeTraces measures the one-time encoding of a 1000-span batch
// into a ready-to-send body. Bytes/s are of the uncompressed protobuf, so
// the variants compare; body-B/op is what would go on the wire.
func BenchmarkEncodeTraces(b *testing.B) {
	td := testTraces(benchSpans)
	raw, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	for _, v := range []struct {
		name        string
		encoding    sender.Encoding
		compression string
	}{
		{"proto", sender.EncodingProto, CompressionNone},
		{"proto+gzip", sender.EncodingProto, CompressionGzip},
		{"proto+zstd", sender.EncodingProto, CompressionZstd},
		{"json", sender.EncodingJSON, CompressionNone},
		{"json+zstd", sender.EncodingJSON, CompressionZstd},
	} {
		b.Run(v.name, func(b *testing.B) {
			enc := encoder{encoding: v.encoding}
			if v.compression != CompressionNone {
				enc.compressor = newBodyCompressor(v.compression, false)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			var body int
			for b.Loop() {
				r, err := enc.encode(pipeline.SignalTraces, benchSpans, ptraceotlp.NewExportRequestFromTraces(td))
				if err != nil {
					b.Fatal(err)
				}
				body = len(r.Body)
			}
			b.ReportMetric(float64(body), "body-B/op")
		})
	}
}

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
