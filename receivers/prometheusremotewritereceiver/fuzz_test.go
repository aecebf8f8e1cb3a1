package prometheusremotewritereceiver

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/klauspost/compress/snappy"
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
	r := newReceiver(pipeline.Settings{ID: pipeline.MustID(Type), Memory: mem}, cfg, next)
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

func FuzzDecodeV1(f *testing.F) { fuzzDecode(f, v1, v1Body(f, 3)) }

func FuzzDecodeV2(f *testing.F) { fuzzDecode(f, v2, v2Body(f)) }
