package hostmetricsreceiver

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sink keeps every batch it is given and answers with err.
type sink struct {
	mu      sync.Mutex
	batches []pmetric.Metrics
	err     error
	got     chan struct{} // receives after each batch (buffered, never blocks)
}

func newSink() *sink { return &sink{got: make(chan struct{}, 100)} }

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	s.batches = append(s.batches, md)
	err := s.err
	s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	return err
}

func (s *sink) last(t *testing.T) pmetric.Metrics {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		t.Fatal("no batch received")
	}
	return s.batches[len(s.batches)-1]
}

// point is one data point of a batch, flattened.
type point struct {
	metric pmetric.Metric
	dp     pmetric.NumberDataPoint
}

// points lists every number data point of md by metric name.
func points(md pmetric.Metrics) map[string][]point {
	out := map[string][]point{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				for l := 0; l < dps.Len(); l++ {
					out[m.Name()] = append(out[m.Name()], point{m, dps.At(l)})
				}
			}
		}
	}
	return out
}

// attrs returns a point's attributes as a string map.
func attrs(dp pmetric.NumberDataPoint) map[string]string {
	out := map[string]string{}
	for k, v := range dp.Attributes().All() {
		out[k] = v.AsString()
	}
	return out
}

// value returns a point's value as a float.
func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}
