package main

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// startScrapingPrometheus starts a real Prometheus that scrapes with the
// given scrape_configs (YAML list, indented by two spaces).
// nameOf returns __name__ from a seriesKey.
func nameOf(key string) string {
	_, rest, _ := strings.Cut(key, `__name__="`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}

func startScrapingPrometheus(t *testing.T, addr, scrapeConfigs string, extra ...string) *prometheus {
	t.Helper()
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1s, scrape_timeout: 900ms}\nscrape_configs:\n"+scrapeConfigs), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &prometheus{addr: addr, dir: filepath.Join(dir, "data")}
	args := append([]string{"--config.file=" + cfg, "--web.listen-address=" + p.addr, "--log.level=warn"}, extra...)
	if !strings.Contains(strings.Join(extra, " "), "--agent") {
		args = append(args, "--storage.tsdb.path="+p.dir)
	} else {
		args = append(args, "--storage.agent.path="+p.dir)
	}
	p.proc = testutil.Start(t, bin, args...)
	testutil.Eventually(t, 60*time.Second, "prometheus /-/ready", func() bool {
		code, _, err := testutil.HTTPGet("http://" + p.addr + "/-/ready")
		return err == nil && code == http.StatusOK
	})
	return p
}

// seriesKey is a series' labels as a canonical string. le and quantile
// values are written as numbers: Prometheus 3 stores a scraped le="1"
// as "1.0", while OTLP carries bounds as floats and Prometheus's own OTLP
// translation (which the remote-write exporter follows) writes them back
// as "1".
func seriesKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := m[k]
		if k == "le" || k == "quantile" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				v = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
		fmt.Fprintf(&b, "%s=%q,", k, v)
	}
	return b.String()
}

type tsample struct {
	t float64 // seconds
	v float64
}

// rawSamples returns, per series, the samples of q's range selector.
func rawSamples(t *testing.T, p *prometheus, q string, at time.Time) map[string][]tsample {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	p.get(t, fmt.Sprintf("/api/v1/query?query=%s&time=%.3f", url.QueryEscape(q), float64(at.UnixMilli())/1e3), &out)
	if out.Status != "success" {
		t.Fatalf("query %s: %s", q, out.Error)
	}
	m := map[string][]tsample{}
	for _, r := range out.Data.Result {
		for _, v := range r.Values {
			ts, _ := v[0].(float64)
			s, _ := v[1].(string)
			f, err := strconv.ParseFloat(s, 64)
			if err == nil {
				m[seriesKey(r.Metric)] = append(m[seriesKey(r.Metric)], tsample{ts, f})
			}
		}
	}
	return m
}

// TestScrapeDifferential: a real Prometheus (A) and outpost scrape the same
// node_exporter and Prometheus A's own /metrics; outpost forwards by remote
// write to a second Prometheus (B). The node_exporter series sets (names,
// labels) must be equal, and each value outpost forwarded must lie within
// what A scraped around it (the two scrape at different offsets); every
// series outpost forwarded from A's /metrics must exist in A.
func TestScrapeDifferential(t *testing.T) {
	node := testutil.NodeExporter(t)
	addrA := testutil.FreeAddr(t)
	promA := startScrapingPrometheus(t, addrA, testutil.Sprintf(`  - job_name: node
    static_configs: [{targets: [%s]}]
  - job_name: prometheus
    static_configs: [{targets: [%s]}]
`, node, addrA))
	promB := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	o := newOutpost(t)
	o.start(t, testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
receivers:
  prometheus:
    config:
      global: {scrape_interval: 1s, scrape_timeout: 900ms}
      scrape_configs:
        - job_name: node
          static_configs: [{targets: [%s]}]
        - job_name: prometheus
          static_configs: [{targets: [%s]}]
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    target_info: false
    promote_node_attributes: false
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
service:
  pipelines:
    metrics: {receivers: [prometheus], exporters: [prometheusremotewrite]}
`, filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, node, promA.addr, promB.addr))

	testutil.Eventually(t, 20*time.Second, "node series in B", func() bool {
		return promB.scalar(t, `count({job="node"})`) > 100
	})
	// Let both scrape a few times side by side.
	testutil.Eventually(t, 30*time.Second, "5 scrapes by both", func() bool {
		return promA.scalar(t, `count_over_time(up{job="node"}[20s])`) >= 5 && promB.scalar(t, `count_over_time(up{job="node"}[20s])`) >= 5
	})
	a := map[string]promResult{}
	for _, r := range promA.query(t, `{job="node"}`) {
		a[seriesKey(r.Metric)] = r
	}
	b := map[string]promResult{}
	for _, r := range promB.query(t, `{job="node"}`) {
		b[seriesKey(r.Metric)] = r
	}
	var onlyA, onlyB []string
	for k := range a {
		if _, ok := b[k]; !ok {
			onlyA = append(onlyA, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			onlyB = append(onlyB, k)
		}
	}
	sort.Strings(onlyA)
	sort.Strings(onlyB)
	for i := 0; i < len(onlyA) && i < 10; i++ {
		t.Errorf("only in Prometheus's own scrape: %s", onlyA[i])
	}
	for i := 0; i < len(onlyB) && i < 10; i++ {
		t.Errorf("only through outpost: %s", onlyB[i])
	}

	// Values: each sample outpost forwarded lies between the two samples
	// Prometheus took just before and just after it (both scrape every
	// second, at different offsets). That must hold for counters; gauges
	// that follow the scrapes themselves (node_exporter's own Go heap) may
	// swing outside, so only most of them must.
	counters := map[string]bool{}
	var meta struct {
		Data map[string][]struct {
			Type string `json:"type"`
		} `json:"data"`
	}
	promA.get(t, "/api/v1/metadata", &meta)
	for name, ms := range meta.Data {
		if len(ms) > 0 && ms[0].Type == "counter" {
			counters[name] = true
		}
	}
	now := time.Now()
	rawA := rawSamples(t, promA, `{job="node"}[20s]`, now)
	rawB := rawSamples(t, promB, `{job="node"}[20s]`, now)
	t.Logf("range samples: %d series in Prometheus, %d through outpost, %d counter families", len(rawA), len(rawB), len(counters))
	var compared, bracketed, counterSamples, counterBad, stableCompared, stableBracketed int
	var outside []string
	for k, bs := range rawB {
		as := rawA[k]
		isCounter := counters[nameOf(k)]
		for _, b := range bs {
			i := sort.Search(len(as), func(i int) bool { return as[i].t > b.t })
			if i == 0 || i == len(as) {
				continue // not between two of Prometheus's samples
			}
			lo, hi := math.Min(as[i-1].v, as[i].v), math.Max(as[i-1].v, as[i].v)
			compared++
			ok := b.v >= lo && b.v <= hi
			if ok {
				bracketed++
			}
			// node_exporter's own Go runtime, process and per-scrape
			// gauges (node_scrape_collector_*) move with every scrape it
			// answers: they are left out of the 9-in-10 rule below.
			if n := nameOf(k); !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") && !strings.HasPrefix(n, "node_scrape_") {
				stableCompared++
				if ok {
					stableBracketed++
				}
			}
			if isCounter {
				counterSamples++
				if !ok {
					counterBad++
				}
			}
			if !ok {
				outside = append(outside, fmt.Sprintf("%s@%.3f: %v not in [%v, %v]", k, b.t, b.v, lo, hi))
			}
		}
	}
	t.Logf("node_exporter series: %d in Prometheus, %d through outpost (equal sets: %v); samples compared %d, between Prometheus's neighbouring samples %d; counter samples %d, outside %d",
		len(a), len(b), len(onlyA)+len(onlyB) == 0, compared, bracketed, counterSamples, counterBad)
	sort.Strings(outside)
	for i := 0; i < len(outside) && i < 5; i++ {
		t.Logf("outside: %s", outside[i])
	}
	t.Logf("samples of series other than go_*/process_*/node_scrape_*: %d compared, %d between Prometheus's neighbouring samples", stableCompared, stableBracketed)
	if counterSamples == 0 || counterBad > 0 || compared < len(a) || stableBracketed < stableCompared*9/10 {
		t.Errorf("values: %d compared, %d bracketed (%d of %d outside go_*/process_*/node_scrape_*), %d of %d counter samples outside",
			compared, bracketed, stableBracketed, stableCompared, counterBad, counterSamples)
	}
	for _, name := range []string{"node_memory_MemTotal_bytes", "node_uname_info", "up"} {
		ra, rb := promA.query(t, name+`{job="node"}`), promB.query(t, name+`{job="node"}`)
		if len(ra) != 1 || len(rb) != 1 || value(t, ra[0]) != value(t, rb[0]) {
			t.Errorf("%s: Prometheus %v, outpost %v", name, ra, rb)
		}
	}

	// Prometheus's own /metrics (classic histograms, summaries): every
	// series outpost forwarded exists in A under the same labels, but for
	// the Go runtime counters whose names hold "total" twice
	// (go_gc_cycles_total_gc_cycles_total): the exporter's OTLP naming
	// (otlptranslator, as Prometheus's own OTLP endpoint) keeps one "total".
	// The test's own API calls (the metadata above) add series to
	// Prometheus's /metrics; when outpost scrapes it first, Prometheus's
	// own next scrape (every second) brings them: compare again until then.
	var seriesA, seriesB struct {
		Data []map[string]string `json:"data"`
	}
	var missing, buckets int
	var notInA []map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; {
		start := time.Now().Add(-time.Minute).Unix()
		promB.get(t, fmt.Sprintf("/api/v1/series?match[]=%s&start=%d", url.QueryEscape(`{job="prometheus"}`), start), &seriesB)
		promA.get(t, fmt.Sprintf("/api/v1/series?match[]=%s&start=%d", url.QueryEscape(`{job="prometheus"}`), start), &seriesA)
		inA := map[string]bool{}
		for _, m := range seriesA.Data {
			inA[seriesKey(m)] = true
			if n := m["__name__"]; strings.Contains(n, "_total_") {
				m2 := maps.Clone(m)
				m2["__name__"] = strings.Replace(n, "_total_", "_", 1)
				inA[seriesKey(m2)] = true
			}
		}
		missing, buckets, notInA = 0, 0, nil
		for _, m := range seriesB.Data {
			if strings.HasSuffix(m["__name__"], "_bucket") {
				buckets++
			}
			if !inA[seriesKey(m)] {
				missing++
				notInA = append(notInA, m)
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i := 0; i < len(notInA) && i < 10; i++ {
		t.Errorf("forwarded from Prometheus's /metrics but not in Prometheus's own scrape: %v", notInA[i])
	}
	t.Logf("Prometheus /metrics series: %d in Prometheus, %d through outpost (%d histogram buckets), %d not matched", len(seriesA.Data), len(seriesB.Data), buckets, missing)
	if len(seriesB.Data) < 100 || buckets == 0 {
		t.Errorf("too few series forwarded from Prometheus's /metrics: %d (%d buckets)", len(seriesB.Data), buckets)
	}
}
