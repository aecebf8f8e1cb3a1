package otlpsend

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

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
