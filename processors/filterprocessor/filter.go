package filterprocessor

import (
	"context"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/itemmatch"
)

// traces drops the spans the filter rejects, then the scopes and resources
// left empty; it reports whether any span is left.
func (p *processor) traces(_ context.Context, td ptrace.Traces) bool {
	if p.filter.Empty() {
		return true
	}
	var t tally
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			sf := p.filter.ForScope(rs.Resource(), ss.Scope())
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				v := sf.Span(sp)
				t.add(v, 1)
				return v != itemmatch.Keep
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	p.flush(&t)
	return td.ResourceSpans().Len() > 0
}

// logs drops the log records the filter rejects, then empty scopes and
// resources; it reports whether any record is left.
func (p *processor) logs(_ context.Context, ld plog.Logs) bool {
	if p.filter.Empty() {
		return true
	}
	var t tally
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sf := p.filter.ForScope(rl.Resource(), sl.Scope())
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				v := sf.Log(lr)
				t.add(v, 1)
				return v != itemmatch.Keep
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	p.flush(&t)
	return ld.ResourceLogs().Len() > 0
}

// metrics drops whole metrics, or the data points the filter rejects when
// it looks at point attributes; then metrics without points, empty scopes
// and resources. Drops are counted in data points. It reports whether any
// metric is left.
func (p *processor) metrics(_ context.Context, md pmetric.Metrics) bool {
	if p.filter.Empty() {
		return true
	}
	var t tally
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sf := p.filter.ForScope(rm.Resource(), sm.Scope())
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				mf := sf.ForMetric(m.Name())
				if v, whole := mf.Whole(); whole {
					if v == itemmatch.Keep {
						return false
					}
					t.add(v, pointCount(m))
					return true
				}
				return removePoints(m, func(attrs pcommon.Map) bool {
					v := mf.Point(attrs)
					t.add(v, 1)
					return v != itemmatch.Keep
				}) == 0
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	p.flush(&t)
	return md.ResourceMetrics().Len() > 0
}

// pointCount is the number of data points of m.
func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// removePoints removes the data points of m for whose attributes drop is
// true and returns how many are left.
func removePoints(m pmetric.Metric, drop func(pcommon.Map) bool) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(dp pmetric.NumberDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(dp pmetric.HistogramDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(dp pmetric.ExponentialHistogramDataPoint) bool { return drop(dp.Attributes()) })
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(dp pmetric.SummaryDataPoint) bool { return drop(dp.Attributes()) })
	}
	return pointCount(m)
}
