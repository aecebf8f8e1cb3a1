package debugexporter

import (
	"fmt"
	"github.com/outpost-edge/outpost/internal/pdatautil"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The text forms below are for people reading a terminal or a log viewer;
// they are not a format to parse (use the file exporter for that).

// maxNamesPerScope bounds the metric names a normal-verbosity line lists.
const maxNamesPerScope = 10

// appendAttrs writes a map as {k="v" n=3}, strings quoted, other values in
// pdata's string form (maps and slices as JSON).
func appendAttrs(buf []byte, m pcommon.Map) []byte {
	buf = append(buf, '{')
	first := true
	for k, v := range m.All() {
		if !first {
			buf = append(buf, ' ')
		}
		first = false
		buf = append(buf, k...)
		buf = append(buf, '=')
		buf = appendValue(buf, v)
	}
	return append(buf, '}')
}

func appendValue(buf []byte, v pcommon.Value) []byte {
	if v.Type() == pcommon.ValueTypeStr {
		return strconv.AppendQuote(buf, v.Str())
	}
	return append(buf, v.AsString()...)
}

func appendScope(buf []byte, s pcommon.InstrumentationScope) []byte {
	if s.Name() == "" {
		buf = append(buf, "(unnamed)"...)
	} else {
		buf = append(buf, s.Name()...)
	}
	if s.Version() != "" {
		buf = append(buf, '@')
		buf = append(buf, s.Version()...)
	}
	return buf
}

func formatTime(ts pcommon.Timestamp) string {
	if ts == 0 {
		return "unset"
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// traceID and spanID print an id in hex, or "-" when it is empty.
func traceID(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return "-"
	}
	return id.String()
}

func spanID(id pcommon.SpanID) string {
	if id.IsEmpty() {
		return "-"
	}
	return id.String()
}

// indent returns the prefix for nesting level n.
func indent(n int) string { return strings.Repeat("  ", n) }

// writer accumulates a multi-line text block.
type writer struct{ buf []byte }

// line writes one indented line.
func (w *writer) line(level int, format string, args ...any) {
	w.buf = append(w.buf, indent(level)...)
	w.buf = fmt.Appendf(w.buf, format, args...)
	w.buf = append(w.buf, '\n')
}

// attrs writes an attribute map as an indented line, if it is not empty.
func (w *writer) attrs(level int, name string, m pcommon.Map) {
	if m.Len() == 0 {
		return
	}
	w.buf = append(w.buf, indent(level)...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ": "...)
	w.buf = appendAttrs(w.buf, m)
	w.buf = append(w.buf, '\n')
}

func (w *writer) resource(i int, r pcommon.Resource, schemaURL string) {
	w.line(0, "resource #%d", i)
	w.attrs(1, "attributes", r.Attributes())
	if schemaURL != "" {
		w.line(1, "schema_url: %s", schemaURL)
	}
}

func (w *writer) scope(i int, s pcommon.InstrumentationScope, schemaURL string) {
	w.line(1, "scope #%d %s", i, appendScope(nil, s))
	w.attrs(2, "attributes", s.Attributes())
	if schemaURL != "" {
		w.line(2, "schema_url: %s", schemaURL)
	}
}

// summaryPrefix starts a normal-verbosity line: resource #i {attrs} scope #j name@version
func summaryPrefix(buf []byte, i int, r pcommon.Resource, j int, s pcommon.InstrumentationScope) []byte {
	buf = fmt.Appendf(buf, "resource #%d ", i)
	buf = appendAttrs(buf, r.Attributes())
	buf = fmt.Appendf(buf, " scope #%d ", j)
	return appendScope(buf, s)
}

// ---- traces ----

func appendTracesNormal(buf []byte, td ptrace.Traces) []byte {
	for i, rs := range td.ResourceSpans().All() {
		if rs.ScopeSpans().Len() == 0 {
			buf = fmt.Appendf(buf, "resource #%d ", i)
			buf = appendAttrs(buf, rs.Resource().Attributes())
			buf = append(buf, ": no scopes\n"...)
		}
		for j, ss := range rs.ScopeSpans().All() {
			buf = summaryPrefix(buf, i, rs.Resource(), j, ss.Scope())
			buf = fmt.Appendf(buf, ": %d spans\n", ss.Spans().Len())
		}
	}
	return buf
}

func appendTracesDetailed(buf []byte, td ptrace.Traces) []byte {
	w := &writer{buf: buf}
	for i, rs := range td.ResourceSpans().All() {
		w.resource(i, rs.Resource(), rs.SchemaUrl())
		for j, ss := range rs.ScopeSpans().All() {
			w.scope(j, ss.Scope(), ss.SchemaUrl())
			for k, s := range ss.Spans().All() {
				w.span(k, s)
			}
		}
	}
	return w.buf
}

func (w *writer) span(k int, s ptrace.Span) {
	w.line(2, "span #%d %q", k, s.Name())
	w.line(3, "trace_id: %s", traceID(s.TraceID()))
	w.line(3, "span_id: %s", spanID(s.SpanID()))
	if !s.ParentSpanID().IsEmpty() {
		w.line(3, "parent_span_id: %s", s.ParentSpanID())
	}
	if ts := s.TraceState().AsRaw(); ts != "" {
		w.line(3, "trace_state: %s", ts)
	}
	if s.Flags() != 0 {
		w.line(3, "flags: %#x", s.Flags())
	}
	w.line(3, "kind: %s", s.Kind())
	w.line(3, "start: %s", formatTime(s.StartTimestamp()))
	w.line(3, "end: %s (%s)", formatTime(s.EndTimestamp()), s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime()))
	if st := s.Status(); st.Code() != ptrace.StatusCodeUnset || st.Message() != "" {
		w.line(3, "status: %s %q", st.Code(), st.Message())
	}
	w.attrs(3, "attributes", s.Attributes())
	for e, ev := range s.Events().All() {
		w.line(3, "event #%d %q at %s", e, ev.Name(), formatTime(ev.Timestamp()))
		w.attrs(4, "attributes", ev.Attributes())
	}
	for l, ln := range s.Links().All() {
		w.line(3, "link #%d trace_id=%s span_id=%s", l, traceID(ln.TraceID()), spanID(ln.SpanID()))
		w.attrs(4, "attributes", ln.Attributes())
	}
	if n := s.DroppedAttributesCount() + s.DroppedEventsCount() + s.DroppedLinksCount(); n > 0 {
		w.line(3, "dropped: attributes=%d events=%d links=%d",
			s.DroppedAttributesCount(), s.DroppedEventsCount(), s.DroppedLinksCount())
	}
}

// ---- metrics ----

func appendMetricsNormal(buf []byte, md pmetric.Metrics) []byte {
	for i, rm := range md.ResourceMetrics().All() {
		if rm.ScopeMetrics().Len() == 0 {
			buf = fmt.Appendf(buf, "resource #%d ", i)
			buf = appendAttrs(buf, rm.Resource().Attributes())
			buf = append(buf, ": no scopes\n"...)
		}
		for j, sm := range rm.ScopeMetrics().All() {
			buf = summaryPrefix(buf, i, rm.Resource(), j, sm.Scope())
			points := 0
			for _, m := range sm.Metrics().All() {
				points += pdatautil.DataPointCount(m)
			}
			buf = fmt.Appendf(buf, ": %d metrics, %d data points", sm.Metrics().Len(), points)
			for k, m := range sm.Metrics().All() {
				if k == maxNamesPerScope {
					buf = fmt.Appendf(buf, ", (+%d more)", sm.Metrics().Len()-k)
					break
				}
				if k == 0 {
					buf = append(buf, ": "...)
				} else {
					buf = append(buf, ", "...)
				}
				buf = append(buf, m.Name()...)
			}
			buf = append(buf, '\n')
		}
	}
	return buf
}

func appendMetricsDetailed(buf []byte, md pmetric.Metrics) []byte {
	w := &writer{buf: buf}
	for i, rm := range md.ResourceMetrics().All() {
		w.resource(i, rm.Resource(), rm.SchemaUrl())
		for j, sm := range rm.ScopeMetrics().All() {
			w.scope(j, sm.Scope(), sm.SchemaUrl())
			for k, m := range sm.Metrics().All() {
				w.metric(k, m)
			}
		}
	}
	return w.buf
}

func (w *writer) metric(k int, m pmetric.Metric) {
	w.line(2, "metric #%d %s", k, m.Name())
	if m.Description() != "" {
		w.line(3, "description: %s", m.Description())
	}
	if m.Unit() != "" {
		w.line(3, "unit: %s", m.Unit())
	}
	w.attrs(3, "metadata", m.Metadata())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		w.line(3, "type: Gauge")
		for p, dp := range m.Gauge().DataPoints().All() {
			w.numberPoint(p, dp)
		}
	case pmetric.MetricTypeSum:
		s := m.Sum()
		w.line(3, "type: Sum (%s, monotonic=%t)", s.AggregationTemporality(), s.IsMonotonic())
		for p, dp := range s.DataPoints().All() {
			w.numberPoint(p, dp)
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		w.line(3, "type: Histogram (%s)", h.AggregationTemporality())
		for p, dp := range h.DataPoints().All() {
			w.histogramPoint(p, dp)
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		w.line(3, "type: ExponentialHistogram (%s)", h.AggregationTemporality())
		for p, dp := range h.DataPoints().All() {
			w.expHistogramPoint(p, dp)
		}
	case pmetric.MetricTypeSummary:
		w.line(3, "type: Summary")
		for p, dp := range m.Summary().DataPoints().All() {
			w.summaryPoint(p, dp)
		}
	default:
		w.line(3, "type: Empty")
	}
}

// pointHeader writes what every data point kind shares.
func (w *writer) pointHeader(p int, attrs pcommon.Map, start, ts pcommon.Timestamp, flags pmetric.DataPointFlags) {
	w.line(3, "data point #%d", p)
	w.attrs(4, "attributes", attrs)
	w.line(4, "start: %s", formatTime(start))
	w.line(4, "time: %s", formatTime(ts))
	if flags.NoRecordedValue() {
		w.line(4, "flags: no_recorded_value")
	}
}

func (w *writer) numberPoint(p int, dp pmetric.NumberDataPoint) {
	w.pointHeader(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
	switch dp.ValueType() {
	case pmetric.NumberDataPointValueTypeInt:
		w.line(4, "value: %d", dp.IntValue())
	case pmetric.NumberDataPointValueTypeDouble:
		w.line(4, "value: %s", strconv.FormatFloat(dp.DoubleValue(), 'g', -1, 64))
	default:
		w.line(4, "value: empty")
	}
	w.exemplars(dp.Exemplars())
}

func (w *writer) histogramPoint(p int, dp pmetric.HistogramDataPoint) {
	w.pointHeader(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
	w.line(4, "%s", countSumMinMax(dp.Count(), dp.HasSum(), dp.Sum(), dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max()))
	bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
	if counts.Len() > 0 {
		b := []byte("buckets:")
		lower := "-inf"
		for i := 0; i < counts.Len(); i++ {
			upper := "+inf"
			if i < bounds.Len() {
				upper = strconv.FormatFloat(bounds.At(i), 'g', -1, 64)
			}
			b = fmt.Appendf(b, " (%s, %s]=%d", lower, upper, counts.At(i))
			lower = upper
		}
		w.line(4, "%s", b)
	}
	w.exemplars(dp.Exemplars())
}

func (w *writer) expHistogramPoint(p int, dp pmetric.ExponentialHistogramDataPoint) {
	w.pointHeader(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
	w.line(4, "%s", countSumMinMax(dp.Count(), dp.HasSum(), dp.Sum(), dp.HasMin(), dp.Min(), dp.HasMax(), dp.Max()))
	w.line(4, "scale: %d, zero_count: %d, zero_threshold: %s", dp.Scale(), dp.ZeroCount(),
		strconv.FormatFloat(dp.ZeroThreshold(), 'g', -1, 64))
	for _, side := range []struct {
		name string
		b    pmetric.ExponentialHistogramDataPointBuckets
	}{{"positive", dp.Positive()}, {"negative", dp.Negative()}} {
		if side.b.BucketCounts().Len() > 0 {
			w.line(4, "%s: offset=%d counts=%v", side.name, side.b.Offset(), side.b.BucketCounts().AsRaw())
		}
	}
	w.exemplars(dp.Exemplars())
}

func (w *writer) summaryPoint(p int, dp pmetric.SummaryDataPoint) {
	w.pointHeader(p, dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Flags())
	w.line(4, "count: %d, sum: %s", dp.Count(), strconv.FormatFloat(dp.Sum(), 'g', -1, 64))
	if qs := dp.QuantileValues(); qs.Len() > 0 {
		b := []byte("quantiles:")
		for _, q := range qs.All() {
			b = fmt.Appendf(b, " p%s=%s", strconv.FormatFloat(q.Quantile()*100, 'g', -1, 64),
				strconv.FormatFloat(q.Value(), 'g', -1, 64))
		}
		w.line(4, "%s", b)
	}
}

func countSumMinMax(count uint64, hasSum bool, sum float64, hasMin bool, lo float64, hasMax bool, hi float64) string {
	b := fmt.Appendf(nil, "count: %d", count)
	for _, f := range []struct {
		name string
		ok   bool
		v    float64
	}{{"sum", hasSum, sum}, {"min", hasMin, lo}, {"max", hasMax, hi}} {
		if f.ok {
			b = fmt.Appendf(b, ", %s: %s", f.name, strconv.FormatFloat(f.v, 'g', -1, 64))
		}
	}
	return string(b)
}

func (w *writer) exemplars(es pmetric.ExemplarSlice) {
	for i, e := range es.All() {
		var v string
		switch e.ValueType() {
		case pmetric.ExemplarValueTypeInt:
			v = strconv.FormatInt(e.IntValue(), 10)
		case pmetric.ExemplarValueTypeDouble:
			v = strconv.FormatFloat(e.DoubleValue(), 'g', -1, 64)
		default:
			v = "empty"
		}
		w.line(4, "exemplar #%d value=%s time=%s trace_id=%s span_id=%s", i, v, formatTime(e.Timestamp()), traceID(e.TraceID()), spanID(e.SpanID()))
		w.attrs(5, "filtered_attributes", e.FilteredAttributes())
	}
}

// ---- logs ----

func appendLogsNormal(buf []byte, ld plog.Logs) []byte {
	for i, rl := range ld.ResourceLogs().All() {
		if rl.ScopeLogs().Len() == 0 {
			buf = fmt.Appendf(buf, "resource #%d ", i)
			buf = appendAttrs(buf, rl.Resource().Attributes())
			buf = append(buf, ": no scopes\n"...)
		}
		for j, sl := range rl.ScopeLogs().All() {
			buf = summaryPrefix(buf, i, rl.Resource(), j, sl.Scope())
			buf = fmt.Appendf(buf, ": %d log records\n", sl.LogRecords().Len())
		}
	}
	return buf
}

func appendLogsDetailed(buf []byte, ld plog.Logs) []byte {
	w := &writer{buf: buf}
	for i, rl := range ld.ResourceLogs().All() {
		w.resource(i, rl.Resource(), rl.SchemaUrl())
		for j, sl := range rl.ScopeLogs().All() {
			w.scope(j, sl.Scope(), sl.SchemaUrl())
			for k, lr := range sl.LogRecords().All() {
				w.logRecord(k, lr)
			}
		}
	}
	return w.buf
}

func (w *writer) logRecord(k int, lr plog.LogRecord) {
	w.line(2, "log record #%d", k)
	w.line(3, "time: %s", formatTime(lr.Timestamp()))
	w.line(3, "observed: %s", formatTime(lr.ObservedTimestamp()))
	w.line(3, "severity: %s (%d)", lr.SeverityText(), int32(lr.SeverityNumber()))
	if lr.EventName() != "" {
		w.line(3, "event_name: %s", lr.EventName())
	}
	w.line(3, "body: %s", appendValue(nil, lr.Body()))
	w.attrs(3, "attributes", lr.Attributes())
	if !lr.TraceID().IsEmpty() || !lr.SpanID().IsEmpty() {
		w.line(3, "trace_id: %s, span_id: %s", traceID(lr.TraceID()), spanID(lr.SpanID()))
	}
	if lr.Flags() != 0 {
		w.line(3, "flags: %#x", uint32(lr.Flags()))
	}
	if lr.DroppedAttributesCount() > 0 {
		w.line(3, "dropped: attributes=%d", lr.DroppedAttributesCount())
	}
}
