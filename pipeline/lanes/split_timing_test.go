package lanes

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchTraces returns 1000 spans in 10 resources of 2 scopes, every
// errEvery-th span an error (0: none).
func benchTraces(errEvery int) ptrace.Traces {
	td := ptrace.NewTraces()
	n := 0
	for r := range 10 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		rs.Resource().Attributes().PutInt("r", int64(r))
		for range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("scope")
			for range 50 {
				sp := ss.Spans().AppendEmpty()
				sp.SetName("GET /api")
				sp.Attributes().PutStr("http.route", "/api")
				if errEvery > 0 && n%errEvery == 0 {
					sp.Status().SetCode(ptrace.StatusCodeError)
				}
				n++
			}
		}
	}
	return td
}

func benchSplitTraces(b *testing.B, cfg Config, errEvery int) {
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	src := benchTraces(errEvery)
	items := src.SpanCount()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		td := ptrace.NewTraces()
		src.CopyTo(td)
		b.StartTimer()
		c.SplitTraces(td)
	}
	b.ReportMetric(float64(items)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

var benchRules = Config{Rules: []Rule{
	{Lane: "high", SpanStatus: "error"},
	{Lane: "low", Attribute: &AttributeMatch{Key: "http.route", Regex: "/health.*"}},
}}

// BenchmarkSplitTraces: 1000 spans, 10% errors, split into high and normal.
func BenchmarkSplitTraces(b *testing.B) {
	benchSplitTraces(b, benchRules, 10)
}

// BenchmarkSplitTracesOneLane: no errors, so the input is returned.
func BenchmarkSplitTracesOneLane(b *testing.B) {
	benchSplitTraces(b, benchRules, 0)
}

func BenchmarkSplitLogsSeverityText(b *testing.B) {
	c, err := New(Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "WARN"}}})
	if err != nil {
		b.Fatal(err)
	}
	src := plog.NewLogs()
	lrs := src.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	texts := []string{"info", "INFO", "Debug", "info", "info", "Warning", "info", "info", "info", "ERROR"}
	for i := range 1000 {
		lrs.AppendEmpty().SetSeverityText(texts[i%len(texts)])
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ld := plog.NewLogs()
		src.CopyTo(ld)
		b.StartTimer()
		c.SplitLogs(ld)
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}
