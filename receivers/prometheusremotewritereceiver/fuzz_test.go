package prometheusremotewritereceiver

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// fuzzDecode feeds snappy-compressed bodies of one version to decode: it
// must never panic, must answer either data or a 400, 413 or 503, and
// must give back every byte it charged. The body is fuzzed before
// compression (so that the fuzzer reaches the protobuf decoder and the
// translation) and, with raw set, as sent.
func fuzzDecode(f *testing.F, ver version, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s, false)
		f.Add(snappy.Encode(nil, s), true)
	}
	f.Add([]byte("\x0a\xff\xff\xff\xff\x0f"), false)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f}, true)
	cfg := createDefaultConfig()
	cfg.MaxRequestBodySize = 64 << 10
	next, _ := consumer.NewMetrics(nil)
	// Lets one request hold about 42 KiB, less than the body cap.
	mem := memlimit.New(512<<10, nil)
	r, err := newReceiver(pipeline.Settings{ID: pipeline.MustID(Type), Memory: mem}, cfg, next)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, raw bool) {
		if !raw {
			body = snappy.Encode(nil, body)
		}
		for _, length := range []int64{int64(len(body)), -1} {
			res, charge, bad := r.decode(context.Background(), ver, bytes.NewReader(body), length)
			charge.Release()
			if n := mem.InFlight(); n != 0 {
				t.Fatalf("%d bytes still charged", n)
			}
			switch bad.status {
			case 0:
				if res.md.DataPointCount() != res.samples+res.histograms {
					t.Fatalf("%d points, %d samples + %d histograms written", res.md.DataPointCount(), res.samples, res.histograms)
				}
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
			default:
				t.Fatalf("status %d", bad.status)
			}
		}
	})
}

// histogramBody is a remote-write 1.0 request with native histograms
// (integer and float, spans with gaps) and an exemplar, so that the
// fuzzer starts from the bucket layout code.
func histogramBody(f *testing.F) []byte {
	return marshal(f, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: labels("__name__", "h", "job", "j"), Histograms: []prompb.Histogram{
			{Count: &prompb.Histogram_CountInt{CountInt: 4}, ZeroCount: &prompb.Histogram_ZeroCountInt{ZeroCountInt: 1}, Schema: 1, Timestamp: 1,
				PositiveSpans: []prompb.BucketSpan{{Offset: -2, Length: 2}, {Offset: 3, Length: 1}}, PositiveDeltas: []int64{1, 0, -1},
				NegativeSpans: []prompb.BucketSpan{{Offset: 1, Length: 1}}, NegativeDeltas: []int64{1}},
			{Count: &prompb.Histogram_CountFloat{CountFloat: 3}, ZeroCount: &prompb.Histogram_ZeroCountFloat{}, Schema: 0, Timestamp: 2,
				PositiveSpans: []prompb.BucketSpan{{Offset: 0, Length: 2}}, PositiveCounts: []float64{1, 2}},
		}},
		{Labels: labels("__name__", "h", "job", "j"), Exemplars: []prompb.Exemplar{{Labels: labels("trace_id", "0102030405060708090a0b0c0d0e0f10"), Value: 1, Timestamp: 1}}},
	}})
}

func FuzzDecodeV1(f *testing.F) { fuzzDecode(f, v1, v1Body(f, 3), histogramBody(f)) }

func FuzzDecodeV2(f *testing.F) { fuzzDecode(f, v2, v2Body(f)) }
