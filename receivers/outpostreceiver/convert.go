package outpostreceiver

import (
	"math"
	"regexp"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// converter turns gathered Prometheus families into pmetric metrics.
//
// Mapping (the OpenTelemetry Prometheus compatibility specification, from
// Prometheus to OTLP):
//   - counter → cumulative monotonic sum; start time: the series' created
//     timestamp (client_golang records one when a series is first used),
//     else the process start time;
//   - gauge and untyped → gauge;
//   - histogram → cumulative explicit-bucket histogram (bucket counts made
//     per bucket, the +Inf bucket implied by the count), start time as
//     counters;
//   - summary → summary (quantiles, count, sum);
//   - other types (gauge histograms) are skipped.
//
// Names and help are the family's; the unit is left empty (the name
// carries it, as Prometheus names do), so that an exporter translating
// back to Prometheus gets the same names. Labels become point attributes.
type converter struct {
	include, exclude []*regexp.Regexp
}

func newConverter(cfg *Config) *converter {
	c := &converter{}
	for _, p := range cfg.Include {
		re, _ := compile(p) // checked by Validate
		c.include = append(c.include, re)
	}
	for _, p := range cfg.Exclude {
		re, _ := compile(p)
		c.exclude = append(c.exclude, re)
	}
	return c
}

func (c *converter) selects(name string) bool {
	in := false
	for _, re := range c.include {
		if re.MatchString(name) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, re := range c.exclude {
		if re.MatchString(name) {
			return false
		}
	}
	return true
}

// processStart returns the value of process_start_time_seconds in fams, or
// zero.
func processStart(fams []*dto.MetricFamily) pcommon.Timestamp {
	for _, f := range fams {
		if f.GetName() == "process_start_time_seconds" && len(f.GetMetric()) == 1 {
			s := f.GetMetric()[0].GetGauge().GetValue()
			if s > 0 {
				sec, frac := math.Modf(s)
				return pcommon.NewTimestampFromTime(time.Unix(int64(sec), int64(frac*1e9)))
			}
		}
	}
	return 0
}

// append converts the selected families of fams into ms, at now; start is
// the fallback start time of cumulative series.
func (c *converter) append(ms pmetric.MetricSlice, fams []*dto.MetricFamily, now, start pcommon.Timestamp) {
	for _, f := range fams {
		if !c.selects(f.GetName()) || len(f.GetMetric()) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			m := newMetric(ms, f)
			s := m.SetEmptySum()
			s.SetIsMonotonic(true)
			s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, p := range f.GetMetric() {
				dp := s.DataPoints().AppendEmpty()
				setCommon(dp.Attributes(), p, now, dp.SetTimestamp)
				dp.SetStartTimestamp(startOf(p.GetCounter().GetCreatedTimestamp(), start))
				dp.SetDoubleValue(p.GetCounter().GetValue())
			}
		case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
			m := newMetric(ms, f)
			g := m.SetEmptyGauge()
			for _, p := range f.GetMetric() {
				dp := g.DataPoints().AppendEmpty()
				setCommon(dp.Attributes(), p, now, dp.SetTimestamp)
				if f.GetType() == dto.MetricType_GAUGE {
					dp.SetDoubleValue(p.GetGauge().GetValue())
				} else {
					dp.SetDoubleValue(p.GetUntyped().GetValue())
				}
			}
		case dto.MetricType_HISTOGRAM:
			m := newMetric(ms, f)
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, p := range f.GetMetric() {
				src := p.GetHistogram()
				dp := h.DataPoints().AppendEmpty()
				setCommon(dp.Attributes(), p, now, dp.SetTimestamp)
				dp.SetStartTimestamp(startOf(src.GetCreatedTimestamp(), start))
				dp.SetCount(src.GetSampleCount())
				dp.SetSum(src.GetSampleSum())
				var prev uint64
				bounds := make([]float64, 0, len(src.GetBucket()))
				counts := make([]uint64, 0, len(src.GetBucket())+1)
				for _, b := range src.GetBucket() {
					if math.IsInf(b.GetUpperBound(), +1) {
						continue
					}
					bounds = append(bounds, b.GetUpperBound())
					n := b.GetCumulativeCount()
					counts = append(counts, n-min(prev, n))
					prev = n
				}
				counts = append(counts, src.GetSampleCount()-min(prev, src.GetSampleCount()))
				dp.ExplicitBounds().FromRaw(bounds)
				dp.BucketCounts().FromRaw(counts)
			}
		case dto.MetricType_SUMMARY:
			m := newMetric(ms, f)
			s := m.SetEmptySummary()
			for _, p := range f.GetMetric() {
				src := p.GetSummary()
				dp := s.DataPoints().AppendEmpty()
				setCommon(dp.Attributes(), p, now, dp.SetTimestamp)
				dp.SetStartTimestamp(startOf(src.GetCreatedTimestamp(), start))
				dp.SetCount(src.GetSampleCount())
				dp.SetSum(src.GetSampleSum())
				for _, q := range src.GetQuantile() {
					v := dp.QuantileValues().AppendEmpty()
					v.SetQuantile(q.GetQuantile())
					v.SetValue(q.GetValue())
				}
			}
		}
	}
}

func newMetric(ms pmetric.MetricSlice, f *dto.MetricFamily) pmetric.Metric {
	m := ms.AppendEmpty()
	m.SetName(f.GetName())
	m.SetDescription(f.GetHelp())
	return m
}

func setCommon(attrs pcommon.Map, p *dto.Metric, now pcommon.Timestamp, setTime func(pcommon.Timestamp)) {
	attrs.EnsureCapacity(len(p.GetLabel()))
	for _, l := range p.GetLabel() {
		attrs.PutStr(l.GetName(), l.GetValue())
	}
	setTime(now)
}

// startOf is a series' created timestamp, or fallback.
func startOf(created *timestamppb.Timestamp, fallback pcommon.Timestamp) pcommon.Timestamp {
	if created != nil && created.IsValid() {
		if t := created.AsTime(); t.Unix() > 0 {
			return pcommon.NewTimestampFromTime(t)
		}
	}
	return fallback
}
