package prometheusreceiver

import (
	"context"
	"encoding/binary"
	"math"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// fuzzReader hands out fuzz input piece by piece; an exhausted input
// reads as zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) str() string {
	n := int(r.byte() % 12)
	n = min(n, len(r.b))
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *fuzzReader) float() float64 {
	switch r.byte() % 8 {
	case 0:
		return math.NaN()
	case 1:
		return math.Float64frombits(value.StaleNaN)
	case 2:
		return math.Inf(1)
	case 3:
		return -1
	}
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(b[:]))
	if r.byte()%2 == 0 {
		return float64(int64(f) % 1000)
	}
	return f
}

var fuzzNames = []string{"a", "a_total", "a_bucket", "a_sum", "a_count", "a", "target_info", "up", "a_created", "b"}
var fuzzLabels = []string{"le", "quantile", "job", "instance", "x", "trace_id", "span_id", "__name__"}
var fuzzTypes = []model.MetricType{"", model.MetricTypeCounter, model.MetricTypeGauge, model.MetricTypeHistogram,
	model.MetricTypeSummary, model.MetricTypeUnknown, model.MetricTypeInfo, model.MetricTypeGaugeHistogram}

// FuzzAdapter drives the AppenderV2 → pmetric translation with arbitrary
// label sets, values, metadata, exemplars and native histograms (valid or
// not): it must never panic, and every data point it produces is counted.
func FuzzAdapter(f *testing.F) {
	f.Add([]byte("\x03\x02a_bucket\x01\x00\x030.5\x03\x00\x00"))
	f.Add([]byte("\x05\x04\x03\x02\x01\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90"))
	f.Add([]byte("\x02\x09\x00\x00\x01\x01\x01\x01\x01\x01\x01\x01\xff\xfe\xfd\x07"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzReader{b: data}
		a := appendable{}.AppenderV2(context.Background()).(*appender)
		n := int(r.byte()%16) + 1
		for i := 0; i < n; i++ {
			b := labels.NewScratchBuilder(4)
			b.Add(model.MetricNameLabel, fuzzNames[int(r.byte())%len(fuzzNames)])
			for j := int(r.byte() % 4); j > 0; j-- {
				name := fuzzLabels[int(r.byte())%len(fuzzLabels)]
				if name == model.MetricNameLabel {
					name = r.str()
				}
				b.Add(name, r.str())
			}
			b.Sort()
			ls := b.Labels()
			opts := storage.AOptions{}
			if typ := fuzzTypes[int(r.byte())%len(fuzzTypes)]; typ != "" {
				opts.Metadata = metadata.Metadata{Type: typ, Unit: r.str()}
				opts.MetricFamilyName = []string{"a", "b", "", "target_info"}[int(r.byte())%4]
			}
			for k := int(r.byte() % 3); k > 0; k-- {
				eb := labels.NewScratchBuilder(2)
				eb.Add(fuzzLabels[int(r.byte())%len(fuzzLabels)], r.str())
				opts.Exemplars = append(opts.Exemplars, exemplar.Exemplar{Labels: eb.Labels(), Value: r.float(), Ts: int64(r.byte()), HasTs: r.byte()%2 == 0})
			}
			var h *histogram.Histogram
			var fh *histogram.FloatHistogram
			switch r.byte() % 4 {
			case 0:
				h = &histogram.Histogram{
					Schema: int32(int8(r.byte())) % 10, ZeroThreshold: r.float(), ZeroCount: uint64(r.byte()),
					Count: uint64(r.byte()), Sum: r.float(),
					PositiveSpans:   []histogram.Span{{Offset: int32(int8(r.byte())), Length: uint32(r.byte() % 4)}},
					PositiveBuckets: []int64{int64(int8(r.byte())), int64(r.byte()), int64(r.byte())}[:r.byte()%4],
				}
				if r.byte()%3 == 0 {
					h.Schema = histogram.CustomBucketsSchema
					h.CustomValues = []float64{r.float(), r.float()}
				}
			case 1:
				fh = &histogram.FloatHistogram{
					Schema: int32(int8(r.byte())) % 10, Count: r.float(), Sum: r.float(), ZeroCount: r.float(),
					NegativeSpans:   []histogram.Span{{Offset: int32(int8(r.byte())) * 100, Length: uint32(r.byte() % 3)}, {Offset: int32(r.byte()), Length: 1}},
					NegativeBuckets: []float64{r.float(), r.float(), r.float()}[:r.byte()%4],
				}
			}
			if _, err := a.Append(0, ls, int64(r.byte()), int64(r.byte())+1, r.float(), h, fh, opts); err != nil {
				t.Fatal(err)
			}
		}
		tr := translate(a.samples, nil, nil)
		if got := tr.md.DataPointCount(); got != tr.points {
			t.Fatalf("translation counted %d points, produced %d", tr.points, got)
		}
		if tr.points+tr.invalid > len(a.samples) {
			t.Fatalf("%d samples gave %d points and %d invalid", len(a.samples), tr.points, tr.invalid)
		}
	})
}
