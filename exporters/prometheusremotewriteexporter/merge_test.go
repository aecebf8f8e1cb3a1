package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

// TestQueuedRecordsMergeIntoOneWriteRequest: remote write 1.0's
// WriteRequest has only repeated fields (timeseries, metadata), so queued
// bodies concatenate: the senders merge the records of one lane into one
// request, snappy-compressed once, which prompb decodes to exactly the
// records' series and samples, in order.
func TestQueuedRecordsMergeIntoOneWriteRequest(t *testing.T) {
	srv := startServer(t)
	c := testConfig(srv.URL+"/api/v1/write", func(c *Config) {
		c.Queue.Enabled = true
		c.Queue.Batch.MinSize, c.Queue.Batch.FlushTimeout = 1000, 2*time.Second
	})
	e, _ := startExporter(t, c, t.TempDir())
	now := time.Now()
	var want []string
	for i := range 4 {
		name := fmt.Sprintf("merged_%d", i)
		want = append(want, name)
		if err := e.ConsumeMetrics(context.Background(), gaugeAt(name, now, float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	var reqs []*prompb.WriteRequest
	deadline := time.Now().Add(10 * time.Second)
	for len(reqs) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		reqs = srv.requests()
	}
	time.Sleep(100 * time.Millisecond)
	reqs = srv.requests()
	var got []string
	samples := 0
	for _, r := range reqs {
		for _, ts := range r.Timeseries {
			for _, l := range ts.Labels {
				if l.Name == "__name__" && l.Value != "target_info" {
					got = append(got, l.Value)
					samples += len(ts.Samples)
				}
			}
		}
	}
	t.Logf("4 queued records: %d write request(s), series %v, %d samples", len(reqs), got, samples)
	if len(reqs) != 1 || !slices.Equal(got, want) || samples != 4 {
		t.Fatalf("%d requests, series %v, %d samples; want 1 request with %v", len(reqs), got, samples, want)
	}
}
