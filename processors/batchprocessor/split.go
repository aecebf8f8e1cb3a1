package batchprocessor

import (
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/pdatautil"
	"github.com/outpost-edge/outpost/pipeline"
)

// signalOps are the operations the batcher needs on one pdata type. Items
// are spans, metric data points or log records.
type signalOps[T any] struct {
	signal pipeline.Signal
	empty  func() T
	count  func(T) int
	// readOnly and clone protect shared data: a read-only request is copied
	// before anything is moved out of it.
	readOnly func(T) bool
	clone    func(T) T
	// moveAll appends every resource of src to dst, leaving src empty.
	moveAll func(src, dst T)
	// moveItems moves the first n items of src to dst (0 < n < count(src)),
	// splitting a resource, scope or metric at the boundary: the part in
	// dst gets a copy of its resource, scope and metric metadata.
	moveItems func(src, dst T, n int)
}

var (
	tracesOps = signalOps[ptrace.Traces]{
		signal:   pipeline.SignalTraces,
		empty:    ptrace.NewTraces,
		count:    ptrace.Traces.SpanCount,
		readOnly: ptrace.Traces.IsReadOnly,
		clone: func(td ptrace.Traces) ptrace.Traces {
			out := ptrace.NewTraces()
			td.CopyTo(out)
			return out
		},
		moveAll: func(src, dst ptrace.Traces) {
			src.ResourceSpans().MoveAndAppendTo(dst.ResourceSpans())
		},
		moveItems: moveSpans,
	}
	metricsOps = signalOps[pmetric.Metrics]{
		signal:   pipeline.SignalMetrics,
		empty:    pmetric.NewMetrics,
		count:    pmetric.Metrics.DataPointCount,
		readOnly: pmetric.Metrics.IsReadOnly,
		clone: func(md pmetric.Metrics) pmetric.Metrics {
			out := pmetric.NewMetrics()
			md.CopyTo(out)
			return out
		},
		moveAll: func(src, dst pmetric.Metrics) {
			src.ResourceMetrics().MoveAndAppendTo(dst.ResourceMetrics())
		},
		moveItems: moveDataPoints,
	}
	logsOps = signalOps[plog.Logs]{
		signal:   pipeline.SignalLogs,
		empty:    plog.NewLogs,
		count:    plog.Logs.LogRecordCount,
		readOnly: plog.Logs.IsReadOnly,
		clone: func(ld plog.Logs) plog.Logs {
			out := plog.NewLogs()
			ld.CopyTo(out)
			return out
		},
		moveAll: func(src, dst plog.Logs) {
			src.ResourceLogs().MoveAndAppendTo(dst.ResourceLogs())
		},
		moveItems: moveLogRecords,
	}
)

// leafSlice is a pdata slice of items (spans, log records, data points).
type leafSlice[E any] interface {
	Len() int
	EnsureCapacity(int)
	AppendEmpty() E
	RemoveIf(func(E) bool)
}

// moveLeading moves the first n elements of src to the end of dst.
func moveLeading[S leafSlice[E], E interface{ MoveTo(E) }](src, dst S, n int) {
	n = min(n, src.Len())
	dst.EnsureCapacity(dst.Len() + n)
	src.RemoveIf(func(e E) bool {
		if n == 0 {
			return false
		}
		n--
		e.MoveTo(dst.AppendEmpty())
		return true
	})
}

// The three split functions share one shape: whole resources move while
// they fit in n; the resource that straddles the boundary is copied (its
// attributes only) and its scopes are treated the same way, down to the
// items. Moving whole elements keeps the common case free of copies.

func moveSpans(src, dst ptrace.Traces, n int) {
	src.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if n == 0 {
			return false
		}
		if c := resourceSpansCount(rs); c <= n {
			n -= c
			rs.MoveTo(dst.ResourceSpans().AppendEmpty())
			return true
		}
		drs := dst.ResourceSpans().AppendEmpty()
		rs.Resource().CopyTo(drs.Resource())
		drs.SetSchemaUrl(rs.SchemaUrl())
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			if n == 0 {
				return false
			}
			if c := ss.Spans().Len(); c <= n {
				n -= c
				ss.MoveTo(drs.ScopeSpans().AppendEmpty())
				return true
			}
			dss := drs.ScopeSpans().AppendEmpty()
			ss.Scope().CopyTo(dss.Scope())
			dss.SetSchemaUrl(ss.SchemaUrl())
			moveLeading(ss.Spans(), dss.Spans(), n)
			n = 0
			return false
		})
		return false
	})
}

func resourceSpansCount(rs ptrace.ResourceSpans) int {
	c := 0
	for _, ss := range rs.ScopeSpans().All() {
		c += ss.Spans().Len()
	}
	return c
}

func moveLogRecords(src, dst plog.Logs, n int) {
	src.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		if n == 0 {
			return false
		}
		if c := resourceLogsCount(rl); c <= n {
			n -= c
			rl.MoveTo(dst.ResourceLogs().AppendEmpty())
			return true
		}
		drl := dst.ResourceLogs().AppendEmpty()
		rl.Resource().CopyTo(drl.Resource())
		drl.SetSchemaUrl(rl.SchemaUrl())
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			if n == 0 {
				return false
			}
			if c := sl.LogRecords().Len(); c <= n {
				n -= c
				sl.MoveTo(drl.ScopeLogs().AppendEmpty())
				return true
			}
			dsl := drl.ScopeLogs().AppendEmpty()
			sl.Scope().CopyTo(dsl.Scope())
			dsl.SetSchemaUrl(sl.SchemaUrl())
			moveLeading(sl.LogRecords(), dsl.LogRecords(), n)
			n = 0
			return false
		})
		return false
	})
}

func resourceLogsCount(rl plog.ResourceLogs) int {
	c := 0
	for _, sl := range rl.ScopeLogs().All() {
		c += sl.LogRecords().Len()
	}
	return c
}

// moveDataPoints splits metrics by data point: a metric that straddles the
// boundary appears in both parts, each with the metric's name, description,
// unit, metadata, type, temporality and monotonicity.
func moveDataPoints(src, dst pmetric.Metrics, n int) {
	src.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		if n == 0 {
			return false
		}
		if c := resourceDataPointCount(rm); c <= n {
			n -= c
			rm.MoveTo(dst.ResourceMetrics().AppendEmpty())
			return true
		}
		drm := dst.ResourceMetrics().AppendEmpty()
		rm.Resource().CopyTo(drm.Resource())
		drm.SetSchemaUrl(rm.SchemaUrl())
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			if n == 0 {
				return false
			}
			if c := scopeDataPointCount(sm); c <= n {
				n -= c
				sm.MoveTo(drm.ScopeMetrics().AppendEmpty())
				return true
			}
			dsm := drm.ScopeMetrics().AppendEmpty()
			sm.Scope().CopyTo(dsm.Scope())
			dsm.SetSchemaUrl(sm.SchemaUrl())
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if n == 0 {
					return false
				}
				if c := pdatautil.DataPointCount(m); c <= n {
					n -= c
					m.MoveTo(dsm.Metrics().AppendEmpty())
					return true
				}
				moveMetricDataPoints(m, dsm.Metrics().AppendEmpty(), n)
				n = 0
				return false
			})
			return false
		})
		return false
	})
}

// moveMetricDataPoints moves the first n data points of m to the empty
// metric dm, giving dm m's metadata.
func moveMetricDataPoints(m, dm pmetric.Metric, n int) {
	dm.SetName(m.Name())
	dm.SetDescription(m.Description())
	dm.SetUnit(m.Unit())
	m.Metadata().CopyTo(dm.Metadata())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		moveLeading(m.Gauge().DataPoints(), dm.SetEmptyGauge().DataPoints(), n)
	case pmetric.MetricTypeSum:
		s, ds := m.Sum(), dm.SetEmptySum()
		ds.SetAggregationTemporality(s.AggregationTemporality())
		ds.SetIsMonotonic(s.IsMonotonic())
		moveLeading(s.DataPoints(), ds.DataPoints(), n)
	case pmetric.MetricTypeHistogram:
		h, dh := m.Histogram(), dm.SetEmptyHistogram()
		dh.SetAggregationTemporality(h.AggregationTemporality())
		moveLeading(h.DataPoints(), dh.DataPoints(), n)
	case pmetric.MetricTypeExponentialHistogram:
		h, dh := m.ExponentialHistogram(), dm.SetEmptyExponentialHistogram()
		dh.SetAggregationTemporality(h.AggregationTemporality())
		moveLeading(h.DataPoints(), dh.DataPoints(), n)
	case pmetric.MetricTypeSummary:
		moveLeading(m.Summary().DataPoints(), dm.SetEmptySummary().DataPoints(), n)
	}
}

func resourceDataPointCount(rm pmetric.ResourceMetrics) int {
	c := 0
	for _, sm := range rm.ScopeMetrics().All() {
		c += scopeDataPointCount(sm)
	}
	return c
}

func scopeDataPointCount(sm pmetric.ScopeMetrics) int {
	c := 0
	for _, m := range sm.Metrics().All() {
		c += pdatautil.DataPointCount(m)
	}
	return c
}
