package sender

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/pipeline/queue"
)

// The measurements behind StorageCodec (pipeline/queue/doc.go quotes
// them). Run:
//
//	go test -run '^$' -bench 'Storage' -benchtime 2s ./pipeline/sender/

// realisticSpans is a client request of n spans as an SDK sends them
// (telemetrygen's shape: random trace and span ids, a service resource,
// HTTP attributes), encoded as an OTLP ExportTraceServiceRequest.
func realisticSpans(rng *rand.Rand, n int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "checkout")
	ra.PutStr("service.instance.id", "checkout-7d9f8c6b5-x2x9q")
	ra.PutStr("host.name", "edge-node-17")
	ra.PutStr("telemetry.sdk.language", "go")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		var tid [16]byte
		var sid [8]byte
		for j := range tid {
			tid[j] = byte(rng.Uint32())
		}
		for j := range sid {
			sid[j] = byte(rng.Uint32())
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName("GET /api/cart")
		sp.SetKind(ptrace.SpanKindServer)
		t0 := start.Add(time.Duration(rng.IntN(1e9)))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(rng.IntN(5e8)))))
		a := sp.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutInt("http.response.status_code", []int64{200, 200, 200, 404, 500}[i%5])
		a.PutStr("url.path", "/api/cart")
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", rng.IntN(256), rng.IntN(256)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err)
	}
	return b
}

var storageCodecs = []string{StorageRaw, StorageS2, StorageSnappy, StorageZstd}

func codecName(c string) string {
	if c == "" {
		return "raw"
	}
	return c
}

// BenchmarkStorageAppend: store one client request (compress it with the
// codec and append it to a disk queue, fsync: interval); reports the disk
// bytes per item (record framing included) and CPU per item.
func BenchmarkStorageAppend(b *testing.B) {
	for _, spans := range []int{2, 100} {
		rng := rand.New(rand.NewPCG(1, 2))
		bodies := make([][]byte, 64)
		for i := range bodies {
			bodies[i] = realisticSpans(rng, spans)
		}
		for _, codec := range storageCodecs {
			b.Run(fmt.Sprintf("spans=%d/%s", spans, codecName(codec)), func(b *testing.B) {
				q, err := queue.Open(queue.Options{Kind: queue.KindDisk, Dir: b.TempDir(),
					Limits: queue.Limits{MaxBytes: 1 << 30, FullPolicy: queue.FullDropOldest, Fsync: queue.FsyncInterval, FsyncInterval: time.Second}})
				if err != nil {
					b.Fatal(err)
				}
				defer q.Close()
				b.ReportAllocs()
				b.SetBytes(int64(len(bodies[0])))
				var disk, items int64
				i := 0
				for b.Loop() {
					raw := bodies[i%len(bodies)]
					i++
					body, err := storeBody(codec, raw)
					if err != nil {
						b.Fatal(err)
					}
					rec := queue.Record{Lane: queue.LaneNormal, Items: spans, Signal: "traces", Encoding: "proto",
						Compression: codec, Body: body, RawSize: len(raw), Mergeable: true}
					if err := q.Append(rec); err != nil {
						b.Fatal(err)
					}
					disk += int64(len(body)) + 12 + 21 + int64(len("traces")+len("proto")+len(codec))
					items += int64(spans)
				}
				b.ReportMetric(float64(disk)/float64(items), "disk-B/item")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
			})
		}
	}
}

// BenchmarkStorageMergeAndSend: what a sender does with a backlog: take
// the records of one request (8192 spans in records of 100, as the
// default min_size), decompress each, concatenate, and compress the
// request once for the wire (zstd fastest, as the OTLP gRPC exporter);
// reports CPU per item and wire bytes per item.
func BenchmarkStorageMergeAndSend(b *testing.B) {
	const spans, records = 100, 82
	rng := rand.New(rand.NewPCG(3, 4))
	raws := make([][]byte, records)
	for i := range raws {
		raws[i] = realisticSpans(rng, spans)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	if err != nil {
		b.Fatal(err)
	}
	for _, codec := range storageCodecs {
		stored := make([][]byte, records)
		total := 0
		for i, r := range raws {
			stored[i], _ = storeBody(codec, r)
			total += len(r)
		}
		b.Run(codecName(codec), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(total))
			var merged, wire []byte
			var items, wireBytes int64
			for b.Loop() {
				merged = merged[:0]
				for i, s := range stored {
					if merged, err = loadBody(merged, codec, s, len(raws[i])); err != nil {
						b.Fatal(err)
					}
				}
				wire = enc.EncodeAll(merged, wire[:0])
				items += spans * records
				wireBytes += int64(len(wire))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(items), "ns/item")
			b.ReportMetric(float64(wireBytes)/float64(items), "wire-B/item")
		})
	}
}
