package lanes

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// attrs is a shorthand for building attribute maps.
type attrs map[string]any

func putAttrs(t testing.TB, m pcommon.Map, a attrs) {
	t.Helper()
	if err := m.FromRaw(a); err != nil {
		t.Fatal(err)
	}
}

func mustNew(t testing.TB, cfg Config) *Classifier {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// oneSpan returns traces holding one span with the given status and
// attributes on the span, its scope and its resource.
func oneSpan(t testing.TB, code ptrace.StatusCode, span, scope, res attrs) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putAttrs(t, rs.Resource().Attributes(), res)
	ss := rs.ScopeSpans().AppendEmpty()
	putAttrs(t, ss.Scope().Attributes(), scope)
	sp := ss.Spans().AppendEmpty()
	sp.SetName("span")
	sp.Status().SetCode(code)
	putAttrs(t, sp.Attributes(), span)
	return td
}

// laneOf returns the only lane with items, failing the test if there is
// not exactly one.
func laneOf(t testing.TB, items [NumLanes]int) Lane {
	t.Helper()
	found := -1
	for l, n := range items {
		if n > 0 {
			if found >= 0 {
				t.Fatalf("items in several lanes: %v", items)
			}
			found = l
		}
	}
	if found < 0 {
		t.Fatalf("no items in any lane")
	}
	return Lane(found)
}

// spanNamesByLane lists, per lane, "resource/scope/span" for every span of
// out, checking on the way that each part's counts match items.
func spanNamesByLane(t testing.TB, out [NumLanes]ptrace.Traces, items [NumLanes]int) [NumLanes][]string {
	t.Helper()
	var names [NumLanes][]string
	for l, td := range out {
		for _, rs := range td.ResourceSpans().All() {
			rname, _ := rs.Resource().Attributes().Get("res")
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					names[l] = append(names[l], fmt.Sprintf("%s/%s/%s", rname.AsString(), ss.Scope().Name(), sp.Name()))
				}
			}
		}
		if td.SpanCount() != items[l] {
			t.Errorf("lane %s: %d spans, items says %d", Lane(l), td.SpanCount(), items[l])
		}
	}
	return names
}

func logNamesByLane(t testing.TB, out [NumLanes]plog.Logs, items [NumLanes]int) [NumLanes][]string {
	t.Helper()
	var names [NumLanes][]string
	for l, ld := range out {
		for _, rl := range ld.ResourceLogs().All() {
			rname, _ := rl.Resource().Attributes().Get("res")
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					names[l] = append(names[l], fmt.Sprintf("%s/%s/%s", rname.AsString(), sl.Scope().Name(), lr.Body().AsString()))
				}
			}
		}
		if ld.LogRecordCount() != items[l] {
			t.Errorf("lane %s: %d records, items says %d", Lane(l), ld.LogRecordCount(), items[l])
		}
	}
	return names
}

// pointNamesByLane lists "resource/scope/metric/point" per lane, where
// point is the data point's "p" attribute.
func pointNamesByLane(t testing.TB, out [NumLanes]pmetric.Metrics, items [NumLanes]int) [NumLanes][]string {
	t.Helper()
	var names [NumLanes][]string
	for l, md := range out {
		for _, rm := range md.ResourceMetrics().All() {
			rname, _ := rm.Resource().Attributes().Get("res")
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					eachPointAttrs(m, func(a pcommon.Map) {
						p, _ := a.Get("p")
						names[l] = append(names[l], fmt.Sprintf("%s/%s/%s/%s", rname.AsString(), sm.Scope().Name(), m.Name(), p.AsString()))
					})
				}
			}
		}
		if md.DataPointCount() != items[l] {
			t.Errorf("lane %s: %d data points, items says %d", Lane(l), md.DataPointCount(), items[l])
		}
	}
	return names
}

func eachPointAttrs(m pmetric.Metric, f func(pcommon.Map)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, p := range m.Gauge().DataPoints().All() {
			f(p.Attributes())
		}
	case pmetric.MetricTypeSum:
		for _, p := range m.Sum().DataPoints().All() {
			f(p.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for _, p := range m.Histogram().DataPoints().All() {
			f(p.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, p := range m.ExponentialHistogram().DataPoints().All() {
			f(p.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for _, p := range m.Summary().DataPoints().All() {
			f(p.Attributes())
		}
	}
}
