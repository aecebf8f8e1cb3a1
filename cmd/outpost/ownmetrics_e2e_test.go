package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestOwnMetricsToPrometheus: the outpost receiver (outpost's own
// metrics) and the hostmetrics receiver feed a prometheusremotewrite
// exporter; a real Prometheus gets outpost_build_info, the queue and
// exporter metrics and host metrics, each with the node's labels.
func TestOwnMetricsToPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	o := newOutpost(t)
	o.start(t, testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
node: {name: edge-7, site: plant-3, region: eu-west}
receivers:
  outpost: {collection_interval: 1s, initial_delay: 0s}
  hostmetrics:
    collection_interval: 1s
    initial_delay: 0s
    scrapers: {cpu: {}, memory: {}, filesystem: {}, load: {}}
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
    queue: {batch: {flush_timeout: 100ms}}
service:
  pipelines:
    metrics/self: {receivers: [outpost, hostmetrics], exporters: [prometheusremotewrite]}
`, filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, prom.addr))

	node := `node_name="edge-7", node_site="plant-3", node_region="eu-west"`
	// The exporter's sent counter is read after a first batch went out.
	testutil.Eventually(t, 20*time.Second, "outpost_exporter_sent_items_total in Prometheus", func() bool {
		return prom.scalar(t, `outpost_exporter_sent_items_total{exporter="prometheusremotewrite", signal="metrics", `+node+`}`) > 0
	})
	for _, q := range []string{
		`outpost_build_info{job="outpost", ` + node + `}`,
		`outpost_queue_capacity_bytes{exporter="prometheusremotewrite", job="outpost", ` + node + `}`,
		`outpost_receiver_accepted_items_total{receiver="outpost", transport="self", ` + node + `}`,
		`outpost_receiver_accepted_items_total{receiver="hostmetrics", transport="host", ` + node + `}`,
		`outpost_exporter_send_duration_seconds_count{exporter="prometheusremotewrite", signal="metrics", ` + node + `}`,
		`process_resident_memory_bytes{job="outpost", ` + node + `}`,
	} {
		if got := prom.scalar(t, q); got <= 0 {
			t.Errorf("%s = %v, want > 0", q, got)
		}
	}
	for _, q := range []string{
		`outpost_queue_bytes{exporter="prometheusremotewrite", ` + node + `}`,
		`outpost_queue_oldest_age_seconds{exporter="prometheusremotewrite", ` + node + `}`,
		`outpost_queue_dropped_items_total{exporter="prometheusremotewrite", ` + node + `}`,
	} {
		if r := prom.query(t, q); len(r) == 0 {
			t.Errorf("%s: no series", q)
		}
	}
	if got := prom.scalar(t, `outpost_build_info{`+node+`}`); got != 1 {
		t.Errorf("outpost_build_info = %v, want 1", got)
	}
	// No Go runtime families by default, and no counter named twice _total.
	if r := prom.query(t, `{__name__=~"go_.*|.*_total_total", job="outpost"}`); len(r) != 0 {
		t.Errorf("unexpected series: %v", r)
	}
	// Host metrics with the semantic conventions' names, translated.
	for _, q := range []string{
		`system_cpu_time_seconds_total{cpu="cpu0", state="user", ` + node + `}`,
		`system_memory_usage_bytes{state="used", ` + node + `}`,
		`system_filesystem_usage_bytes{mountpoint="/", state="used", ` + node + `}`,
	} {
		if got := prom.scalar(t, q); got <= 0 {
			t.Errorf("%s = %v, want > 0", q, got)
		}
	}
	n := prom.scalar(t, `count({job="outpost", `+node+`})`)
	h := prom.scalar(t, `count({__name__=~"system_.*", `+node+`})`)
	t.Logf("Prometheus holds %v series of outpost's own metrics and %v host metric series, all with the node labels", n, h)
	prom.stop(t)
}
