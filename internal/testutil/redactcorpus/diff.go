package redactcorpus

import (
	"fmt"
	"reflect"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// raw is a map as plain Go values, without the keys that the pipeline
// adds to resources (node identity) when stripNode is set.
func raw(m pcommon.Map, stripNode bool) map[string]any {
	out := m.AsRaw()
	if stripNode {
		for k := range out {
			if strings.HasPrefix(k, "node.") {
				delete(out, k)
			}
		}
	}
	return out
}

func diffMap(where string, got, want pcommon.Map, stripNode bool, out *[]string) {
	g, w := raw(got, stripNode), raw(want, false)
	if !reflect.DeepEqual(g, w) {
		*out = append(*out, fmt.Sprintf("%s: got %v, want %v", where, g, w))
	}
}

// DiffTraces lists how got differs from want (the same shape: one
// resource, one scope), ignoring node.* resource attributes in got.
func DiffTraces(got, want ptrace.Traces) []string {
	var out []string
	if got.ResourceSpans().Len() != 1 || got.SpanCount() != want.SpanCount() {
		return []string{fmt.Sprintf("got %d resources, %d spans; want 1, %d", got.ResourceSpans().Len(), got.SpanCount(), want.SpanCount())}
	}
	g, w := got.ResourceSpans().At(0), want.ResourceSpans().At(0)
	diffMap("resource", g.Resource().Attributes(), w.Resource().Attributes(), true, &out)
	gs, ws := g.ScopeSpans().At(0).Spans(), w.ScopeSpans().At(0).Spans()
	for i := range ws.Len() {
		if gs.At(i).Name() != ws.At(i).Name() {
			out = append(out, fmt.Sprintf("span %d name %q, want %q", i, gs.At(i).Name(), ws.At(i).Name()))
		}
		if g, w := gs.At(i).Status().Message(), ws.At(i).Status().Message(); g != w {
			out = append(out, fmt.Sprintf("span %d status message %q, want %q", i, g, w))
		}
		diffMap(fmt.Sprintf("span %d", i), gs.At(i).Attributes(), ws.At(i).Attributes(), false, &out)
	}
	return out
}

// DiffLogs lists how got differs from want, as DiffTraces.
func DiffLogs(got, want plog.Logs) []string {
	var out []string
	if got.ResourceLogs().Len() != 1 || got.LogRecordCount() != want.LogRecordCount() {
		return []string{fmt.Sprintf("got %d resources, %d records; want 1, %d", got.ResourceLogs().Len(), got.LogRecordCount(), want.LogRecordCount())}
	}
	g, w := got.ResourceLogs().At(0), want.ResourceLogs().At(0)
	diffMap("resource", g.Resource().Attributes(), w.Resource().Attributes(), true, &out)
	gl, wl := g.ScopeLogs().At(0).LogRecords(), w.ScopeLogs().At(0).LogRecords()
	for i := range wl.Len() {
		if gb, wb := gl.At(i).Body().AsRaw(), wl.At(i).Body().AsRaw(); !reflect.DeepEqual(gb, wb) {
			out = append(out, fmt.Sprintf("record %d body %v, want %v", i, gb, wb))
		}
		diffMap(fmt.Sprintf("record %d", i), gl.At(i).Attributes(), wl.At(i).Attributes(), false, &out)
	}
	return out
}

// DiffMetrics lists how got differs from want, as DiffTraces.
func DiffMetrics(got, want pmetric.Metrics) []string {
	var out []string
	if got.ResourceMetrics().Len() != 1 || got.DataPointCount() != want.DataPointCount() {
		return []string{fmt.Sprintf("got %d resources, %d points; want 1, %d", got.ResourceMetrics().Len(), got.DataPointCount(), want.DataPointCount())}
	}
	g, w := got.ResourceMetrics().At(0), want.ResourceMetrics().At(0)
	diffMap("resource", g.Resource().Attributes(), w.Resource().Attributes(), true, &out)
	gp := g.ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	wp := w.ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints()
	for i := range wp.Len() {
		if gp.At(i).IntValue() != wp.At(i).IntValue() {
			out = append(out, fmt.Sprintf("point %d value %d, want %d", i, gp.At(i).IntValue(), wp.At(i).IntValue()))
		}
		diffMap(fmt.Sprintf("point %d", i), gp.At(i).Attributes(), wp.At(i).Attributes(), false, &out)
	}
	return out
}
