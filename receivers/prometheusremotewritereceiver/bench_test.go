package prometheusremotewritereceiver

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
)

// benchSeries is a request as Prometheus sends it by default: 2000
// samples (max_samples_per_send), here of 2000 series of a node_exporter-
// like shape, with the job and instance of one target.
const benchSeries = 2000

func benchV1() []byte {
	req := &prompb.WriteRequest{}
	for i := range benchSeries {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  labels("__name__", fmt.Sprintf("node_metric_%d_total", i%50), "cpu", fmt.Sprint(i/50), "instance", "edge-7:9100", "job", "node", "mode", "user"),
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: t0}},
		})
	}
	b, _ := req.Marshal()
	return snappy.Encode(nil, b)
}

func benchV2() []byte {
	r := newV2()
	for i := range benchSeries {
		r.add(writev2.TimeSeries{
			LabelsRefs: r.refs("__name__", fmt.Sprintf("node_metric_%d_total", i%50), "cpu", fmt.Sprint(i/50), "instance", "edge-7:9100", "job", "node", "mode", "user"),
			Samples:    []writev2.Sample{{Value: float64(i), Timestamp: t0}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: r.syms.Symbolize("Help.")},
		})
	}
	b, _ := r.build().Marshal()
	return snappy.Encode(nil, b)
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReceive measures remote-write receive through the HTTP
// handler (decompression, decoding, translation, accounting) into a
// pipeline that takes the data: samples/s of wall time and samples per CPU-second
// (run with -cpu 1).
func BenchmarkReceive(b *testing.B) {
	for _, tc := range []struct {
		name, ct string
		body     []byte
	}{{"v1", ctV1, benchV1()}, {"v2", ctV2, benchV2()}} {
		b.Run(tc.name, func(b *testing.B) {
			next, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return nil })
			cfg := createDefaultConfig()
			r, err := newReceiver(pipeline.Settings{ID: pipeline.MustID(Type)}, cfg, next)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.body)))
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, cfg.URLPath, bytes.NewReader(tc.body))
				req.Header.Set("Content-Type", tc.ct)
				req.Header.Set("Content-Encoding", "snappy")
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusNoContent {
					b.Fatalf("status %d", w.Code)
				}
			}
			b.ReportMetric(float64(b.N*benchSeries)/b.Elapsed().Seconds(), "samples/s")
			// Per second of CPU the process used (GC included): on a
			// shared machine wall time understates what one core does.
			b.ReportMetric(float64(b.N*benchSeries)/(cpuTime()-cpu0).Seconds(), "samples/cpu-s")
		})
	}
}
