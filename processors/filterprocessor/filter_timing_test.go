package filterprocessor

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
)

// benchFilter runs one goroutine (one core) over batches of n items; fresh
// copies are made with the timer stopped, since the filter removes items.
// It reports items per second and nanoseconds per item.
func benchFilter(b *testing.B, n int, fresh func(), run func()) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fresh()
		b.StartTimer()
		run()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}

func benchConfig(b *testing.B, src string) *Config {
	cfg := createDefaultConfig()
	if err := configs.Decode("bench.yaml", []byte(src), cfg); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// BenchmarkFilterLogs: 1000 records over 4 services; include at or above
// WARN (or no severity), exclude health-check bodies by regexp and probe
// components; about half the records are dropped.
func BenchmarkFilterLogs(b *testing.B) {
	const n = 1000
	cfg := benchConfig(b, `
logs:
  include: {match_type: strict, severity_number: {min: WARN, match_undefined: true}}
  exclude:
    match_type: regexp
    bodies: ["^GET /healthz"]
    record_attributes: [{key: component, value: "^probe"}]
`)
	p, err := newProcessor(pipeline.Settings{}, cfg, pipeline.SignalLogs, false)
	if err != nil {
		b.Fatal(err)
	}
	src := plog.NewLogs()
	for s := range 4 {
		rl := src.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(s))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for i := range n / 4 {
			lr := lrs.AppendEmpty()
			sev := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError, plog.SeverityNumberDebug}[i%4]
			lr.SetSeverityNumber(sev)
			if i%5 == 0 {
				lr.Body().SetStr("GET /healthz 200 " + strconv.Itoa(i))
				lr.Attributes().PutStr("component", "probe-http")
			} else {
				lr.Body().SetStr("request " + strconv.Itoa(i) + " took 12ms on worker 3")
				lr.Attributes().PutStr("component", "api")
			}
			lr.Attributes().PutStr("request.id", strconv.Itoa(i*7919))
		}
	}
	var ld plog.Logs
	benchFilter(b, n, func() { ld = plog.NewLogs(); src.CopyTo(ld) }, func() { p.logs(context.Background(), ld) })
}

// BenchmarkFilterSpans: 1000 spans; exclude health checks by name
// (strict) and a service by resource attribute.
func BenchmarkFilterSpans(b *testing.B) {
	const n = 1000
	cfg := benchConfig(b, `
spans:
  exclude: {match_type: strict, span_names: [healthz, readyz]}
`)
	p, err := newProcessor(pipeline.Settings{}, cfg, pipeline.SignalTraces, false)
	if err != nil {
		b.Fatal(err)
	}
	src := ptrace.NewTraces()
	spans := src.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetName([]string{"GET /cart", "healthz", "POST /pay", "readyz", "GET /items"}[i%5])
		sp.Attributes().PutStr("http.method", "GET")
	}
	var td ptrace.Traces
	benchFilter(b, n, func() { td = ptrace.NewTraces(); src.CopyTo(td) }, func() { p.traces(context.Background(), td) })
}
