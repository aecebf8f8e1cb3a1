package lanes

import (
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/pdatautil"
)

// Splitting works in two passes. The first classifies every item into a
// pooled []Lane (in batch order) and counts items per lane; when one lane
// has them all, the input is returned as that lane's part and nothing is
// moved. Otherwise the lane with the most items stays in the input (its
// "home") and the items of the other lanes are moved out: whole resources,
// scopes and metrics when all their items share a lane, single items
// otherwise, with the resource, scope and metric metadata copied into each
// part that receives some of a container's items.

// SplitTraces splits td by the lane of each span. out[l] holds the spans of
// lane l and items[l] their number; an empty lane gets an empty
// ptrace.Traces. When every span falls in one lane, that lane's part is td
// itself. The caller must not use td afterwards. Read-only input is copied
// before anything is moved out of it.
func (c *Classifier) SplitTraces(td ptrace.Traces) (out [NumLanes]ptrace.Traces, items [NumLanes]int) {
	if c == nil || len(c.traces) == 0 {
		l := c.Default()
		return fillTraces(td, l), countOne(l, td.SpanCount())
	}
	sc := c.getScratch()
	defer c.putScratch(sc)
	for _, rs := range td.ResourceSpans().All() {
		res := rs.Resource().Attributes()
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope().Attributes()
			for _, sp := range ss.Spans().All() {
				sc.lanes = append(sc.lanes, c.spanLane(sp, scope, res))
			}
		}
	}
	items = countLanes(sc.lanes)
	home, single := homeLane(items, c.def)
	if single {
		return fillTraces(td, home), items
	}
	if td.IsReadOnly() {
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		td = cp
	}
	for l := range out {
		if Lane(l) == home {
			out[l] = td
		} else {
			out[l] = ptrace.NewTraces()
		}
	}
	splitTraces(td, sc.lanes, home, &out)
	return out, items
}

func fillTraces(td ptrace.Traces, l Lane) (out [NumLanes]ptrace.Traces) {
	for i := range out {
		if Lane(i) == l {
			out[i] = td
		} else {
			out[i] = ptrace.NewTraces()
		}
	}
	return out
}

func splitTraces(td ptrace.Traces, lanes []Lane, home Lane, out *[NumLanes]ptrace.Traces) {
	i := 0 // index in lanes of the next span
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		n := 0
		for _, ss := range rs.ScopeSpans().All() {
			n += ss.Spans().Len()
		}
		if n == 0 {
			return false
		}
		rl := lanes[i : i+n]
		if l, ok := uniform(rl); ok {
			i += n
			if l == home {
				return false
			}
			rs.MoveTo(out[l].ResourceSpans().AppendEmpty())
			return true
		}
		var dst [NumLanes]ptrace.ResourceSpans
		resourceIn := func(l Lane) ptrace.ResourceSpans {
			if dst[l] == (ptrace.ResourceSpans{}) {
				dst[l] = out[l].ResourceSpans().AppendEmpty()
				rs.Resource().CopyTo(dst[l].Resource())
				dst[l].SetSchemaUrl(rs.SchemaUrl())
			}
			return dst[l]
		}
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			n := ss.Spans().Len()
			if n == 0 {
				return false
			}
			sl := lanes[i : i+n]
			if l, ok := uniform(sl); ok {
				i += n
				if l == home {
					return false
				}
				ss.MoveTo(resourceIn(l).ScopeSpans().AppendEmpty())
				return true
			}
			var sdst [NumLanes]ptrace.ScopeSpans
			scopeIn := func(l Lane) ptrace.ScopeSpans {
				if sdst[l] == (ptrace.ScopeSpans{}) {
					sdst[l] = resourceIn(l).ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(sdst[l].Scope())
					sdst[l].SetSchemaUrl(ss.SchemaUrl())
				}
				return sdst[l]
			}
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				l := lanes[i]
				i++
				if l == home {
					return false
				}
				sp.MoveTo(scopeIn(l).Spans().AppendEmpty())
				return true
			})
			return ss.Spans().Len() == 0
		})
		return countHome(rl, home) == 0
	})
}

// SplitLogs splits ld by the lane of each log record, as SplitTraces does
// for spans.
func (c *Classifier) SplitLogs(ld plog.Logs) (out [NumLanes]plog.Logs, items [NumLanes]int) {
	if c == nil || len(c.logs) == 0 {
		l := c.Default()
		return fillLogs(ld, l), countOne(l, ld.LogRecordCount())
	}
	sc := c.getScratch()
	defer c.putScratch(sc)
	for _, rl := range ld.ResourceLogs().All() {
		res := rl.Resource().Attributes()
		for _, sl := range rl.ScopeLogs().All() {
			scope := sl.Scope().Attributes()
			for _, lr := range sl.LogRecords().All() {
				sc.lanes = append(sc.lanes, c.logLane(lr, scope, res))
			}
		}
	}
	items = countLanes(sc.lanes)
	home, single := homeLane(items, c.def)
	if single {
		return fillLogs(ld, home), items
	}
	if ld.IsReadOnly() {
		cp := plog.NewLogs()
		ld.CopyTo(cp)
		ld = cp
	}
	for l := range out {
		if Lane(l) == home {
			out[l] = ld
		} else {
			out[l] = plog.NewLogs()
		}
	}
	splitLogs(ld, sc.lanes, home, &out)
	return out, items
}

func fillLogs(ld plog.Logs, l Lane) (out [NumLanes]plog.Logs) {
	for i := range out {
		if Lane(i) == l {
			out[i] = ld
		} else {
			out[i] = plog.NewLogs()
		}
	}
	return out
}

func splitLogs(ld plog.Logs, lanes []Lane, home Lane, out *[NumLanes]plog.Logs) {
	i := 0 // index in lanes of the next log record
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		n := 0
		for _, sl := range rl.ScopeLogs().All() {
			n += sl.LogRecords().Len()
		}
		if n == 0 {
			return false
		}
		rlanes := lanes[i : i+n]
		if l, ok := uniform(rlanes); ok {
			i += n
			if l == home {
				return false
			}
			rl.MoveTo(out[l].ResourceLogs().AppendEmpty())
			return true
		}
		var dst [NumLanes]plog.ResourceLogs
		resourceIn := func(l Lane) plog.ResourceLogs {
			if dst[l] == (plog.ResourceLogs{}) {
				dst[l] = out[l].ResourceLogs().AppendEmpty()
				rl.Resource().CopyTo(dst[l].Resource())
				dst[l].SetSchemaUrl(rl.SchemaUrl())
			}
			return dst[l]
		}
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			n := sl.LogRecords().Len()
			if n == 0 {
				return false
			}
			slanes := lanes[i : i+n]
			if l, ok := uniform(slanes); ok {
				i += n
				if l == home {
					return false
				}
				sl.MoveTo(resourceIn(l).ScopeLogs().AppendEmpty())
				return true
			}
			var sdst [NumLanes]plog.ScopeLogs
			scopeIn := func(l Lane) plog.ScopeLogs {
				if sdst[l] == (plog.ScopeLogs{}) {
					sdst[l] = resourceIn(l).ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(sdst[l].Scope())
					sdst[l].SetSchemaUrl(sl.SchemaUrl())
				}
				return sdst[l]
			}
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				l := lanes[i]
				i++
				if l == home {
					return false
				}
				lr.MoveTo(scopeIn(l).LogRecords().AppendEmpty())
				return true
			})
			return sl.LogRecords().Len() == 0
		})
		return countHome(rlanes, home) == 0
	})
}

// SplitMetrics splits md by the lane of each data point; items counts data
// points. A metric whose data points fall in several lanes appears in each
// of their parts with its name, description, unit, metadata, type,
// temporality and monotonicity. Otherwise as SplitTraces.
func (c *Classifier) SplitMetrics(md pmetric.Metrics) (out [NumLanes]pmetric.Metrics, items [NumLanes]int) {
	if c == nil || len(c.metrics) == 0 {
		l := c.Default()
		return fillMetrics(md, l), countOne(l, md.DataPointCount())
	}
	sc := c.getScratch()
	defer c.putScratch(sc)
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		for _, sm := range rm.ScopeMetrics().All() {
			scope := sm.Scope().Attributes()
			for _, m := range sm.Metrics().All() {
				sc.cand = c.metricCandidates(m.Name(), sc.cand[:0])
				sc.lanes = c.appendMetricLanes(sc.lanes, sc.cand, m, scope, res)
			}
		}
	}
	items = countLanes(sc.lanes)
	home, single := homeLane(items, c.def)
	if single {
		return fillMetrics(md, home), items
	}
	if md.IsReadOnly() {
		cp := pmetric.NewMetrics()
		md.CopyTo(cp)
		md = cp
	}
	for l := range out {
		if Lane(l) == home {
			out[l] = md
		} else {
			out[l] = pmetric.NewMetrics()
		}
	}
	splitMetrics(md, sc.lanes, home, &out)
	return out, items
}

func fillMetrics(md pmetric.Metrics, l Lane) (out [NumLanes]pmetric.Metrics) {
	for i := range out {
		if Lane(i) == l {
			out[i] = md
		} else {
			out[i] = pmetric.NewMetrics()
		}
	}
	return out
}

func splitMetrics(md pmetric.Metrics, lanes []Lane, home Lane, out *[NumLanes]pmetric.Metrics) {
	i := 0 // index in lanes of the next data point
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		n := 0
		for _, sm := range rm.ScopeMetrics().All() {
			n += scopeDataPointCount(sm)
		}
		if n == 0 {
			return false
		}
		rlanes := lanes[i : i+n]
		if l, ok := uniform(rlanes); ok {
			i += n
			if l == home {
				return false
			}
			rm.MoveTo(out[l].ResourceMetrics().AppendEmpty())
			return true
		}
		var dst [NumLanes]pmetric.ResourceMetrics
		resourceIn := func(l Lane) pmetric.ResourceMetrics {
			if dst[l] == (pmetric.ResourceMetrics{}) {
				dst[l] = out[l].ResourceMetrics().AppendEmpty()
				rm.Resource().CopyTo(dst[l].Resource())
				dst[l].SetSchemaUrl(rm.SchemaUrl())
			}
			return dst[l]
		}
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			n := scopeDataPointCount(sm)
			if n == 0 {
				return false
			}
			slanes := lanes[i : i+n]
			if l, ok := uniform(slanes); ok {
				i += n
				if l == home {
					return false
				}
				sm.MoveTo(resourceIn(l).ScopeMetrics().AppendEmpty())
				return true
			}
			var sdst [NumLanes]pmetric.ScopeMetrics
			scopeIn := func(l Lane) pmetric.ScopeMetrics {
				if sdst[l] == (pmetric.ScopeMetrics{}) {
					sdst[l] = resourceIn(l).ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(sdst[l].Scope())
					sdst[l].SetSchemaUrl(sm.SchemaUrl())
				}
				return sdst[l]
			}
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				n := pdatautil.DataPointCount(m)
				if n == 0 {
					return false
				}
				mlanes := lanes[i : i+n]
				i += n
				if l, ok := uniform(mlanes); ok {
					if l == home {
						return false
					}
					m.MoveTo(scopeIn(l).Metrics().AppendEmpty())
					return true
				}
				var mdst [NumLanes]pmetric.Metric
				metricIn := func(l Lane) pmetric.Metric {
					if mdst[l] == (pmetric.Metric{}) {
						mdst[l] = scopeIn(l).Metrics().AppendEmpty()
						copyMetricShape(m, mdst[l])
					}
					return mdst[l]
				}
				return splitMetricPoints(m, mlanes, home, metricIn)
			})
			return countHome(slanes, home) == 0
		})
		return countHome(rlanes, home) == 0
	})
}

// copyMetricShape gives the empty metric dm everything of m but its data
// points.
func copyMetricShape(m, dm pmetric.Metric) {
	dm.SetName(m.Name())
	dm.SetDescription(m.Description())
	dm.SetUnit(m.Unit())
	m.Metadata().CopyTo(dm.Metadata())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dm.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		s, ds := m.Sum(), dm.SetEmptySum()
		ds.SetAggregationTemporality(s.AggregationTemporality())
		ds.SetIsMonotonic(s.IsMonotonic())
	case pmetric.MetricTypeHistogram:
		dm.SetEmptyHistogram().SetAggregationTemporality(m.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		dm.SetEmptyExponentialHistogram().SetAggregationTemporality(m.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		dm.SetEmptySummary()
	}
}

// splitMetricPoints moves the data points of m whose lane is not home to
// metricIn(lane), and reports whether m is left without data points.
func splitMetricPoints(m pmetric.Metric, lanes []Lane, home Lane, metricIn func(Lane) pmetric.Metric) bool {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return movePoints(m.Gauge().DataPoints(), lanes, home, func(l Lane) pmetric.NumberDataPointSlice {
			return metricIn(l).Gauge().DataPoints()
		})
	case pmetric.MetricTypeSum:
		return movePoints(m.Sum().DataPoints(), lanes, home, func(l Lane) pmetric.NumberDataPointSlice {
			return metricIn(l).Sum().DataPoints()
		})
	case pmetric.MetricTypeHistogram:
		return movePoints(m.Histogram().DataPoints(), lanes, home, func(l Lane) pmetric.HistogramDataPointSlice {
			return metricIn(l).Histogram().DataPoints()
		})
	case pmetric.MetricTypeExponentialHistogram:
		return movePoints(m.ExponentialHistogram().DataPoints(), lanes, home, func(l Lane) pmetric.ExponentialHistogramDataPointSlice {
			return metricIn(l).ExponentialHistogram().DataPoints()
		})
	case pmetric.MetricTypeSummary:
		return movePoints(m.Summary().DataPoints(), lanes, home, func(l Lane) pmetric.SummaryDataPointSlice {
			return metricIn(l).Summary().DataPoints()
		})
	}
	return false
}

func movePoints[S pointSlice[P], P point[P]](src S, lanes []Lane, home Lane, dst func(Lane) S) bool {
	i := 0
	src.RemoveIf(func(p P) bool {
		l := lanes[i]
		i++
		if l == home {
			return false
		}
		p.MoveTo(dst(l).AppendEmpty())
		return true
	})
	return src.Len() == 0
}

func scopeDataPointCount(sm pmetric.ScopeMetrics) int {
	n := 0
	for _, m := range sm.Metrics().All() {
		n += pdatautil.DataPointCount(m)
	}
	return n
}

// countLanes counts the items of each lane.
func countLanes(lanes []Lane) (n [NumLanes]int) {
	for _, l := range lanes {
		n[l]++
	}
	return n
}

func countOne(l Lane, n int) (items [NumLanes]int) {
	items[l] = n
	return items
}

// homeLane returns the lane with the most items (the most urgent on a
// tie), and whether it holds every item. A batch without items belongs to
// def.
func homeLane(items [NumLanes]int, def Lane) (Lane, bool) {
	home, nonEmpty := def, 0
	best := -1
	for l, n := range items {
		if n > 0 {
			nonEmpty++
		}
		if n > best {
			home, best = Lane(l), n
		}
	}
	if nonEmpty == 0 {
		return def, true
	}
	return home, nonEmpty == 1
}

// uniform reports whether every lane in lanes (at least one) is the same,
// and which.
func uniform(lanes []Lane) (Lane, bool) {
	l := lanes[0]
	for _, x := range lanes[1:] {
		if x != l {
			return 0, false
		}
	}
	return l, true
}

func countHome(lanes []Lane, home Lane) int {
	n := 0
	for _, l := range lanes {
		if l == home {
			n++
		}
	}
	return n
}
