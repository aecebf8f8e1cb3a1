package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// synthTarget serves a Prometheus text exposition of `series` series
// (counters and gauges, 100 per family, 4 labels each) whose values change
// at every scrape, and counts its scrapes.
type synthTarget struct {
	series  int
	scrapes atomic.Int64
	srv     *httptest.Server
}

func newSynthTarget(t *testing.T, series int) *synthTarget {
	st := &synthTarget{series: series}
	st.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := st.scrapes.Add(1)
		var b bytes.Buffer
		b.Grow(series * 90)
		for f := 0; f*100 < series; f++ {
			kind := "counter"
			name := fmt.Sprintf("synth_requests_%d_total", f)
			if f%2 == 1 {
				kind, name = "gauge", fmt.Sprintf("synth_level_%d", f)
			}
			fmt.Fprintf(&b, "# HELP %s Synthetic.\n# TYPE %s %s\n", name, name, kind)
			for i := 0; i < 100 && f*100+i < series; i++ {
				fmt.Fprintf(&b, "%s{pod=\"pod-%d\",zone=\"z%d\",code=\"%d\",path=\"/api/v1/items/%d\"} %d\n", name, i, i%4, 200+i%5, i, n*int64(i+1))
			}
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(st.srv.Close)
	return st
}

// rwSink accepts remote-write requests and counts their bytes.
func rwSink(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := io.Copy(io.Discard, r.Body)
		n.Add(c)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// nodeScrapes is node_exporter's count of its own answered scrapes.
func nodeScrapes(t *testing.T, addr string) float64 {
	return testutil.Scrape(t, addr).Sum("promhttp_metric_handler_requests_total", map[string]string{"code": "200"})
}

// TestScrapeCompare is the scrape benchmark of issue 10: outpost's
// prometheus receiver and Prometheus 3.10 in agent mode, one after the
// other on the same machine, each scraping a synthetic target of 100k
// series every 15 s and node_exporter every second and remote-writing
// everything (outpost through its disk queue). It prints CPU seconds per
// million samples scraped and peak RSS of each, and the ratios. It asserts
// nothing about speed. Knobs: OUTPOST_BENCH_SCRAPE_SECONDS (62),
// OUTPOST_BENCH_SCRAPE_SERIES (100000), OUTPOST_BENCH_SCRAPE_PROFILE (a
// file for a CPU profile of outpost's run).
func TestScrapeCompare(t *testing.T) {
	if os.Getenv("OUTPOST_LOADTEST") != "1" {
		t.Skip("the scrape comparison takes minutes: run it with `make bench` (OUTPOST_LOADTEST=1)")
	}
	seconds := envInt("OUTPOST_BENCH_SCRAPE_SECONDS", 62)
	series := envInt("OUTPOST_BENCH_SCRAPE_SERIES", 100000)
	outpostBin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	promBin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	node := testutil.NodeExporter(t)
	synth := newSynthTarget(t, series)
	synthAddr := strings.TrimPrefix(synth.srv.URL, "http://")
	nodeSeries := 0
	for _, line := range strings.Split(mustGet(t, "http://"+node+"/metrics"), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			nodeSeries++
		}
	}

	scrapeConfigs := testutil.Sprintf(`
  - job_name: synth
    scrape_interval: 15s
    scrape_timeout: 10s
    static_configs: [{targets: [%s]}]
  - job_name: node
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs: [{targets: [%s]}]
`, synthAddr, node)

	type result struct {
		cpu, rssMiB, samples, wire float64
	}
	run := func(name string) result {
		dir := t.TempDir()
		sink, wire := rwSink(t)
		var p *testutil.Process
		telAddr := ""
		switch name {
		case "outpost":
			tel := testutil.FreeAddr(t)
			telAddr = tel
			cfg := filepath.Join(dir, "outpost.yaml")
			indented := strings.ReplaceAll(scrapeConfigs, "\n  ", "\n        ")
			if err := os.WriteFile(cfg, []byte(testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
receivers:
  prometheus:
    config:
      scrape_configs:%s
exporters:
  prometheusremotewrite:
    endpoint: %s/api/v1/write
service:
  pipelines:
    metrics: {receivers: [prometheus], exporters: [prometheusremotewrite]}
`, filepath.Join(dir, "data"), tel, strings.TrimRight(indented, " "), sink.URL)), 0o644); err != nil {
				t.Fatal(err)
			}
			p = testutil.Start(t, outpostBin, "run", "-c", cfg, "-watch-interval", "0")
		case "prometheus-agent":
			cfg := filepath.Join(dir, "prometheus.yml")
			if err := os.WriteFile(cfg, []byte("scrape_configs:"+scrapeConfigs+testutil.Sprintf("remote_write: [{url: %s/api/v1/write}]\n", sink.URL)), 0o644); err != nil {
				t.Fatal(err)
			}
			p = testutil.Start(t, promBin, "--agent", "--config.file="+cfg, "--storage.agent.path="+filepath.Join(dir, "wal"),
				"--web.listen-address="+testutil.FreeAddr(t), "--log.level=warn")
		}
		pid := p.Cmd.Process.Pid
		profiled := make(chan struct{})
		if path := os.Getenv("OUTPOST_BENCH_SCRAPE_PROFILE"); path != "" && telAddr != "" {
			// A CPU profile of outpost over the run, from its telemetry
			// server's /debug/pprof.
			go func() {
				defer close(profiled)
				testutil.Eventually(t, 20*time.Second, "outpost /readyz", func() bool {
					code, _, err := testutil.HTTPGet("http://" + telAddr + "/readyz")
					return err == nil && code == http.StatusOK
				})
				resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", telAddr, seconds-4))
				if err != nil {
					t.Errorf("profile: %v", err)
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Errorf("profile: %v", err)
				}
			}()
		} else {
			close(profiled)
		}
		synth0, node0 := synth.scrapes.Load(), nodeScrapes(t, node)
		cpu0 := cpuSeconds(t, pid)
		time.Sleep(time.Duration(seconds) * time.Second)
		r := result{
			cpu:    cpuSeconds(t, pid) - cpu0,
			rssMiB: procStatusKiB(t, pid, "VmHWM") / 1024,
		}
		// The node_exporter count includes this function's own reads
		// (one per run).
		r.samples = float64(synth.scrapes.Load()-synth0)*float64(series) + (nodeScrapes(t, node)-node0-1)*float64(nodeSeries)
		r.wire = float64(wire.Load())
		<-profiled
		if err := p.Cmd.Process.Signal(os.Interrupt); err == nil {
			p.Wait(t, 30*time.Second)
		}
		fmt.Printf("%-17s %7.1f s run  %10.0f samples scraped  CPU %6.2f s = %6.2f CPU-s per million samples  peak RSS %6.1f MiB  remote write %6.1f MiB\n",
			name, float64(seconds), r.samples, r.cpu, r.cpu/r.samples*1e6, r.rssMiB, r.wire/(1<<20))
		return r
	}
	fmt.Printf("scrape benchmark: %d-series target every 15s + node_exporter (%d series) every 1s, remote write to a counting sink, %d s per side\n", series, nodeSeries, seconds)
	o := run("outpost")
	a := run("prometheus-agent")
	cpuRatio := (o.cpu / o.samples) / (a.cpu / a.samples)
	fmt.Printf("outpost / prometheus-agent: CPU per sample %.2fx (target <= 1.0x), peak RSS %.2fx (target <= 0.5x)\n", cpuRatio, o.rssMiB/a.rssMiB)
}

func mustGet(t *testing.T, url string) string {
	code, body, err := testutil.HTTPGet(url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, code, err)
	}
	return body
}
