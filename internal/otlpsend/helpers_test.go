package otlpsend

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTraces makes n spans over two resources, with attributes and
// events (the same batch as otlpexporter's tests).
func testTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "checkout")
		rs.Resource().Attributes().PutInt("replica", int64(r))
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("outpost.test")
		for i := r; i < n; i += 2 {
			sp := ss.Spans().AppendEmpty()
			sp.SetName("GET /api/orders")
			sp.SetKind(ptrace.SpanKindServer)
			sp.SetTraceID(pcommon.TraceID{1, 2, 3, byte(i), byte(i >> 8)})
			sp.SetSpanID(pcommon.SpanID{4, 5, byte(i), byte(i >> 8)})
			sp.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i*1000))
			sp.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + i*1000 + 5_000_000))
			sp.Attributes().PutStr("http.method", "GET")
			sp.Attributes().PutInt("http.status_code", 200)
			sp.Attributes().PutStr("http.url", "https://shop.example/api/orders?id=12345")
			if i%10 == 0 {
				ev := sp.Events().AppendEmpty()
				ev.SetName("retry")
				ev.Attributes().PutDouble("backoff", 1.5)
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("upstream timeout")
			}
		}
	}
	return td
}
