package cardinalitylimitprocessor

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

type sink struct {
	mu  sync.Mutex
	got []pmetric.Metrics
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	s.got = append(s.got, md)
	s.mu.Unlock()
	return nil
}

func (s *sink) last() pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[len(s.got)-1]
}

type env struct {
	p    *processor
	sink *sink
	tel  *selftelemetry.Metrics
}

func newEnv(t testing.TB, edit func(*Config)) env {
	t.Helper()
	cfg := createDefaultConfig()
	if edit != nil {
		edit(cfg)
	}
	tel := selftelemetry.New()
	s := &sink{}
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("cardinality_limit/test"), Telemetry: tel}, cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	return env{p: p, sink: s, tel: tel}
}

func (e env) consume(t testing.TB, md pmetric.Metrics) {
	t.Helper()
	if err := e.p.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
}

// metric sums a counter or gauge family over the series whose labels
// include want.
func (e env) metric(t testing.TB, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := e.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// pt is one number point: attribute "id", value, start and time.
type pt struct {
	id          string
	v           int64
	start, time pcommon.Timestamp
}

// newMetric returns a request with one metric of kind k (a sum, gauge,
// histogram, exponential histogram or summary) in one resource and scope.
func newMetric(k kind, name string) (pmetric.Metrics, pmetric.Metric) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "svc")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("meter")
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	switch k {
	case kindGauge:
		m.SetEmptyGauge()
	case kindDeltaSum, kindCumSum, kindUpDownSum:
		s := m.SetEmptySum()
		s.SetIsMonotonic(k != kindUpDownSum)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		if k != kindDeltaSum {
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
	case kindDeltaHist, kindCumHist:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		if k == kindCumHist {
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
	case kindDeltaExp, kindCumExp:
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		if k == kindCumExp {
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		}
	case kindSummary:
		m.SetEmptySummary()
	}
	return md, m
}

func numbers(k kind, pts ...pt) pmetric.Metrics {
	md, m := newMetric(k, "requests")
	dps := numberPoints(m)
	for _, p := range pts {
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("id", p.id)
		dp.SetIntValue(p.v)
		dp.SetStartTimestamp(p.start)
		dp.SetTimestamp(p.time)
	}
	return md
}

// points flattens every number point of a request: id (or "overflow")
// to value.
func points(md pmetric.Metrics) map[string]int64 {
	out := map[string]int64{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeGauge && m.Type() != pmetric.MetricTypeSum {
					continue
				}
				for _, dp := range numberPoints(m).All() {
					out[pointID(dp.Attributes())] += dp.IntValue()
				}
			}
		}
	}
	return out
}

func pointID(a pcommon.Map) string {
	if v, ok := a.Get(AttrOverflow); ok {
		if !v.Bool() || a.Len() != 1 {
			return "bad overflow attributes"
		}
		return "overflow"
	}
	v, _ := a.Get("id")
	return v.Str()
}
