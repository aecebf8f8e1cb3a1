package attributesprocessor

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/internal/itemmatch"
)

// BenchmarkAttributesSpans runs five actions on batches of 1000 spans with
// eight attributes each, behind an include on the service; it reports the
// cost per span (record).
func BenchmarkAttributesSpans(b *testing.B) {
	const n = 1000
	cfg := &Config{
		Include: &itemmatch.Properties{MatchType: "strict", Services: []string{"checkout"}},
		Actions: []attraction.Action{
			{Key: "environment", Value: "production", Action: "insert"},
			{Key: "owner", FromAttribute: "team", Action: "upsert"},
			{Key: "user.email", Action: "hash"},
			{Key: "db.statement", Action: "delete"},
			{Key: "http.route", Pattern: `^/api/(?P<api_version>v\d+)/`, Action: "extract"},
		},
	}
	p, err := newProcessor(cfg, itemmatch.Spans, false)
	if err != nil {
		b.Fatal(err)
	}
	src := ptrace.NewTraces()
	rs := src.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		a := sp.Attributes()
		a.PutStr("http.route", "/api/v1/users/"+strconv.Itoa(i))
		a.PutStr("http.method", "GET")
		a.PutInt("http.status_code", 200)
		a.PutStr("team", "payments")
		a.PutStr("user.email", "user"+strconv.Itoa(i)+"@example.com")
		a.PutStr("db.statement", "SELECT * FROM carts WHERE id = ?")
		a.PutStr("net.peer.name", "db-1")
		a.PutBool("cache.hit", i%2 == 0)
	}
	batches := make([]ptrace.Traces, b.N)
	for i := range batches {
		batches[i] = ptrace.NewTraces()
		src.CopyTo(batches[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.traces(context.Background(), batches[i])
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
