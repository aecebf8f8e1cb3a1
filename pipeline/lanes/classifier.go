package lanes

import (
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/pdatautil"
)

// Classifier assigns lanes to items by an exporter's rules and splits
// batches by lane. It is safe for concurrent use. A nil *Classifier puts
// everything in the normal lane.
type Classifier struct {
	def Lane
	// The rules that can match items of each signal, in configuration
	// order. A signal whose list is empty needs no classification.
	traces, metrics, logs []*rule
	// scratch holds *scratch buffers, so that classifying a batch does not
	// allocate once the buffers have grown to the usual batch size.
	scratch sync.Pool
}

// scratch is per-call working memory.
type scratch struct {
	lanes []Lane  // the lane of each item, in batch order
	cand  []*rule // metrics: the rules left for one metric after its name
}

// New compiles cfg (see Config.Validate for the errors it can return).
func New(cfg Config) (*Classifier, error) {
	rules, def, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	c := &Classifier{def: def}
	c.scratch.New = func() any { return new(scratch) }
	for i := range rules {
		r := &rules[i]
		s := r.signals()
		if s&forTraces != 0 {
			c.traces = append(c.traces, r)
		}
		if s&forMetrics != 0 {
			c.metrics = append(c.metrics, r)
		}
		if s&forLogs != 0 {
			c.logs = append(c.logs, r)
		}
	}
	return c, nil
}

// Default returns the lane of items that no rule matches.
func (c *Classifier) Default() Lane {
	if c == nil {
		return LaneNormal
	}
	return c.def
}

func (c *Classifier) getScratch() *scratch {
	sc := c.scratch.Get().(*scratch)
	sc.lanes = sc.lanes[:0]
	return sc
}

func (c *Classifier) putScratch(sc *scratch) {
	sc.cand = sc.cand[:0]
	c.scratch.Put(sc)
}

// match reports whether the attribute condition holds: the first of item,
// scope and resource attributes that has the key decides.
func (m *attrMatch) match(item, scope, resource pcommon.Map) bool {
	v, ok := item.Get(m.key)
	if !ok {
		v, ok = scope.Get(m.key)
	}
	if !ok {
		v, ok = resource.Get(m.key)
	}
	if !ok {
		return false
	}
	var s string
	if v.Type() == pcommon.ValueTypeStr {
		s = v.Str()
	} else {
		s = v.AsString()
	}
	if m.re != nil {
		return m.re.MatchString(s)
	}
	return s == m.value
}

// spanLane returns the lane of one span.
func (c *Classifier) spanLane(sp ptrace.Span, scope, resource pcommon.Map) Lane {
	for _, r := range c.traces {
		if r.hasStatus && sp.Status().Code() != r.status {
			continue
		}
		if r.attr != nil && !r.attr.match(sp.Attributes(), scope, resource) {
			continue
		}
		return r.lane
	}
	return c.def
}

// logLane returns the lane of one log record.
func (c *Classifier) logLane(lr plog.LogRecord, scope, resource pcommon.Map) Lane {
	sev := plog.SeverityNumber(-1) // not looked at yet
	for _, r := range c.logs {
		if r.minSeverity != 0 {
			if sev < 0 {
				sev = lr.SeverityNumber()
				if sev == plog.SeverityNumberUnspecified {
					sev = severityFromText(lr.SeverityText())
				}
			}
			// An unknown severity (0) is below every threshold.
			if sev < r.minSeverity {
				continue
			}
		}
		if r.attr != nil && !r.attr.match(lr.Attributes(), scope, resource) {
			continue
		}
		return r.lane
	}
	return c.def
}

// metricCandidates returns, in order, the metric rules whose metric_name
// condition (if any) holds for name; only these can match the metric's
// data points. The name is matched once per metric, not per data point.
func (c *Classifier) metricCandidates(name string, buf []*rule) []*rule {
	for _, r := range c.metrics {
		if r.name != nil && !r.name.MatchString(name) {
			continue
		}
		buf = append(buf, r)
		if r.attr == nil {
			// It matches every data point: later rules are never reached.
			break
		}
	}
	return buf
}

// pointLane returns the lane of one data point, given its metric's
// candidate rules.
func (c *Classifier) pointLane(cands []*rule, point, scope, resource pcommon.Map) Lane {
	for _, r := range cands {
		if r.attr == nil || r.attr.match(point, scope, resource) {
			return r.lane
		}
	}
	return c.def
}

// appendMetricLanes appends the lane of each data point of m to lanes.
func (c *Classifier) appendMetricLanes(lanes []Lane, cands []*rule, m pmetric.Metric, scope, resource pcommon.Map) []Lane {
	n := pdatautil.DataPointCount(m)
	if len(cands) == 0 || cands[0].attr == nil {
		// The whole metric takes one lane.
		l := c.def
		if len(cands) > 0 {
			l = cands[0].lane
		}
		for range n {
			lanes = append(lanes, l)
		}
		return lanes
	}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return appendPointLanes(c, lanes, cands, m.Gauge().DataPoints(), scope, resource)
	case pmetric.MetricTypeSum:
		return appendPointLanes(c, lanes, cands, m.Sum().DataPoints(), scope, resource)
	case pmetric.MetricTypeHistogram:
		return appendPointLanes(c, lanes, cands, m.Histogram().DataPoints(), scope, resource)
	case pmetric.MetricTypeExponentialHistogram:
		return appendPointLanes(c, lanes, cands, m.ExponentialHistogram().DataPoints(), scope, resource)
	case pmetric.MetricTypeSummary:
		return appendPointLanes(c, lanes, cands, m.Summary().DataPoints(), scope, resource)
	}
	return lanes
}

// point is a metric data point of any type.
type point[P any] interface {
	Attributes() pcommon.Map
	MoveTo(P)
}

// pointSlice is a pdata slice of data points.
type pointSlice[P point[P]] interface {
	Len() int
	At(int) P
	AppendEmpty() P
	RemoveIf(func(P) bool)
}

func appendPointLanes[S pointSlice[P], P point[P]](c *Classifier, lanes []Lane, cands []*rule, points S, scope, resource pcommon.Map) []Lane {
	for i := range points.Len() {
		lanes = append(lanes, c.pointLane(cands, points.At(i).Attributes(), scope, resource))
	}
	return lanes
}
