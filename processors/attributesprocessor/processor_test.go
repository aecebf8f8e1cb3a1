package attributesprocessor

import (
	"context"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/internal/itemmatch"
	"github.com/outpost-edge/outpost/pipeline"
)

var tagAction = []attraction.Action{{Key: "tagged", Value: true, Action: "insert"}}

func tagged(attrs pcommon.Map) bool {
	_, ok := attrs.Get("tagged")
	return ok
}

func testSettings() pipeline.Settings {
	return pipeline.Settings{ID: pipeline.ID{Type: Type}}
}

// spans builds two services' spans: checkout {GET /cart, healthz} and
// billing {charge}.
func spans() ptrace.Traces {
	td := ptrace.NewTraces()
	for _, svc := range []struct {
		name  string
		spans []string
	}{{"checkout", []string{"GET /cart", "healthz"}}, {"billing", []string{"charge"}}} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc.name)
		ss := rs.ScopeSpans().AppendEmpty()
		for _, n := range svc.spans {
			sp := ss.Spans().AppendEmpty()
			sp.SetName(n)
			sp.Attributes().PutStr("http.route", "/api/v2/cart")
		}
	}
	return td
}

func TestTracesIncludeExclude(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in, ex *itemmatch.Properties
		want   map[string]bool // span name → tagged
	}{
		{"no filter", nil, nil, map[string]bool{"GET /cart": true, "healthz": true, "charge": true}},
		{"include service", &itemmatch.Properties{MatchType: "strict", Services: []string{"checkout"}}, nil,
			map[string]bool{"GET /cart": true, "healthz": true, "charge": false}},
		{"exclude span name", nil, &itemmatch.Properties{MatchType: "regexp", SpanNames: []string{"^health"}},
			map[string]bool{"GET /cart": true, "healthz": false, "charge": true}},
		{"include and exclude", &itemmatch.Properties{MatchType: "strict", Services: []string{"checkout"}},
			&itemmatch.Properties{MatchType: "strict", SpanNames: []string{"healthz"}},
			map[string]bool{"GET /cart": true, "healthz": false, "charge": false}},
		{"include by attribute", &itemmatch.Properties{MatchType: "regexp", Attributes: []itemmatch.Attribute{{Key: "http.route", Value: "^/api/v2/"}}}, nil,
			map[string]bool{"GET /cart": true, "healthz": true, "charge": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got ptrace.Traces
			next, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { got = td; return nil })
			cfg := &Config{Include: tc.in, Exclude: tc.ex, Actions: tagAction}
			p, err := NewFactory().CreateTraces(context.Background(), testSettings(), cfg, next)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.ConsumeTraces(context.Background(), spans()); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, rs := range got.ResourceSpans().All() {
				for _, sp := range rs.ScopeSpans().At(0).Spans().All() {
					n++
					if tagged(sp.Attributes()) != tc.want[sp.Name()] {
						t.Errorf("span %q tagged = %v, want %v", sp.Name(), !tc.want[sp.Name()], tc.want[sp.Name()])
					}
				}
			}
			if n != 3 {
				t.Errorf("%d spans handed on, want 3", n)
			}
		})
	}
}

func TestLogsSeverityAndBody(t *testing.T) {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for _, r := range []struct {
		body string
		sev  plog.SeverityNumber
	}{{"user 17 logged in", plog.SeverityNumberInfo}, {"disk failure", plog.SeverityNumberError}, {"cache miss", plog.SeverityNumberDebug}} {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(r.body)
		lr.SetSeverityNumber(r.sev)
	}
	var got plog.Logs
	next, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error { got = ld; return nil })
	cfg := &Config{
		Include: &itemmatch.Properties{MatchType: "strict", LogSeverityNumber: &itemmatch.SeverityNumber{Min: "INFO"}},
		Exclude: &itemmatch.Properties{MatchType: "regexp", LogBodies: []string{"^disk"}},
		Actions: tagAction,
	}
	p, err := NewFactory().CreateLogs(context.Background(), testSettings(), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"user 17 logged in": true, "disk failure": false, "cache miss": false}
	for _, lr := range got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().All() {
		if tagged(lr.Attributes()) != want[lr.Body().Str()] {
			t.Errorf("record %q tagged = %v", lr.Body().Str(), tagged(lr.Attributes()))
		}
	}
}

func TestMetricsPointsSelected(t *testing.T) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("http.requests")
	sum := g.SetEmptySum()
	for _, code := range []string{"200", "500"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("code", code)
	}
	h := ms.AppendEmpty()
	h.SetName("cpu.seconds")
	h.SetEmptyHistogram().DataPoints().AppendEmpty().Attributes().PutStr("code", "500")

	var got pmetric.Metrics
	next, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error { got = md; return nil })
	cfg := &Config{
		Include: &itemmatch.Properties{MatchType: "strict", MetricNames: []string{"http.requests"}, Attributes: []itemmatch.Attribute{{Key: "code", Value: "500"}}},
		Actions: tagAction,
	}
	p, err := NewFactory().CreateMetrics(context.Background(), testSettings(), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
	out := got.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	pts := out.At(0).Sum().DataPoints()
	if tagged(pts.At(0).Attributes()) || !tagged(pts.At(1).Attributes()) {
		t.Errorf("http.requests points tagged: 200=%v 500=%v, want false, true", tagged(pts.At(0).Attributes()), tagged(pts.At(1).Attributes()))
	}
	if tagged(out.At(1).Histogram().DataPoints().At(0).Attributes()) {
		t.Error("cpu.seconds tagged, but its name is not included")
	}
}

func TestReadOnlyInputIsCopied(t *testing.T) {
	td := spans()
	td.MarkReadOnly()
	var got ptrace.Traces
	next, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { got = td; return nil })
	p, err := NewFactory().CreateTraces(context.Background(), testSettings(), &Config{Actions: tagAction}, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if tagged(td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()) {
		t.Error("read-only input was changed")
	}
	if !tagged(got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()) {
		t.Error("output not tagged")
	}
	if !p.Capabilities().MutatesData {
		t.Error("processor does not declare MutatesData")
	}
}

func TestCreateChecksSignal(t *testing.T) {
	cfg := &Config{Include: &itemmatch.Properties{MatchType: "strict", LogBodies: []string{"x"}}, Actions: tagAction}
	next, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error { return nil })
	_, err := NewFactory().CreateTraces(context.Background(), testSettings(), cfg, next)
	if err == nil || !strings.Contains(err.Error(), "include.log_bodies: does not apply to spans") {
		t.Fatalf("CreateTraces: %v", err)
	}
	nextLogs, _ := consumer.NewLogs(func(context.Context, plog.Logs) error { return nil })
	if _, err := NewFactory().CreateLogs(context.Background(), testSettings(), cfg, nextLogs); err != nil {
		t.Fatalf("CreateLogs: %v", err)
	}
	if _, err := NewFactory().CreateLogs(context.Background(), testSettings(), cfg, nil); err == nil {
		t.Fatal("CreateLogs with nil next: nil error")
	}
}

// FuzzConfig decodes arbitrary YAML as the configuration, validates and
// compiles it, and runs it on a batch: nothing may panic, and a
// configuration that validates must compile for every signal it applies to.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"actions: [{key: a, value: b, action: insert}]",
		"actions: [{key: a, pattern: '(?P<x>.+)', action: extract}]",
		"include: {match_type: regexp, span_names: ['^a']}\nactions: [{pattern: '.', action: hash}]",
		"actions: [{key: a, action: convert, converted_type: double}, {key: b, from_attribute: a, action: upsert}]",
		"actions: [{key: a, value: {x: [1, 2.5, true]}, action: upsert}]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg := createDefaultConfig()
		if err := configs.Decode("fuzz.yaml", []byte(src), cfg); err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		p, err := newProcessor(cfg, itemmatch.Spans, false)
		if err != nil {
			if strings.Contains(err.Error(), "does not apply") {
				return
			}
			t.Fatalf("valid config does not compile: %v", err)
		}
		td := spans()
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutInt("a", 12)
		p.traces(context.Background(), td)
	})
}

// TestConcurrentBatches runs one processor on many batches at once, as
// several receivers do; the race detector checks that the compiled
// actions (a mapping value shared by every upsert) are only read.
func TestConcurrentBatches(t *testing.T) {
	cfg := &Config{Actions: []attraction.Action{
		{Key: "limits", Value: map[string]any{"cpu": 2, "tags": []any{"a"}}, Action: "upsert"},
		{Key: "copy", FromAttribute: "http.route", Action: "insert"},
		{Key: "http.route", Pattern: `^/api/(?P<api>v\d+)/`, Action: "extract"},
	}}
	const workers, batches = 4, 50
	var mu sync.Mutex
	got := 0
	next, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		for _, rs := range td.ResourceSpans().All() {
			for _, sp := range rs.ScopeSpans().At(0).Spans().All() {
				v, _ := sp.Attributes().Get("limits")
				api, _ := sp.Attributes().Get("api")
				if v.Map().Len() != 2 || api.Str() != "v2" {
					t.Errorf("span attributes %v", sp.Attributes().AsRaw())
				}
			}
		}
		mu.Lock()
		got += td.SpanCount()
		mu.Unlock()
		return nil
	})
	p, err := NewFactory().CreateTraces(context.Background(), testSettings(), cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range batches {
				if err := p.ConsumeTraces(context.Background(), spans()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got != workers*batches*3 {
		t.Errorf("%d spans handed on, want %d", got, workers*batches*3)
	}
}
