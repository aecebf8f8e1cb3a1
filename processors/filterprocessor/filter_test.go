package filterprocessor

import (
	"context"
	"fmt"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func settings(tel *selftelemetry.Metrics) pipeline.Settings {
	return pipeline.Settings{ID: pipeline.ID{Type: Type, Name: "edge"}, Telemetry: tel}
}

func dropped(tel *selftelemetry.Metrics, sig, reason string) int {
	return int(promtest.ToFloat64(tel.ProcessorDropped.WithLabelValues("filter/edge", sig, reason)))
}

func TestSpans(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	var got []ptrace.Traces
	next, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { got = append(got, td); return nil })
	p, err := NewFactory().CreateTraces(context.Background(), settings(tel), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	for _, names := range [][]string{{"GET /cart", "healthz", "readyz"}, {"healthz"}} {
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		for _, n := range names {
			spans.AppendEmpty().SetName(n)
		}
	}
	if err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].SpanCount() != 1 || got[0].ResourceSpans().Len() != 1 {
		t.Fatalf("handed on %d batches; want one with one span in one resource", len(got))
	}
	if n := got[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name(); n != "GET /cart" {
		t.Errorf("kept %q", n)
	}
	if d := dropped(tel, "traces", ReasonExcluded); d != 3 {
		t.Errorf("dropped excluded = %d, want 3", d)
	}

	// A batch with nothing left is not handed on.
	only := ptrace.NewTraces()
	only.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("readyz")
	if err := p.ConsumeTraces(context.Background(), only); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("an empty batch was handed on")
	}
	if d := dropped(tel, "traces", ReasonExcluded); d != 4 {
		t.Errorf("dropped excluded = %d, want 4", d)
	}
}

func TestLogs(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	var got plog.Logs
	next, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error { got = ld; return nil })
	p, err := NewFactory().CreateLogs(context.Background(), settings(tel), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		body      string
		sev       plog.SeverityNumber
		component string
	}
	records := []struct {
		rec
		keep bool
	}{
		{rec{"disk full", plog.SeverityNumberError, "disk"}, true},
		{rec{"user logged in", plog.SeverityNumberInfo, "auth"}, false},             // below WARN
		{rec{"no severity", plog.SeverityNumberUnspecified, "legacy"}, true},        // match_undefined
		{rec{"GET /healthz 200", plog.SeverityNumberWarn, "probe-http"}, false},     // excluded
		{rec{"GET /healthz 503", plog.SeverityNumberError, "router"}, true},         // body matches, attribute not
		{rec{"slow request", plog.SeverityNumberWarn2, "probe-http"}, true},         // attribute matches, body not
		{rec{"trace detail", plog.SeverityNumberTrace4, "db"}, false},               // below WARN
		{rec{"GET /healthz timeout", plog.SeverityNumberFatal, "probe-tcp"}, false}, // excluded
	}
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	want := map[string]bool{}
	for _, r := range records {
		lr := lrs.AppendEmpty()
		lr.Body().SetStr(r.body)
		lr.SetSeverityNumber(r.sev)
		lr.Attributes().PutStr("component", r.component)
		want[r.body] = r.keep
	}
	if err := p.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, lr := range got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
		kept[lr.Body().Str()] = true
	}
	for body, keep := range want {
		if kept[body] != keep {
			t.Errorf("%q kept = %v, want %v", body, kept[body], keep)
		}
	}
	if a, b := dropped(tel, "logs", ReasonNotIncluded), dropped(tel, "logs", ReasonExcluded); a != 2 || b != 2 {
		t.Errorf("dropped not_included %d, excluded %d; want 2, 2", a, b)
	}
}

func TestMetrics(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	var got pmetric.Metrics
	next, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error { got = md; return nil })
	p, err := NewFactory().CreateMetrics(context.Background(), settings(tel), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	// http.requests: 3 points, the one with code 200 excluded.
	reqs := ms.AppendEmpty()
	reqs.SetName("http.requests")
	sum := reqs.SetEmptySum()
	for _, code := range []string{"200", "404", "500"} {
		sum.DataPoints().AppendEmpty().Attributes().PutStr("code", code)
	}
	// http.latency: a histogram, included, its code-200 point kept
	// (the exclude names only http.requests).
	lat := ms.AppendEmpty()
	lat.SetName("http.latency")
	lat.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutStr("code", "200")
	// node.cpu: not included, 2 points dropped.
	cpu := ms.AppendEmpty()
	cpu.SetName("node.cpu")
	g := cpu.SetEmptyGauge()
	g.DataPoints().AppendEmpty()
	g.DataPoints().AppendEmpty()
	if err := p.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	out := got.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	if out.Len() != 2 || out.At(0).Name() != "http.requests" || out.At(1).Name() != "http.latency" {
		t.Fatalf("kept %d metrics", out.Len())
	}
	var codes []string
	for _, dp := range out.At(0).Sum().DataPoints().All() {
		v, _ := dp.Attributes().Get("code")
		codes = append(codes, v.Str())
	}
	if fmt.Sprint(codes) != "[404 500]" {
		t.Errorf("http.requests points kept %v, want [404 500]", codes)
	}
	if a, b := dropped(tel, "metrics", ReasonNotIncluded), dropped(tel, "metrics", ReasonExcluded); a != 2 || b != 1 {
		t.Errorf("dropped not_included %d, excluded %d; want 2, 1", a, b)
	}

	// A metric whose every point is excluded is removed, and with it the
	// scope and resource.
	md2 := pmetric.NewMetrics()
	m := md2.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("http.requests")
	m.SetEmptySum().DataPoints().AppendEmpty().Attributes().PutStr("code", "200")
	got = pmetric.NewMetrics()
	if err := p.ConsumeMetrics(context.Background(), md2); err != nil {
		t.Fatal(err)
	}
	if got.ResourceMetrics().Len() != 0 {
		t.Error("a batch with no data point left was handed on")
	}
	if md2.ResourceMetrics().Len() != 0 {
		t.Errorf("%d resources left in the batch", md2.ResourceMetrics().Len())
	}
}

func TestSignalWithoutFilterPasses(t *testing.T) {
	cfg := &Config{Spans: &SpanFilter{Exclude: nil}, Logs: &LogFilter{Exclude: &LogProperties{MatchType: "strict", Bodies: []string{"x"}}}}
	var got pmetric.Metrics
	next, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error { got = md; return nil })
	p, err := NewFactory().CreateMetrics(context.Background(), settings(nil), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	if err := p.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	if got.DataPointCount() != 1 {
		t.Errorf("metrics passed: %d points, want 1", got.DataPointCount())
	}
}
