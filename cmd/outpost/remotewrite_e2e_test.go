package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// rwTarget is a scrape target (client_golang, served in Prometheus's
// protobuf format) with a fixed set of series — a counter with an
// exemplar, a gauge, a classic histogram, a native histogram — that
// counts how often it was scraped: each scrape is one sample of each
// series.
type rwTarget struct {
	srv     *httptest.Server
	scrapes atomic.Int64
	frozen  atomic.Bool
}

// freeze makes every later scrape fail, so that served stays put.
func (tg *rwTarget) freeze() { tg.frozen.Store(true) }

// served is how many scrapes the target answered with its series.
func (tg *rwTarget) served() int64 { return tg.scrapes.Load() }

// rwTargetSeries is how many series one scrape of rwTarget yields.
const rwTargetSeries = 2 + 5 + 1 // counter, gauge; classic histogram: 3 buckets, _sum, _count; native histogram

func startRWTarget(t *testing.T) *rwTarget {
	tg := &rwTarget{}
	reg := promclient.NewRegistry()
	requests := promclient.NewCounterVec(promclient.CounterOpts{Name: "rwtest_requests_total", Help: "Requests served."}, []string{"code", "path"})
	temp := promclient.NewGauge(promclient.GaugeOpts{Name: "rwtest_temperature_celsius", Help: "Temperature.", ConstLabels: promclient.Labels{"sensor": "ä-1"}})
	latency := promclient.NewHistogram(promclient.HistogramOpts{Name: "rwtest_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 1}})
	native := promclient.NewHistogram(promclient.HistogramOpts{Name: "rwtest_native_seconds", Help: "Latency, native.",
		NativeHistogramBucketFactor: 1.1, NativeHistogramZeroThreshold: 1e-9})
	reg.MustRegister(requests, temp, latency, native)
	serve := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if tg.frozen.Load() {
			http.Error(w, "frozen", http.StatusServiceUnavailable)
			return
		}
		n := tg.scrapes.Add(1)
		trace := fmt.Sprintf("%032x", n)
		requests.WithLabelValues("200", "/a..b").(promclient.ExemplarAdder).AddWithExemplar(1, promclient.Labels{"trace_id": trace})
		temp.Set(float64(20+n%5) + 0.5)
		for _, v := range []float64{0.05, 0.5, 5} {
			latency.Observe(v)
		}
		native.(promclient.ExemplarObserver).ObserveWithExemplar(0.25, promclient.Labels{"trace_id": trace})
		native.Observe(float64(n))
		serve.ServeHTTP(w, req)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

// startAgent runs Prometheus in agent mode scraping target every 500ms as
// job, remote-writing to url with the given protobuf message.
func startAgent(t *testing.T, target, job, url, message string) *testutil.Process {
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	dir := t.TempDir()
	meta := ""
	if message == "prometheus.WriteRequest" {
		// Remote write 1.0 sends metadata apart from samples.
		meta = "    metadata_config: {send_interval: 1s}\n"
	}
	cfg := testutil.Sprintf(`global: {scrape_interval: 500ms, scrape_timeout: 400ms, scrape_native_histograms: true, scrape_protocols: [PrometheusProto, PrometheusText0.0.4]}
scrape_configs:
  - job_name: %s
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s
    protobuf_message: %s
    send_exemplars: true
    send_native_histograms: true
    queue_config: {batch_send_deadline: 200ms, max_samples_per_send: 20, min_backoff: 100ms, max_backoff: 1s}
%s`, job, target, url, message, meta)
	addr := testutil.FreeAddr(t)
	p := testutil.Start(t, bin, "--agent",
		"--config.file="+testutil.WriteFile(t, dir, "agent.yml", cfg),
		"--web.listen-address="+addr,
		"--storage.agent.path="+filepath.Join(dir, "wal"),
		"--enable-feature=exemplar-storage",
		"--log.level=warn")
	return p
}

// TestRemoteWriteReceiveEndToEnd: a real Prometheus 3.10 in agent mode
// scrapes a target and remote-writes into outpost, first with remote
// write 1.0, then with 2.0; outpost forwards with its remote-write
// exporter to a second, real Prometheus. Every series has exactly as many
// samples there as the target was scraped, with the agent's names and
// labels. During the 2.0 phase the second Prometheus is stopped for 10 s:
// outpost's tiny memory queue fills under `block`, the receiver answers
// 503 with Retry-After, the agent retries, and nothing is lost.
func TestRemoteWriteReceiveEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	start := time.Now()
	promAddr, promDir := testutil.FreeAddr(t), t.TempDir()
	prom := startPrometheus(t, promAddr, promDir)
	o := newOutpost(t)
	rwAddr := testutil.FreeAddr(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
  prometheusremotewrite:
    endpoint: %s
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    promote_node_attributes: false
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
    queue: {kind: memory, max_bytes: 8KiB, full_policy: block}
service:
  pipelines:
    metrics: {receivers: [prometheusremotewrite], exporters: [prometheusremotewrite]}
`, rwAddr, promAddr))
	url := "http://" + rwAddr + "/api/v1/write"

	// stored is the number of samples the second Prometheus holds for a
	// job's series, by series.
	stored := func(job string) map[string]float64 {
		var res struct {
			Data struct {
				Result []struct {
					Metric     map[string]string `json:"metric"`
					Values     []any             `json:"values"`
					Histograms []any             `json:"histograms"`
				} `json:"result"`
			} `json:"data"`
		}
		prom.get(t, "/api/v1/query?query="+neturl.QueryEscape(fmt.Sprintf(`{job=%q,__name__=~"rwtest_.*"}[1h]`, job)), &res)
		out := map[string]float64{}
		for _, r := range res.Data.Result {
			out[fmt.Sprint(r.Metric)] = float64(len(r.Values) + len(r.Histograms))
		}
		return out
	}
	// Both versions at once, each from its own agent and target, so that
	// both go through the pause.
	type run struct {
		job, message string
		tg           *rwTarget
		agent        *testutil.Process
	}
	runs := []*run{{job: "rw1", message: "prometheus.WriteRequest"}, {job: "rw2", message: "io.prometheus.write.v2.Request"}}
	for _, r := range runs {
		r.tg = startRWTarget(t)
		r.agent = startAgent(t, r.tg.srv.Listener.Addr().String(), r.job, url, r.message)
	}
	for _, r := range runs {
		testutil.Eventually(t, 30*time.Second, r.job+": first samples in Prometheus", func() bool { return len(stored(r.job)) == rwTargetSeries })
	}
	t.Logf("first samples of both agents after %s", time.Since(start).Round(100*time.Millisecond))

	// The pause: the second Prometheus is down for 10 s.
	prom.stop(t)
	time.Sleep(10 * time.Second)
	prom = startPrometheus(t, promAddr, promDir)

	// The targets stop answering (the scrapes fail, so no more samples of
	// the rwtest series), a scrape in flight settles, and the agents stop.
	for _, r := range runs {
		r.tg.freeze()
	}
	time.Sleep(time.Second)
	for _, r := range runs {
		r.agent.Signal(t, syscall.SIGTERM)
	}
	for _, r := range runs {
		if code := r.agent.Wait(t, 60*time.Second); code != 0 {
			t.Fatalf("%s: agent exit code %d\n%s", r.job, code, r.agent.Output())
		}
		scrapes := float64(r.tg.served())
		var s map[string]float64
		complete := func() bool {
			s = stored(r.job)
			if len(s) != rwTargetSeries {
				return false
			}
			for _, n := range s {
				if n != scrapes {
					return false
				}
			}
			return true
		}
		for deadline := time.Now().Add(30 * time.Second); !complete(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %g scrapes, but the second Prometheus holds %v", r.job, scrapes, s)
			}
		}
		t.Logf("%s (%s): %d series × %g scrapes = %g samples in the second Prometheus, each series exactly once per scrape",
			r.job, r.message, rwTargetSeries, scrapes, rwTargetSeries*scrapes)
	}

	// Names, labels and values as the agent scraped them.
	for _, r := range runs {
		last := float64(r.tg.served())
		got := prom.query(t, fmt.Sprintf(`last_over_time(rwtest_requests_total{job=%q}[1h])`, r.job))
		if len(got) != 1 || got[0].Metric["path"] != "/a..b" || got[0].Metric["code"] != "200" || got[0].Metric["instance"] != r.tg.srv.Listener.Addr().String() || value(t, got[0]) != last {
			t.Errorf("%s: rwtest_requests_total %v, want the value %g", r.job, got, last)
		}
		if got := prom.query(t, fmt.Sprintf(`last_over_time(rwtest_temperature_celsius{job=%q,sensor="ä-1"}[1h])`, r.job)); len(got) != 1 {
			t.Errorf("%s: rwtest_temperature_celsius %v", r.job, got)
		}
		if got := prom.query(t, fmt.Sprintf(`last_over_time(rwtest_latency_seconds_bucket{job=%q,le="+Inf"}[1h])`, r.job)); len(got) != 1 || value(t, got[0]) != 3*last {
			t.Errorf("%s: rwtest_latency_seconds_bucket %v", r.job, got)
		}
		// The native histogram: two observations per scrape.
		if got := prom.scalar(t, fmt.Sprintf(`histogram_count(last_over_time(rwtest_native_seconds{job=%q}[1h]))`, r.job)); got != 2*last {
			t.Errorf("%s: histogram_count(rwtest_native_seconds) %g, want %g", r.job, got, 2*last)
		}
		var ex struct {
			Data []struct {
				Exemplars []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			} `json:"data"`
		}
		prom.get(t, "/api/v1/query_exemplars?start=0&end=9999999999&query="+neturl.QueryEscape(fmt.Sprintf(`{job=%q,__name__=~"rwtest_requests_total|rwtest_native_seconds"}`, r.job)), &ex)
		n := 0
		for _, d := range ex.Data {
			n += len(d.Exemplars)
		}
		t.Logf("%s: %d exemplars in the second Prometheus for %g scrapes (one per scrape on the counter and on the native histogram)", r.job, n, last)
		if n == 0 {
			t.Errorf("%s: no exemplar arrived", r.job)
		}
	}

	m := testutil.Scrape(t, o.telemetry)
	refused := m.Sum("outpost_receiver_refused_items_total", map[string]string{"receiver": "prometheusremotewrite", "reason": "throttled"})
	accepted := m.Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "prometheusremotewrite"})
	failed := m.Sum("outpost_exporter_failed_items_total", map[string]string{"exporter": "prometheusremotewrite"})
	exemplarsDropped := m.Sum("outpost_receiver_dropped_exemplars_total", map[string]string{"receiver": "prometheusremotewrite"})
	t.Logf("outpost: accepted %g samples and histograms (the rwtest series, up and scrape_*), answered 503 for %g (queue full during the 10 s pause), exporter failed %g, exemplars left out (no point of their series in the request) %g; wall time %s",
		accepted, refused, failed, exemplarsDropped, time.Since(start).Round(time.Second))
	if refused == 0 {
		t.Errorf("no request was refused during the pause: the pause did not fill the queue")
	}
	if failed != 0 {
		t.Errorf("exporter failed %g items", failed)
	}
}
