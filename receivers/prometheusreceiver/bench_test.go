package prometheusreceiver

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// BenchmarkAdapter appends one scrape of 100k counter and gauge series
// (4 labels each, plus job and instance) and translates it to pmetric:
// the receiver's own work per scrape, without scraping and parsing.
func BenchmarkAdapter(b *testing.B) {
	const n = 100000
	series := make([]labels.Labels, n)
	for i := range series {
		series[i] = labels.FromStrings("__name__", fmt.Sprintf("synth_requests_%d_total", i/100), "code", fmt.Sprint(200+i%5),
			"instance", "127.0.0.1:9100", "job", "synth", "path", fmt.Sprintf("/api/v1/items/%d", i%100), "pod", fmt.Sprintf("pod-%d", i%100))
	}
	opts := storage.AOptions{Metadata: metadata.Metadata{Type: model.MetricTypeCounter}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a := appendable{}.AppenderV2(context.Background()).(*appender)
		for i, ls := range series {
			opts.MetricFamilyName = ls.Get("__name__")
			if _, err := a.Append(0, ls, 0, 1000, float64(i), nil, nil, opts); err != nil {
				b.Fatal(err)
			}
		}
		tr := translate(a.samples, nil, nil)
		if tr.points != n {
			b.Fatalf("%d points", tr.points)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sample")
}
