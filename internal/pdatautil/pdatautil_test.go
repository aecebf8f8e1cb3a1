package pdatautil

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestDataPointCount(t *testing.T) {
	ms := pmetric.NewMetricSlice()
	ms.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	s := ms.AppendEmpty().SetEmptySum().DataPoints()
	s.AppendEmpty()
	s.AppendEmpty()
	ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	ms.AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	ms.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	ms.AppendEmpty() // empty type
	want := []int{1, 2, 1, 1, 1, 0}
	for i, w := range want {
		if got := DataPointCount(ms.At(i)); got != w {
			t.Errorf("metric %d: %d data points, want %d", i, got, w)
		}
	}
}
