package otlpreceiver

import (
	"bytes"
	"context"
	"testing"

	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// fuzzDecode feeds (content type, content encoding, body) to decodeHTTP for
// one signal: it must never panic, and must answer either data or a 400,
// 413 or 415.
func fuzzDecode[T any](f *testing.F, def *signalDef[T], p payload) {
	seed := func(ct, ce string, body []byte) { f.Add(ct, ce, body) }
	seed(contentTypeProto, "", p.proto)
	seed(contentTypeJSON, "", p.json)
	seed(contentTypeProto, "gzip", gzipBytes(f, p.proto))
	seed(contentTypeJSON, "gzip", gzipBytes(f, p.json))
	seed(contentTypeProto, "zstd", zstdBytes(f, p.proto))
	seed(contentTypeJSON, "zstd", zstdBytes(f, p.json))
	seed(contentTypeProto, "deflate", deflateBytes(f, p.proto))
	seed(contentTypeJSON+"; charset=utf-8", "identity", p.json)
	seed(contentTypeProto, "", []byte("\x0a\xff\xff\xff\xff\x0f"))
	seed(contentTypeJSON, "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`))
	seed("text/plain", "br", []byte("x"))
	seed(contentTypeProto, "gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	seed(contentTypeProto, "zstd", []byte{0x28, 0xb5, 0x2f, 0xfd})
	// A small cap keeps decompression bombs cheap, so the fuzzer spends its
	// time on inputs rather than on inflating them.
	br := newBodyReader(64 << 10)
	// Charged against a limit that lets one request hold about 42 KiB, less
	// than the body cap, so that both caps are exercised; every byte
	// charged must be given back.
	mem := memlimit.New(512<<10, nil)
	f.Fuzz(func(t *testing.T, ct, ce string, body []byte) {
		for _, length := range []int64{int64(len(body)), -1} {
			data, _, charge, bad := decodeHTTP(context.Background(), br, def, ct, ce, bytes.NewReader(body), length, mem)
			charge.Release()
			if n := mem.InFlight(); n != 0 {
				t.Fatalf("%d bytes still charged after the request (answer %d)", n, bad.status)
			}
			switch bad.status {
			case 0:
				if n := def.count(data); n < 0 {
					t.Fatalf("negative item count %d", n)
				}
			case 400, 413, 415:
				if bad.reason == "" || bad.msg == "" {
					t.Fatalf("bad request without reason or message: %+v", bad)
				}
			default:
				t.Fatalf("unexpected status %d (%s)", bad.status, bad.msg)
			}
		}
	})
}

func FuzzDecodeTraces(f *testing.F)  { fuzzDecode(f, tracesDef, payloads(f)[0]) }
func FuzzDecodeMetrics(f *testing.F) { fuzzDecode(f, metricsDef, payloads(f)[1]) }
func FuzzDecodeLogs(f *testing.F)    { fuzzDecode(f, logsDef, payloads(f)[2]) }
