package otlpsend

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// smallTraceRequests makes n requests of per spans each, shaped as
// telemetrygen's default traces (a client span and its server child,
// random IDs, 123 µs, one resource and scope per request), the load the
// exporter-side batching merges.
func smallTraceRequests(tb testing.TB, n, per int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Unix(1_700_000_000, 0)
	out := make([][]byte, 0, n)
	for range n {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("telemetrygen")
		var tid pcommon.TraceID
		var parent pcommon.SpanID
		for i := range per {
			sp := ss.Spans().AppendEmpty()
			var sid pcommon.SpanID
			for j := range sid {
				sid[j] = byte(r.Uint32())
			}
			start = start.Add(time.Duration(r.IntN(200)) * time.Microsecond)
			if i%2 == 0 {
				for j := range tid {
					tid[j] = byte(r.Uint32())
				}
				parent = sid
				sp.SetName("lets-go")
				sp.SetKind(ptrace.SpanKindClient)
				sp.Attributes().PutStr("network.peer.address", "1.2.3.4")
				sp.Attributes().PutStr("peer.service", "telemetrygen-server")
			} else {
				sp.SetParentSpanID(parent)
				sp.SetName("okey-dokey-0")
				sp.SetKind(ptrace.SpanKindServer)
				sp.Attributes().PutStr("network.peer.address", "1.2.3.4")
				sp.Attributes().PutStr("peer.service", "telemetrygen-client")
			}
			sp.SetTraceID(tid)
			sp.SetSpanID(sid)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(123 * time.Microsecond)))
		}
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkMergedZstdLevel compresses a merged request of 75 requests of
// 100 spans (7,500 spans, about what queue.batch forms from telemetrygen's
// defaults) at each zstd level; wire-B/item is the compressed size per span.
// The one-resource variants hold the same spans under a single resource
// and scope: what merging the identical resources of the concatenated
// requests would leave (measured here: 30.19 against 30.27 bytes a span,
// 0.3%, so the merge keeps concatenating).
func BenchmarkMergedZstdLevel(b *testing.B) {
	const reqs, per = 75, 100
	var merged []byte
	for _, r := range smallTraceRequests(b, reqs, per) {
		merged = append(merged, r...)
	}
	// The same spans under one resource and scope: what merging the
	// resources of identical bytes would leave.
	one := smallTraceRequests(b, 1, reqs*per)[0]
	for _, v := range []struct {
		name string
		lv   zstd.EncoderLevel
		body []byte
	}{
		{"concat/fastest", zstd.SpeedFastest, merged},
		{"concat/default", zstd.SpeedDefault, merged},
		{"concat/better", zstd.SpeedBetterCompression, merged},
		{"concat/best", zstd.SpeedBestCompression, merged},
		{"one-resource/fastest", zstd.SpeedFastest, one},
		{"one-resource/default", zstd.SpeedDefault, one},
	} {
		lv, merged := v.lv, v.body
		b.Run(v.name, func(b *testing.B) {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(lv), zstd.WithEncoderCRC(false))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(merged)))
			var out []byte
			for b.Loop() {
				out = enc.EncodeAll(merged, out[:0])
			}
			b.ReportMetric(float64(len(out))/float64(reqs*per), "wire-B/item")
			b.ReportMetric(float64(len(merged))/float64(reqs*per), "raw-B/item")
		})
	}
}
