package lanes

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The split tests share one layout, in three signals. Items whose name
// starts with "E" are errors (high), "F" are from a free tier (low), the
// rest are normal:
//
//	r1: s1 [a Eb c]  s2 [Ed]        mixed resource, one uniform scope
//	r2: s5 [i j k l]                all home (normal)
//	r3: s3 [Ee Ef]                  a whole resource in another lane
//	r4: s4 [Eg Fh]                  no home items: leaves the home part
//	r5: (no scopes)                 no items: stays in the home part
var layout = []struct {
	res    string
	scopes map[string][]string
	order  []string
}{
	{"r1", map[string][]string{"s1": {"a", "Eb", "c"}, "s2": {"Ed"}}, []string{"s1", "s2"}},
	{"r2", map[string][]string{"s5": {"i", "j", "k", "l"}}, []string{"s5"}},
	{"r3", map[string][]string{"s3": {"Ee", "Ef"}}, []string{"s3"}},
	{"r4", map[string][]string{"s4": {"Eg", "Fh"}}, []string{"s4"}},
	{"r5", nil, nil},
}

var wantByLane = [NumLanes][]string{
	LaneHigh:   {"r1/s1/Eb", "r1/s2/Ed", "r3/s3/Ee", "r3/s3/Ef", "r4/s4/Eg"},
	LaneNormal: {"r1/s1/a", "r1/s1/c", "r2/s5/i", "r2/s5/j", "r2/s5/k", "r2/s5/l"},
	LaneLow:    {"r4/s4/Fh"},
}

// splitRules puts errors in high and the free tier in low. The attribute
// is on the item for traces and logs; for metrics errors are found by
// name.
var splitRules = Config{Rules: []Rule{
	{Lane: "high", SpanStatus: "error"},
	{Lane: "high", LogSeverityAtLeast: "error"},
	{Lane: "high", MetricName: "E.*"},
	attrRule("low", "tier", "free"),
}}

func setResource(r pcommon.Resource, setURL func(string), name string) {
	r.Attributes().PutStr("res", name)
	r.Attributes().PutStr("region", "eu-"+name)
	setURL("https://schema/" + name)
}

func setScope(s pcommon.InstrumentationScope, setURL func(string), name string) {
	s.SetName(name)
	s.SetVersion("v-" + name)
	s.Attributes().PutStr("scope.attr", name)
	setURL("https://scope-schema/" + name)
}

func layoutTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for _, r := range layout {
		rs := td.ResourceSpans().AppendEmpty()
		setResource(rs.Resource(), rs.SetSchemaUrl, r.res)
		for _, s := range r.order {
			ss := rs.ScopeSpans().AppendEmpty()
			setScope(ss.Scope(), ss.SetSchemaUrl, s)
			for _, name := range r.scopes[s] {
				sp := ss.Spans().AppendEmpty()
				sp.SetName(name)
				switch name[0] {
				case 'E':
					sp.Status().SetCode(ptrace.StatusCodeError)
				case 'F':
					sp.Attributes().PutStr("tier", "free")
				}
			}
		}
	}
	return td
}

func layoutLogs() plog.Logs {
	ld := plog.NewLogs()
	for _, r := range layout {
		rl := ld.ResourceLogs().AppendEmpty()
		setResource(rl.Resource(), rl.SetSchemaUrl, r.res)
		for _, s := range r.order {
			sl := rl.ScopeLogs().AppendEmpty()
			setScope(sl.Scope(), sl.SetSchemaUrl, s)
			for _, name := range r.scopes[s] {
				lr := sl.LogRecords().AppendEmpty()
				lr.Body().SetStr(name)
				switch name[0] {
				case 'E':
					lr.SetSeverityText("ERROR")
				case 'F':
					lr.Attributes().PutStr("tier", "free")
				}
			}
		}
	}
	return ld
}

// checkContainers checks that every resource and scope in a part kept its
// attributes, schema URLs and scope name and version.
func checkContainers(t *testing.T, lane Lane, res pcommon.Resource, resURL string, scopes func(func(pcommon.InstrumentationScope, string))) {
	t.Helper()
	name, ok := res.Attributes().Get("res")
	if !ok {
		t.Errorf("lane %s: resource lost its attributes", lane)
		return
	}
	n := name.Str()
	if region, _ := res.Attributes().Get("region"); region.Str() != "eu-"+n || resURL != "https://schema/"+n {
		t.Errorf("lane %s: resource %s: region %q, schema URL %q", lane, n, region.Str(), resURL)
	}
	scopes(func(s pcommon.InstrumentationScope, url string) {
		a, _ := s.Attributes().Get("scope.attr")
		if s.Version() != "v-"+s.Name() || a.Str() != s.Name() || url != "https://scope-schema/"+s.Name() {
			t.Errorf("lane %s: scope %q: version %q, attr %q, schema URL %q", lane, s.Name(), s.Version(), a.Str(), url)
		}
	})
}

func TestSplitTraces(t *testing.T) {
	c := mustNew(t, splitRules)
	td := layoutTraces()
	out, items := c.SplitTraces(td)
	if want := [NumLanes]int{5, 6, 1}; items != want {
		t.Fatalf("items = %v, want %v", items, want)
	}
	got := spanNamesByLane(t, out, items)
	for l := range NumLanes {
		if !slices.Equal(got[l], wantByLane[l]) {
			t.Errorf("lane %s:\n got  %v\n want %v", Lane(l), got[l], wantByLane[l])
		}
	}
	for l, part := range out {
		for _, rs := range part.ResourceSpans().All() {
			checkContainers(t, Lane(l), rs.Resource(), rs.SchemaUrl(), func(f func(pcommon.InstrumentationScope, string)) {
				for _, ss := range rs.ScopeSpans().All() {
					f(ss.Scope(), ss.SchemaUrl())
					if ss.Spans().Len() == 0 {
						t.Errorf("lane %s: empty scope %s", Lane(l), ss.Scope().Name())
					}
				}
			})
		}
	}
	// The normal lane is the home part: the input, with r5 kept and r4 gone.
	if out[LaneNormal] != td {
		t.Error("the lane with most items is not the input")
	}
	if n := td.ResourceSpans().Len(); n != 3 {
		t.Errorf("home part has %d resources, want 3 (r1, r2, r5)", n)
	}
}

func TestSplitLogs(t *testing.T) {
	c := mustNew(t, splitRules)
	out, items := c.SplitLogs(layoutLogs())
	if want := [NumLanes]int{5, 6, 1}; items != want {
		t.Fatalf("items = %v, want %v", items, want)
	}
	got := logNamesByLane(t, out, items)
	for l := range NumLanes {
		if !slices.Equal(got[l], wantByLane[l]) {
			t.Errorf("lane %s:\n got  %v\n want %v", Lane(l), got[l], wantByLane[l])
		}
	}
	for l, part := range out {
		for _, rl := range part.ResourceLogs().All() {
			checkContainers(t, Lane(l), rl.Resource(), rl.SchemaUrl(), func(f func(pcommon.InstrumentationScope, string)) {
				for _, sl := range rl.ScopeLogs().All() {
					f(sl.Scope(), sl.SchemaUrl())
				}
			})
		}
	}
}

// TestSplitMetrics uses the layout with one metric per item name, plus a
// metric whose data points go to all three lanes and one without data
// points.
func TestSplitMetrics(t *testing.T) {
	md := pmetric.NewMetrics()
	for _, r := range layout {
		rm := md.ResourceMetrics().AppendEmpty()
		setResource(rm.Resource(), rm.SetSchemaUrl, r.res)
		for _, s := range r.order {
			sm := rm.ScopeMetrics().AppendEmpty()
			setScope(sm.Scope(), sm.SetSchemaUrl, s)
			for _, name := range r.scopes[s] {
				m := sm.Metrics().AppendEmpty()
				m.SetName(name)
				dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
				dp.Attributes().PutStr("p", "0")
				if name[0] == 'F' {
					dp.Attributes().PutStr("tier", "free")
				}
			}
		}
	}
	// r2/s5 gets "mixed": a cumulative monotonic sum whose points go to
	// normal, low, normal; and "empty", with no data points.
	sm := md.ResourceMetrics().At(1).ScopeMetrics().At(0)
	m := sm.Metrics().AppendEmpty()
	m.SetName("mixed")
	m.SetUnit("By")
	m.SetDescription("a mixed metric")
	m.Metadata().PutStr("meta", "kept")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i, tier := range []string{"paid", "free", "paid"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("p", fmt.Sprint(i))
		dp.Attributes().PutStr("tier", tier)
		dp.SetIntValue(int64(i))
	}
	sm.Metrics().AppendEmpty().SetName("empty")
	// One more metric, all of whose points are errors by name: a histogram
	// moved whole from a mixed scope.
	h := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	h.SetName("Ehist")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for i := range 2 {
		hist.DataPoints().AppendEmpty().Attributes().PutStr("p", fmt.Sprint(i))
	}

	c := mustNew(t, splitRules)
	out, items := c.SplitMetrics(md)
	if want := [NumLanes]int{7, 8, 2}; items != want {
		t.Fatalf("items = %v, want %v", items, want)
	}
	got := pointNamesByLane(t, out, items)
	want := [NumLanes][]string{
		LaneHigh:   {"r1/s1/Eb/0", "r1/s1/Ehist/0", "r1/s1/Ehist/1", "r1/s2/Ed/0", "r3/s3/Ee/0", "r3/s3/Ef/0", "r4/s4/Eg/0"},
		LaneNormal: {"r1/s1/a/0", "r1/s1/c/0", "r2/s5/i/0", "r2/s5/j/0", "r2/s5/k/0", "r2/s5/l/0", "r2/s5/mixed/0", "r2/s5/mixed/2"},
		LaneLow:    {"r2/s5/mixed/1", "r4/s4/Fh/0"},
	}
	for l := range NumLanes {
		if !slices.Equal(got[l], want[l]) {
			t.Errorf("lane %s:\n got  %v\n want %v", Lane(l), got[l], want[l])
		}
	}
	for l, part := range out {
		for _, rm := range part.ResourceMetrics().All() {
			checkContainers(t, Lane(l), rm.Resource(), rm.SchemaUrl(), func(f func(pcommon.InstrumentationScope, string)) {
				for _, sm := range rm.ScopeMetrics().All() {
					f(sm.Scope(), sm.SchemaUrl())
				}
			})
		}
	}
	// Both parts of "mixed" keep its metadata.
	for _, l := range []Lane{LaneNormal, LaneLow} {
		m, ok := findMetric(out[l], "mixed")
		if !ok {
			t.Fatalf("lane %s: no metric mixed", l)
		}
		if m.Unit() != "By" || m.Description() != "a mixed metric" || m.Type() != pmetric.MetricTypeSum ||
			!m.Sum().IsMonotonic() || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			t.Errorf("lane %s: mixed lost its shape: unit %q desc %q type %s", l, m.Unit(), m.Description(), m.Type())
		}
		if v, _ := m.Metadata().Get("meta"); v.Str() != "kept" {
			t.Errorf("lane %s: mixed lost its metadata", l)
		}
	}
	if m, ok := findMetric(out[LaneHigh], "Ehist"); !ok || m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityDelta {
		t.Error("Ehist missing or changed in the high lane")
	}
	if _, ok := findMetric(out[LaneNormal], "empty"); !ok {
		t.Error("the metric without data points left the home part")
	}
}

func findMetric(md pmetric.Metrics, name string) (pmetric.Metric, bool) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					return m, true
				}
			}
		}
	}
	return pmetric.Metric{}, false
}

// Each part keeps the batch's order of resources, scopes and items.

// TestSplitOneLaneMovesNothing checks that when every item falls in one
// lane the input itself is returned, for classifiers with and without
// rules, and that this costs no allocation beyond the two empty parts.
func TestSplitOneLaneMovesNothing(t *testing.T) {
	allOK := func() ptrace.Traces {
		td := layoutTraces()
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					sp.Status().SetCode(ptrace.StatusCodeOk)
					sp.Attributes().Clear()
				}
			}
		}
		return td
	}
	emptyParts := testing.AllocsPerRun(100, func() { _, _ = ptrace.NewTraces(), ptrace.NewTraces() })
	classifiers := map[string]*Classifier{
		"nil":      nil,
		"no rules": mustNew(t, Config{Default: "low"}),
		"rules":    mustNew(t, splitRules),
		"no trace rules": mustNew(t, Config{Rules: []Rule{
			{Lane: "high", LogSeverityAtLeast: "error"}, {Lane: "low", MetricName: ".*"},
		}}),
	}
	for name, c := range classifiers {
		t.Run(name, func(t *testing.T) {
			td := allOK()
			out, items := c.SplitTraces(td)
			want := c.Default()
			if laneOf(t, items) != want || items[want] != 12 {
				t.Fatalf("items = %v, want all 12 in %s", items, want)
			}
			if out[want] != td {
				t.Fatal("the part is not the input")
			}
			out[want].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SetName("changed")
			if td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Name() != "changed" {
				t.Fatal("the part does not share the input's data")
			}
			for l, part := range out {
				if Lane(l) != want && part.ResourceSpans().Len() != 0 {
					t.Errorf("lane %s is not empty", Lane(l))
				}
			}
			c.SplitTraces(td) // grow the pooled buffers
			allocs := testing.AllocsPerRun(100, func() { c.SplitTraces(td) })
			if allocs > emptyParts && !raceEnabled {
				t.Errorf("SplitTraces allocates %v times, want at most %v (the two empty parts)", allocs, emptyParts)
			}
			t.Logf("allocs per split: %v (two empty parts: %v)", allocs, emptyParts)
		})
	}
}

func TestSplitEmptyBatch(t *testing.T) {
	c := mustNew(t, Config{Default: "low", Rules: []Rule{{Lane: "high", SpanStatus: "error"}}})
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	out, items := c.SplitTraces(td)
	if items != [NumLanes]int{} || out[LaneLow] != td {
		t.Errorf("items %v; want none, with the batch in the default lane", items)
	}
	for _, part := range out {
		if part == (ptrace.Traces{}) {
			t.Error("a part is the zero ptrace.Traces, want an empty one")
		}
	}
}

func TestSplitReadOnly(t *testing.T) {
	c := mustNew(t, splitRules)
	td := layoutTraces()
	td.MarkReadOnly()
	out, items := c.SplitTraces(td)
	if want := [NumLanes]int{5, 6, 1}; items != want {
		t.Fatalf("items = %v, want %v", items, want)
	}
	if td.SpanCount() != 12 {
		t.Errorf("read-only input changed: %d spans left", td.SpanCount())
	}
	got := spanNamesByLane(t, out, items)
	if !slices.Equal(got[LaneLow], wantByLane[LaneLow]) {
		t.Errorf("low lane %v", got[LaneLow])
	}
	ld := layoutLogs()
	ld.MarkReadOnly()
	if _, items := c.SplitLogs(ld); items != [NumLanes]int{5, 6, 1} || ld.LogRecordCount() != 12 {
		t.Errorf("logs: items %v, input %d records", items, ld.LogRecordCount())
	}
}

// TestSplitMetricsWholeMetric checks the per-metric shortcut: with no
// attribute rule, a metric's data points all share its lane.
func TestSplitMetricsWholeMetric(t *testing.T) {
	c := mustNew(t, Config{Rules: []Rule{{Lane: "high", MetricName: "slo_.*"}, {Lane: "low", MetricName: ".*_debug"}}})
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for _, name := range []string{"slo_a", "x", "slo_debug", "y_debug"} {
		m := ms.AppendEmpty()
		m.SetName(name)
		dps := m.SetEmptySummary().DataPoints()
		for range 3 {
			dps.AppendEmpty()
		}
	}
	out, items := c.SplitMetrics(md)
	if items != [NumLanes]int{6, 3, 3} {
		t.Fatalf("items = %v", items)
	}
	if _, ok := findMetric(out[LaneHigh], "slo_debug"); !ok {
		t.Error("slo_debug not in high (first match wins)")
	}
	if _, ok := findMetric(out[LaneLow], "y_debug"); !ok {
		t.Error("y_debug not in low")
	}
}

// TestSplitConcurrent runs splits of separate batches through one
// classifier at once (run with -race).
func TestSplitConcurrent(t *testing.T) {
	c := mustNew(t, splitRules)
	done := make(chan [NumLanes]int)
	for range 8 {
		go func() {
			var items [NumLanes]int
			for range 50 {
				_, items = c.SplitTraces(layoutTraces())
			}
			done <- items
		}()
	}
	for range 8 {
		select {
		case items := <-done:
			if items != [NumLanes]int{5, 6, 1} {
				t.Errorf("items = %v", items)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("timed out")
		}
	}
}
