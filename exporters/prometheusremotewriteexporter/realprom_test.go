package prometheusremotewriteexporter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// gaugeAt is one gauge data point of metric name at ts.
func gaugeAt(name string, ts time.Time, v float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "merge-test")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetDoubleValue(v)
	return md
}

// promSeries returns how many series the real Prometheus at addr has
// for the PromQL selector q (-1 if the query fails).
func promSeries(addr, q string) int {
	code, body, err := testutil.HTTPGet("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil || code != http.StatusOK {
		return -1
	}
	var out struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &out) != nil {
		return -1
	}
	return len(out.Data.Result)
}

// TestRealPrometheusMergedRequestWithOneTooOldRecord: against the real
// Prometheus 3.10 (bin/prometheus). Its remote-write 1.0 handler appends
// a request's samples in one transaction and, at the first sample outside
// the head's range, rolls the whole transaction back and answers 400
// (storage/remote/write_handler.go, write: the deferred Rollback). A
// merged request holding one record of a too-old sample among fresh ones
// would so lose every record. The sender sends the records again in
// halves: the fresh samples are in Prometheus, and only the old record's
// point is counted failed (out_of_bounds).
func TestRealPrometheusMergedRequestWithOneTooOldRecord(t *testing.T) {
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	dir := t.TempDir()
	addr := testutil.FreeAddr(t)
	proc := testutil.Start(t, bin,
		"--config.file="+testutil.WriteFile(t, dir, "prometheus.yml", "global: {scrape_interval: 1s}\nscrape_configs: []\n"),
		"--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.enable-remote-write-receiver",
		"--log.level=error",
	)
	testutil.Eventually(t, 60*time.Second, "prometheus /-/ready", func() bool {
		if proc.Exited() {
			t.Fatalf("prometheus exited:\n%s", proc.Output())
		}
		code, _, err := testutil.HTTPGet("http://" + addr + "/-/ready")
		return err == nil && code == http.StatusOK
	})

	// A proxy in front of Prometheus notes each answer's status.
	var mu sync.Mutex
	var statuses []int
	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		mu.Lock()
		statuses = append(statuses, r.StatusCode)
		mu.Unlock()
		return nil
	}
	proxy := httptest.NewServer(rp)
	defer proxy.Close()
	answers := func() []int { mu.Lock(); defer mu.Unlock(); return slices.Clone(statuses) }

	c := testConfig(proxy.URL+"/api/v1/write", func(c *Config) {
		c.Queue.Enabled = true
		// Records wait up to 3 s for company: the five below are merged.
		c.Queue.Batch.MinSize, c.Queue.Batch.FlushTimeout = 1000, 3*time.Second
	})
	e, tel := startExporter(t, c, t.TempDir())
	ctx := context.Background()
	now := time.Now()
	sent := func() float64 { return promtestutil.ToFloat64(tel.ExporterSent.WithLabelValues(testID, "metrics")) }

	// A fresh sample first, so that the head's range starts now (an empty
	// head takes any timestamp).
	if err := e.ConsumeMetrics(ctx, gaugeAt("warmup", now, 1)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the warm-up sample", func() bool { return sent() == 1 })

	for i, name := range []string{"fresh_a", "fresh_b", "too_old", "fresh_c", "fresh_d"} {
		ts := now.Add(time.Duration(i) * time.Millisecond)
		if name == "too_old" {
			ts = now.Add(-3 * time.Hour)
		}
		if err := e.ConsumeMetrics(ctx, gaugeAt(name, ts, float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	failedOOB := func() float64 { return failed(t, tel, ReasonOutOfBounds) }
	testutil.Eventually(t, 30*time.Second, "the merged records settled", func() bool { return sent()+failedOOB() >= 6 })
	for _, name := range []string{"fresh_a", "fresh_b", "fresh_c", "fresh_d"} {
		testutil.Eventually(t, 10*time.Second, name+" in Prometheus", func() bool { return promSeries(addr, name) == 1 })
	}
	st := answers()
	t.Logf("5 records merged (4 fresh, 1 three hours old) to the real Prometheus: answers %v (the warm-up first), sent %g, failed{out_of_bounds} %g, too_old series in Prometheus: %d",
		st, sent()-1, failedOOB(), promSeries(addr, "too_old"))
	if sent() != 5 || failedOOB() != 1 || promSeries(addr, "too_old") != 0 {
		t.Fatalf("sent %g (want 5 with the warm-up), failed{out_of_bounds} %g (want 1)", sent(), failedOOB())
	}
	// The merged request was refused whole (400), then its halves.
	if len(st) < 3 || st[1] != http.StatusBadRequest {
		t.Fatalf("answers %v: want the merged request refused with 400, then parts", st)
	}
}
