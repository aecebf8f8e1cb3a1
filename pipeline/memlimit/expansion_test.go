package memlimit

import (
	"fmt"
	"runtime"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestExpansion measures what a decoded OTLP traces request allocates per
// byte of its protobuf encoding, and checks that Expansion covers it, so
// the estimate a receiver charges is not an underestimate.
func TestExpansion(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range 1000 {
		s := ss.Spans().AppendEmpty()
		s.SetName(fmt.Sprintf("GET /api/v1/items/%d", i%50))
		s.SetTraceID([16]byte{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID([8]byte{byte(i), 1, 2, 3, 4, 5, 6, 7})
		s.Attributes().PutStr("http.method", "GET")
		s.Attributes().PutInt("http.status_code", 200)
		s.Attributes().PutStr("net.peer.name", "inventory.internal")
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := make([]ptraceotlp.ExportRequest, rounds)
	for i := range keep {
		keep[i] = ptraceotlp.NewExportRequest()
		if err := keep[i].UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	ratio := float64(after.TotalAlloc-before.TotalAlloc) / rounds / float64(len(body))
	t.Logf("decoded pdata allocates %.2f bytes per protobuf byte (%d-byte request of 1000 spans); Expansion = %d", ratio, len(body), Expansion)
	// The raw body is held too until decoding ends: one more byte per byte.
	if ratio+1 > Expansion {
		t.Errorf("decoding allocates %.2f× the protobuf size, more than Expansion = %d", ratio, Expansion)
	}
}
