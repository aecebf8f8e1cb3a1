package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// diffCorpus is the OTLP corpus of the differential check: every metric
// type Prometheus stores from OTLP (gauge, counter, up-down counter,
// histogram, exponential histogram with a scale above 8, summary), units
// that become suffixes, odd attribute names (leading underscores, runs of
// separators, a leading digit, UTF-8), UTF-8 values, and resources with
// and without service.instance.id (and one with namespace and extra
// attributes, so target_info).
func diffCorpus(ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	at := pcommon.NewTimestampFromTime(ts)
	start := pcommon.NewTimestampFromTime(ts.Add(-time.Minute))
	attrs := func(m pcommon.Map) {
		m.PutStr("_private", "p")
		m.PutStr("__reserved", "r")
		m.PutStr("a..b", "ab")
		m.PutStr("1st", "first")
		m.PutStr("http.request.method", "GET")
		m.PutStr("naïve.ключ", "значение ✓")
		m.PutInt("count", 3)
		m.PutBool("ok", true)
	}
	resources := []map[string]string{
		{"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "pod-1", "host.name": "edge-7", "k8s.pod.name": "checkout-1"},
		{"service.name": "sensor-gw"}, // no service.instance.id
		{"service.name": "plc", "deployment.environment.name": "lab"},
	}
	for ri, ra := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		for k, v := range ra {
			rm.Resource().Attributes().PutStr(k, v)
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("diff")
		ms := sm.Metrics()

		g := ms.AppendEmpty()
		g.SetName("diff.queue.depth")
		g.SetUnit("{item}")
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(at)
		dp.SetDoubleValue(12.5 + float64(ri))
		attrs(dp.Attributes())

		r := ms.AppendEmpty()
		r.SetName("diff.cpu.utilization")
		r.SetUnit("1")
		dp = r.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(at)
		dp.SetDoubleValue(0.25)

		c := ms.AppendEmpty()
		c.SetName("diff.http.server.requests")
		cs := c.SetEmptySum()
		cs.SetIsMonotonic(true)
		cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i, code := range []string{"200", "500"} {
			dp = cs.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(at)
			dp.SetIntValue(int64(40 + i))
			dp.Attributes().PutStr("http.response.status_code", code)
			attrs(dp.Attributes())
		}

		u := ms.AppendEmpty()
		u.SetName("diff.active.connections")
		us := u.SetEmptySum()
		us.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp = us.DataPoints().AppendEmpty()
		dp.SetTimestamp(at)
		dp.SetIntValue(-3)

		n := ms.AppendEmpty()
		n.SetName("diff.net.io")
		n.SetUnit("By/s")
		dp = n.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(at)
		dp.SetDoubleValue(1e6)

		h := ms.AppendEmpty()
		h.SetName("diff.http.server.request.duration")
		h.SetUnit("s")
		hh := h.SetEmptyHistogram()
		hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		hp := hh.DataPoints().AppendEmpty()
		hp.SetStartTimestamp(start)
		hp.SetTimestamp(at)
		hp.SetCount(10)
		hp.SetSum(4.5)
		hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
		hp.BucketCounts().FromRaw([]uint64{2, 3, 4, 1})
		attrs(hp.Attributes())

		e := ms.AppendEmpty()
		e.SetName("diff.payload.size")
		e.SetUnit("By")
		eh := e.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for i, scale := range []int32{0, 10} { // 10 is merged down to 8
			ep := eh.DataPoints().AppendEmpty()
			ep.SetStartTimestamp(start)
			ep.SetTimestamp(at)
			ep.SetScale(scale)
			ep.SetCount(7)
			ep.SetZeroCount(1)
			ep.SetSum(300)
			ep.Positive().SetOffset(4)
			ep.Positive().BucketCounts().FromRaw([]uint64{1, 2, 3})
			ep.Attributes().PutInt("variant", int64(i))
		}

		s := ms.AppendEmpty()
		s.SetName("diff.rpc.latency")
		s.SetUnit("ms")
		sp := s.SetEmptySummary().DataPoints().AppendEmpty()
		sp.SetStartTimestamp(start)
		sp.SetTimestamp(at)
		sp.SetCount(7)
		sp.SetSum(70)
		for _, q := range [][2]float64{{0.5, 9}, {0.99, 30}} {
			qv := sp.QuantileValues().AppendEmpty()
			qv.SetQuantile(q[0])
			qv.SetValue(q[1])
		}
	}
	return md
}

// startPrometheusOTLP is a real Prometheus with its own OTLP receiver on
// (default otlp settings).
func startPrometheusOTLP(t *testing.T) string {
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	dir, addr := t.TempDir(), testutil.FreeAddr(t)
	testutil.Start(t, bin,
		"--config.file="+testutil.WriteFile(t, dir, "prometheus.yml", "global: {scrape_interval: 1s}\nscrape_configs: []\n"),
		"--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.enable-otlp-receiver",
		"--log.level=warn")
	testutil.Eventually(t, 60*time.Second, "prometheus (otlp) /-/ready", func() bool {
		code, _, err := testutil.HTTPGet("http://" + addr + "/-/ready")
		return err == nil && code == http.StatusOK
	})
	return addr
}

// allSeries returns every series a Prometheus holds at ts, keyed by its
// sorted labels, with its value (a float, or a native histogram's JSON).
func allSeries(t *testing.T, addr string, ts time.Time) map[string]string {
	t.Helper()
	var out struct {
		Data struct {
			Result []struct {
				Metric    map[string]string `json:"metric"`
				Value     []any             `json:"value"`
				Histogram []any             `json:"histogram"`
			} `json:"result"`
		} `json:"data"`
	}
	q := fmt.Sprintf("/api/v1/query?query=%s&time=%d", neturl.QueryEscape(`{__name__=~".+"}`), ts.Add(time.Second).Unix())
	code, body, err := testutil.HTTPGet("http://" + addr + q)
	if err != nil || code != http.StatusOK {
		t.Fatalf("query %s: %d %v %s", addr, code, err, body)
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	series := map[string]string{}
	for _, r := range out.Data.Result {
		keys := make([]string, 0, len(r.Metric))
		for k := range r.Metric {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q,", k, r.Metric[k])
		}
		v := r.Value
		if v == nil {
			v = r.Histogram
		}
		val, _ := json.Marshal(v)
		series[b.String()] = string(val)
	}
	return series
}

// TestOTLPDifferentialPrometheus: the same OTLP corpus goes to a real
// Prometheus's own OTLP endpoint, and through outpost (OTLP receiver →
// prometheusremotewrite exporter, promote_node_attributes off) to
// another real Prometheus: the two hold identical series (names, labels,
// values). Then two outposts with node identity (promote_node_attributes
// on, the default) write the same corpus into one Prometheus: their
// series never collide.
func TestOTLPDifferentialPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	started := time.Now()
	ts := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	md := diffCorpus(ts)

	promA := startPrometheusOTLP(t)
	promBAddr := testutil.FreeAddr(t)
	promB := startPrometheus(t, promBAddr, t.TempDir())

	raw, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+promA+"/api/v1/otlp/v1/metrics", "application/x-protobuf", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Prometheus OTLP endpoint: %d %s", resp.StatusCode, msg)
	}

	outpostTo := func(node, promote string) *outpost {
		o := newOutpost(t)
		o.start(t, o.otlpIn()+testutil.Sprintf(`
%s
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    promote_node_attributes: %s
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}
`, node, promBAddr, promote))
		return o
	}
	o := outpostTo("", "false")
	exportOTLP(t, o.grpc, md)

	want := allSeries(t, promA, ts)
	if len(want) == 0 {
		t.Fatal("Prometheus's OTLP endpoint stored nothing")
	}
	// The odd attribute names are in the comparison, as Prometheus names
	// them.
	odd := 0
	for k := range want {
		if strings.Contains(k, `key_private="p"`) && strings.Contains(k, `__reserved="r"`) && strings.Contains(k, `a__b="ab"`) &&
			strings.Contains(k, `key_1st="first"`) && strings.Contains(k, `na_ve_____="значение ✓"`) {
			odd++
		}
	}
	if odd == 0 {
		t.Fatalf("no series with the odd attribute names: %v", slices.Sorted(maps.Keys(want)))
	}
	var got map[string]string
	testutil.Eventually(t, 20*time.Second, "outpost's series in the second Prometheus", func() bool {
		got = allSeries(t, promB.addr, ts)
		return len(got) >= len(want)
	})
	var missing, extra, differ []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g != v:
			differ = append(differ, fmt.Sprintf("%s: prometheus %s, outpost %s", k, v, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	t.Logf("compared %d series (names, labels, values) from %d OTLP data points: %d only in Prometheus's OTLP endpoint, %d only through outpost, %d values differ",
		len(want), md.DataPointCount(), len(missing), len(extra), len(differ))
	for _, k := range missing {
		t.Errorf("only via Prometheus's OTLP endpoint: %s", k)
	}
	for _, k := range extra {
		t.Errorf("only via outpost: %s", k)
	}
	for _, d := range differ {
		t.Errorf("value differs: %s", d)
	}

	// Node identity: two nodes, the same applications, the same corpus.
	before := len(got)
	n1 := outpostTo("node: {name: edge-1, site: plant-3}", "true")
	n2 := outpostTo("node: {name: edge-2, site: plant-3}", "true")
	exportOTLP(t, n1.grpc, md)
	exportOTLP(t, n2.grpc, md)
	count := func(node string) int {
		n := 0
		for k := range allSeries(t, promB.addr, ts) {
			if strings.Contains(k, `node_name="`+node+`"`) {
				n++
			}
		}
		return n
	}
	// Each node's series: the corpus's, plus a target_info for each
	// resource that had none (node.* attributes are resource attributes).
	testutil.Eventually(t, 20*time.Second, "both nodes' series", func() bool { return count("edge-1") >= before && count("edge-2") == count("edge-1") })
	perNode := count("edge-1")
	for _, n := range []*outpost{n1, n2} {
		m := testutil.Scrape(t, n.telemetry)
		if f := m.Sum("outpost_exporter_failed_items_total", map[string]string{"exporter": "prometheusremotewrite"}); f != 0 {
			t.Errorf("a node's exporter failed %g items (series collided?)", f)
		}
	}
	if total := len(allSeries(t, promB.addr, ts)); total != before+2*perNode {
		t.Errorf("%d series in Prometheus, want %d + 2 × %d", total, before, perNode)
	}
	t.Logf("with promote_node_attributes: two nodes wrote %d series each (the corpus's %d, and target_info of the resources that now carry node.* attributes) into one Prometheus, none refused, none shared (node_name, node_site labels); wall time %s",
		perNode, before, time.Since(started).Round(100*time.Millisecond))
}
