package aggregateprocessor

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sink collects what the processor hands on; fail, when set, answers
// each call instead of accepting.
type sink struct {
	mu      sync.Mutex
	batches []pmetric.Metrics
	fail    func() error
	calls   int
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(); err != nil {
			return err
		}
	}
	s.batches = append(s.batches, md)
	return nil
}

// take returns the points received since the last take, flattened and
// sorted.
func (s *sink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, md := range s.batches {
		out = append(out, flatten(md)...)
	}
	s.batches = nil
	slices.Sort(out)
	return out
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// labels renders resource then point attributes as {k="v",...}, sorted.
func labels(res, attrs pcommon.Map) string {
	var kvs []string
	for _, m := range []pcommon.Map{res, attrs} {
		for k, v := range m.All() {
			kvs = append(kvs, fmt.Sprintf("%s=%q", k, v.AsString()))
		}
	}
	if len(kvs) == 0 {
		return ""
	}
	slices.Sort(kvs)
	return "{" + strings.Join(kvs, ",") + "}"
}

// flatten renders every point as `name{labels} value`; histograms as
// `name{labels} count=N sum=S [buckets]`.
func flatten(md pmetric.Metrics) []string {
	var out []string
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes()
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						out = append(out, m.Name()+labels(res, dp.Attributes())+" "+fmtFloat(numberValue(dp)))
					}
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						out = append(out, m.Name()+labels(res, dp.Attributes())+" "+fmtFloat(numberValue(dp)))
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						out = append(out, fmt.Sprintf("%s%s count=%d sum=%s %v %v", m.Name(), labels(res, dp.Attributes()),
							dp.Count(), fmtFloat(dp.Sum()), dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()))
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						out = append(out, fmt.Sprintf("%s%s count=%d sum=%s scale=%d zero=%d pos=%d%v", m.Name(), labels(res, dp.Attributes()),
							dp.Count(), fmtFloat(dp.Sum()), dp.Scale(), dp.ZeroCount(), dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw()))
					}
				}
			}
		}
	}
	return out
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// pt is one input point. A zero ts means "now".
type pt struct {
	attrs map[string]string
	v     float64
	ts    time.Time
	start time.Time
}

type kind int

const (
	gauge kind = iota
	counter
	deltaSum
)

// build returns a request with one resource and one metric of points.
func build(res map[string]string, name string, k kind, pts ...pt) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	for key, v := range res {
		rm.Resource().Attributes().PutStr(key, v)
	}
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	var dps pmetric.NumberDataPointSlice
	switch k {
	case gauge:
		dps = m.SetEmptyGauge().DataPoints()
	case counter, deltaSum:
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		if k == deltaSum {
			s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		}
		dps = s.DataPoints()
	}
	for _, p := range pts {
		dp := dps.AppendEmpty()
		for key, v := range p.attrs {
			dp.Attributes().PutStr(key, v)
		}
		ts := p.ts
		if ts.IsZero() {
			ts = time.Now()
		}
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		if !p.start.IsZero() {
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(p.start))
		}
		dp.SetDoubleValue(p.v)
	}
	return md
}

func a(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// newTest builds and starts a processor over a sink, with telemetry.
func newTest(t *testing.T, cfg *Config) (*processor, *sink, *selftelemetry.Metrics) {
	t.Helper()
	tel := selftelemetry.New()
	s := &sink{}
	p, err := newProcessor(pipeline.Settings{ID: mustID(t, "aggregate"), Telemetry: tel}, cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, s, tel
}

func rules(rs ...Rule) *Config {
	c := createDefaultConfig()
	c.Rules = rs
	return c
}

func consume(t *testing.T, p *processor, md pmetric.Metrics) {
	t.Helper()
	if err := p.ConsumeMetrics(context.Background(), md); err != nil {
		t.Fatal(err)
	}
}

func droppedCount(tel *selftelemetry.Metrics, reason string) float64 {
	var n float64
	mfs, _ := tel.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "outpost_processor_dropped_items_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot\n\t%s\nwant\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func mustID(t *testing.T, s string) pipeline.ID {
	t.Helper()
	id, err := pipeline.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newTel() *selftelemetry.Metrics { return selftelemetry.New() }

func configsByteSize(n int64) configs.ByteSize { return configs.ByteSize(n) }

// gaugeValue sums a family's series, gauges or counters.
func gaugeValue(t *testing.T, tel *selftelemetry.Metrics, name string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return v
}
