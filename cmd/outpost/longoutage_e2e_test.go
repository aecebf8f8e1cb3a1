package main

// The long-outage test (issue 8, acceptance 5): an edge is cut off for
// hours while the central Prometheus and Loki stay up and keep receiving
// current data from the rest of the fleet; when the link returns, outpost
// drains a backlog whose timestamps span the last 6 hours. Whether the
// servers take it is decided by their settings, not by outpost: with
// windows that cover the outage every sample and line is queryable; with
// the defaults the refusals are counted by reason and the log names the
// server setting to change. See docs/operations.md, "Long outages".

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// The backlog: one round every backlogStep over the last 6 hours, each
// round backlogSeries samples (one per series) and backlogLines log lines.
const (
	backlogRounds = 72
	backlogStep   = 5 * time.Minute
	backlogSeries = 4
	backlogLines  = 4
)

// The edge under test and the stream it shares with another node of its
// site (site-level streams: the exporter's labels leave node out).
const (
	outageNode    = "edge-7"
	outageSite    = "plant-2"
	outageService = "checkout"
)

func TestLongOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	// Each server's window set to cover the outage (and more: outpost's
	// queue.max_age is 12h in both runs).
	t.Run("ServerWindowsCoverTheOutage", func(t *testing.T) {
		longOutage(t, longOutageCase{
			promConfig: "storage:\n  tsdb:\n    out_of_order_time_window: 24h\n",
			lokiFlags: []string{
				"-validation.reject-old-samples.max-age=24h",
				// Entries up to max_chunk_age/2 = 12h behind the newest
				// of their stream are taken. (Loki raises the queriers'
				// query_ingesters_within to cover what the ingesters
				// hold, max_chunk_age and the index upload delay, by
				// itself: the lines 3 to 6 h old are found without it.)
				"-ingester.max-chunk-age=24h",
			},
			windows: true,
		})
	})
	// Both servers as they come: Prometheus has no out-of-order window,
	// Loki takes entries at most 1h (max_chunk_age/2) behind the newest of
	// their stream.
	t.Run("ServerDefaults", func(t *testing.T) {
		longOutage(t, longOutageCase{})
	})
	// The same defaults, with the loki exporter's default stream labels
	// (node among them): the edge's backlog is the only writer of its
	// streams and arrives in order, so Loki's per-stream rule never applies
	// and its default reject_old_samples_max_age (1w) covers 6 hours.
	// Prometheus refuses as in ServerDefaults.
	t.Run("ServerDefaultsNodeStreams", func(t *testing.T) {
		longOutage(t, longOutageCase{nodeStreams: true})
	})
}

type longOutageCase struct {
	promConfig string   // appended to tools/peers/prometheus.yml
	lokiFlags  []string // added to Loki's command line
	windows    bool     // the servers' windows cover the outage
	// nodeStreams: the loki exporter's default labels, so that this
	// edge's streams are its own (else service_name and site only: one
	// stream shared with another node of the site).
	nodeStreams bool
}

func longOutage(t *testing.T, c longOutageCase) {
	tpl, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "tools", "peers", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheusConfig(t, string(tpl)+c.promConfig)
	loki := startLoki(t, c.lokiFlags...)

	// The rest of the fleet keeps writing current data straight to both
	// servers for the whole test: another site's series moves Prometheus's
	// head on, another node of this site writes to the Loki stream this
	// edge writes to.
	fleet := startFleetWriter(t, prom.addr, loki)
	testutil.Eventually(t, 30*time.Second, "the fleet's current data in Prometheus and Loki", func() bool {
		return fleet.promWrites.Load() >= 2 && fleet.lokiWrites.Load() >= 2
	})

	// This edge reaches the servers only through relays the test cuts.
	promLink := startRelay(t, prom.addr)
	lokiLink := startRelay(t, loki)

	labels := "    labels:\n      - {label: service_name, resource: service.name}\n      - {label: site, resource: node.site}\n"
	if c.nodeStreams {
		labels = ""
	}
	o := newOutpost(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
node: {name: %s, site: %s}
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
    queue: {max_age: 12h}
  loki:
    endpoint: http://%s/loki/api/v1/push
    tenant: %s
%s    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
    queue: {max_age: 12h}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}
    logs: {receivers: [otlp], exporters: [loki]}
`, outageNode, outageSite, promLink.addr, lokiLink.addr, lokiTenant, labels))

	// The outage: only this edge's links go down.
	promLink.down()
	lokiLink.down()
	now := time.Now().Truncate(time.Millisecond)
	base := now.Add(-6 * time.Hour).Add(time.Minute) // the oldest round; the newest is 4 min old
	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range backlogRounds {
		at := base.Add(time.Duration(i) * backlogStep)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(backlogMetrics(i, at))); err != nil {
			t.Fatalf("round %d: metrics: %v", i, err)
		}
		if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(backlogLogs(i, at))); err != nil {
			t.Fatalf("round %d: logs: %v", i, err)
		}
		cancel()
	}
	const samples, lines = backlogRounds * backlogSeries, backlogRounds * backlogLines
	promOf := map[string]string{"exporter": "prometheusremotewrite"}
	lokiOf := map[string]string{"exporter": "loki"}
	// outpost keeps trying while the link is down, and delivers nothing.
	testutil.Eventually(t, 30*time.Second, "outpost retrying both exporters during the outage", func() bool {
		m := testutil.Scrape(t, o.telemetry)
		return m.Sum("outpost_exporter_send_retries_total", promOf) >= 2 && m.Sum("outpost_exporter_send_retries_total", lokiOf) >= 2
	})
	m := testutil.Scrape(t, o.telemetry)
	queuedP, queuedL := m.Sum("outpost_queue_items", promOf), m.Sum("outpost_queue_items", lokiOf)
	if s := m.Sum("outpost_exporter_sent_items_total", promOf) + m.Sum("outpost_exporter_sent_items_total", lokiOf); s != 0 {
		t.Fatalf("%v items delivered through a cut link", s)
	}
	if f := m.Sum("outpost_exporter_failed_items_total", promOf) + m.Sum("outpost_exporter_failed_items_total", lokiOf); f != 0 {
		t.Fatalf("%v items failed during the outage (want them kept)", f)
	}

	// The link returns; the backlog drains until every item is accounted
	// for, delivered or refused.
	promLink.up(t)
	lokiLink.up(t)
	testutil.Eventually(t, 60*time.Second, "the backlog drained", func() bool {
		m = testutil.Scrape(t, o.telemetry)
		return m.Sum("outpost_exporter_sent_items_total", promOf)+m.Sum("outpost_exporter_failed_items_total", promOf) >= samples &&
			m.Sum("outpost_exporter_sent_items_total", lokiOf)+m.Sum("outpost_exporter_failed_items_total", lokiOf) >= lines
	})
	sentP, failedP := m.Sum("outpost_exporter_sent_items_total", promOf), m.Sum("outpost_exporter_failed_items_total", promOf)
	sentL, failedL := m.Sum("outpost_exporter_sent_items_total", lokiOf), m.Sum("outpost_exporter_failed_items_total", lokiOf)
	if sentP+failedP != samples || sentL+failedL != lines {
		t.Errorf("accounted for %v+%v of %d samples and %v+%v of %d lines", sentP, failedP, samples, sentL, failedL, lines)
	}
	reasons := failedByReason(m)

	queryEnd := time.Now().Add(time.Minute)
	gotSamples := backlogSamples(t, prom, queryEnd)
	var gotLines []lokiLine
	query := func() []lokiLine {
		return queryLines(t, loki, `{service_name="`+outageService+`", site="`+outageSite+`"} |= "`+outageNode+` backlog"`,
			now.Add(-6*time.Hour), queryEnd)
	}

	if c.windows {
		testutil.Eventually(t, 30*time.Second, "every backlog line queryable in Loki", func() bool {
			gotLines = query()
			return len(gotLines) >= lines
		})
		if failedP != 0 || failedL != 0 {
			t.Errorf("refused: %v samples, %v lines (%v)", failedP, failedL, reasons)
		}
		checkBacklogSamples(t, gotSamples, base, samples)
		checkBacklogLines(t, gotLines, base, lines)
	} else {
		// Prometheus refuses what is more than 1h behind its head, and
		// remote write 1.0 stores nothing of a request it refuses.
		if reasons["prometheusremotewrite/out_of_bounds"] == 0 {
			t.Errorf("no sample refused as out_of_bounds: %v", reasons)
		}
		if len(gotSamples) != int(sentP) {
			t.Errorf("Prometheus has %d backlog samples, outpost delivered %v", len(gotSamples), sentP)
		}
		settings := []string{"storage.tsdb.out_of_order_time_window"}
		if c.nodeStreams {
			// Loki takes every line; those beyond the queriers' reach
			// into the ingesters become queryable once the ingester has
			// flushed their chunks (at its next flush check, 30 s).
			start := time.Now()
			first := len(query())
			testutil.Eventually(t, 90*time.Second, "every backlog line queryable in Loki", func() bool {
				gotLines = query()
				return len(gotLines) >= lines
			})
			t.Logf("%d of %d lines queryable right after the drain, all %s later", first, lines, time.Since(start).Round(time.Second))
			if failedL != 0 {
				t.Errorf("refused %v lines (%v)", failedL, reasons)
			}
			checkBacklogLines(t, gotLines, base, lines)
		} else {
			// Loki refuses the entries more than 1h behind the newest of
			// their stream, and keeps the others of the request.
			gotLines = query()
			if failedL == 0 {
				t.Errorf("no line refused: %v", reasons)
			}
			if len(gotLines) < int(sentL) || len(gotLines) >= lines {
				t.Errorf("Loki has %d backlog lines; outpost delivered %v of %d", len(gotLines), sentL, lines)
			}
			settings = append(settings, "ingester.max_chunk_age")
		}
		out := o.proc.Output()
		for _, setting := range settings {
			if !strings.Contains(out, setting) {
				t.Errorf("outpost's log does not name %s:\n%s", setting, out)
			}
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "hint:") {
				t.Logf("outpost log: %s", l)
			}
		}
	}
	fleet.stop(t)
	t.Logf("long outage (server windows cover it: %v, per-node Loki streams: %v): %d of %d samples and %d of %d lines queried back; "+
		"during the outage %v samples and %v lines queued; outpost delivered %v samples and %v lines, refused %v samples and %v lines; "+
		"refusals by reason %v; the fleet wrote %d remote-write requests and %d Loki pushes meanwhile",
		c.windows, c.nodeStreams, len(gotSamples), samples, len(gotLines), lines, queuedP, queuedL, sentP, sentL, failedP, failedL,
		reasons, fleet.promWrites.Load(), fleet.lokiWrites.Load())
}

// backlogMetrics is round i: one gauge point of each series at at, value
// 10*i + series.
func backlogMetrics(i int, at time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", outageService)
	g := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("longoutage.backlog")
	dps := g.SetEmptyGauge().DataPoints()
	for s := range backlogSeries {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(at))
		dp.SetDoubleValue(float64(10*i + s))
		dp.Attributes().PutInt("series", int64(s))
	}
	return md
}

// backlogLogs is round i: backlogLines lines, a millisecond apart from at.
func backlogLogs(i int, at time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", outageService)
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for l := range backlogLines {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(l) * time.Millisecond)))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.Body().SetStr(backlogLine(i, l))
	}
	return ld
}

func backlogLine(round, line int) string {
	return fmt.Sprintf("%s backlog round %d line %d", outageNode, round, line)
}

// promSample is one raw sample of a backlog series.
type promSample struct {
	series string
	ms     int64
	value  float64
}

// backlogSamples returns every raw sample of the backlog metric in the 6h
// (and 5 min) before end, read with a range selector so that nothing is
// interpolated.
func backlogSamples(t *testing.T, p *prometheus, end time.Time) []promSample {
	t.Helper()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	p.get(t, fmt.Sprintf("/api/v1/query?query=%s&time=%d", url.QueryEscape("longoutage_backlog[6h5m]"), end.Unix()), &out)
	if out.Status != "success" || (len(out.Data.Result) > 0 && out.Data.ResultType != "matrix") {
		t.Fatalf("range selector: %+v", out)
	}
	var got []promSample
	for _, r := range out.Data.Result {
		for _, v := range r.Values {
			ts, _ := v[0].(float64)
			s, _ := v[1].(string)
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("sample %v: %v", v, err)
			}
			got = append(got, promSample{series: r.Metric["series"], ms: int64(math.Round(ts * 1000)), value: f})
		}
	}
	return got
}

// checkBacklogSamples: every sample sent is in Prometheus, at its
// timestamp, with its value, and nothing else.
func checkBacklogSamples(t *testing.T, got []promSample, base time.Time, want int) {
	t.Helper()
	seen := map[promSample]bool{}
	for _, s := range got {
		seen[s] = true
	}
	missing := 0
	for i := range backlogRounds {
		for s := range backlogSeries {
			ps := promSample{series: strconv.Itoa(s), ms: base.Add(time.Duration(i) * backlogStep).UnixMilli(), value: float64(10*i + s)}
			if !seen[ps] {
				missing++
			}
		}
	}
	if missing != 0 || len(got) != want {
		t.Errorf("Prometheus has %d backlog samples, %d of the %d sent missing", len(got), missing, want)
	}
}

// checkBacklogLines: every line sent is in Loki, at its timestamp, once.
func checkBacklogLines(t *testing.T, got []lokiLine, base time.Time, want int) {
	t.Helper()
	seen := map[string]int64{}
	for _, l := range got {
		seen[l.line] = l.ts
	}
	missing := 0
	for i := range backlogRounds {
		for l := range backlogLines {
			ts, ok := seen[backlogLine(i, l)]
			if !ok || ts != base.Add(time.Duration(i)*backlogStep+time.Duration(l)*time.Millisecond).UnixNano() {
				missing++
			}
		}
	}
	if missing != 0 || len(got) != want {
		t.Errorf("Loki has %d backlog lines, %d of the %d sent missing or at another time", len(got), missing, want)
	}
}

// failedByReason is outpost_exporter_failed_items_total as
// "exporter/reason" → items, for the reasons with any.
func failedByReason(m testutil.Metrics) map[string]float64 {
	out := map[string]float64{}
	f, ok := m["outpost_exporter_failed_items_total"]
	if !ok {
		return out
	}
	for _, s := range f.GetMetric() {
		var exporter, reason string
		for _, l := range s.GetLabel() {
			switch l.GetName() {
			case "exporter":
				exporter = l.GetValue()
			case "reason":
				reason = l.GetValue()
			}
		}
		if v := s.GetCounter().GetValue(); v > 0 {
			out[exporter+"/"+reason] += v
		}
	}
	return out
}

// startPrometheusConfig runs the real Prometheus with config as its
// configuration file, on a free port and a fresh storage directory.
func startPrometheusConfig(t *testing.T, config string) *prometheus {
	t.Helper()
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	dir := t.TempDir()
	p := &prometheus{addr: testutil.FreeAddr(t), dir: filepath.Join(dir, "data")}
	p.proc = testutil.Start(t, bin,
		"--config.file="+testutil.WriteFile(t, dir, "prometheus.yml", config),
		"--web.listen-address="+p.addr,
		"--storage.tsdb.path="+p.dir,
		"--web.enable-remote-write-receiver",
		"--log.level=warn",
	)
	testutil.Eventually(t, 60*time.Second, "prometheus /-/ready", func() bool {
		if p.proc.Exited() {
			t.Fatalf("prometheus exited:\n%s", p.proc.Output())
		}
		code, _, err := testutil.HTTPGet("http://" + p.addr + "/-/ready")
		return err == nil && code == http.StatusOK
	})
	return p
}

// fleetWriter stands for the rest of the fleet: every 250 ms it writes a
// current sample of another site's series to Prometheus (remote write 1.0)
// and a current line of another node of this site to this site's Loki
// stream (push API), as the real clients do, on the wire packages outpost
// uses.
type fleetWriter struct {
	promWrites, lokiWrites atomic.Int64
	cancel                 context.CancelFunc
	done                   chan struct{}
	mu                     sync.Mutex
	err                    error // the first failed write
}

func startFleetWriter(t *testing.T, promAddr, lokiAddr string) *fleetWriter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &fleetWriter{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			now := time.Now()
			if err := w.writeProm(ctx, promAddr, now, n); err == nil {
				w.promWrites.Add(1)
			} else if ctx.Err() == nil {
				w.fail(err)
			}
			if err := w.writeLoki(ctx, lokiAddr, now, n); err == nil {
				w.lokiWrites.Add(1)
			} else if ctx.Err() == nil {
				w.fail(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

func (w *fleetWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// stop ends the writes and fails the test if any was refused: the servers
// must have stayed up and taken the fleet's current data throughout.
func (w *fleetWriter) stop(t *testing.T) {
	t.Helper()
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		t.Fatal("fleet writer did not stop")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Errorf("the fleet's current data was refused: %v", w.err)
	}
}

func (w *fleetWriter) writeProm(ctx context.Context, addr string, now time.Time, n int) error {
	req := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "fleet_up"}, {Name: "instance", Value: "edge-90"}, {Name: "site", Value: "plant-9"}},
		Samples: []prompb.Sample{{Timestamp: now.UnixMilli(), Value: float64(n)}},
	}}}
	raw, err := req.Marshal()
	if err != nil {
		return err
	}
	return postFleet(ctx, "http://"+addr+"/api/v1/write", snappy.Encode(nil, raw), map[string]string{
		"Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0",
	})
}

func (w *fleetWriter) writeLoki(ctx context.Context, addr string, now time.Time, n int) error {
	req := push.PushRequest{Streams: []push.Stream{{
		Labels:  `{service_name="` + outageService + `", site="` + outageSite + `"}`,
		Entries: []push.Entry{{Timestamp: now, Line: fmt.Sprintf("edge-8 current line %d", n)}},
	}}}
	raw, err := req.Marshal()
	if err != nil {
		return err
	}
	return postFleet(ctx, "http://"+addr+"/loki/api/v1/push", snappy.Encode(nil, raw), map[string]string{"X-Scope-OrgID": lokiTenant})
}

func postFleet(ctx context.Context, url string, body []byte, headers map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, msg)
	}
	return nil
}

// relay is the edge's link: a TCP relay on 127.0.0.1 to target that the
// test takes down (listener and every open connection closed, so that
// connecting is refused) and brings back on the same address.
type relay struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
	wg           sync.WaitGroup
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

// up listens on the relay's address again, retrying for a while if the
// port is briefly still taken.
func (r *relay) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.serve(ln)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("relay %s up again: %v", r.addr, err)
}

func (r *relay) serve(ln net.Listener) {
	r.mu.Lock()
	r.ln = ln
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by down
			}
			if !r.track(c) {
				c.Close()
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.pipe(c)
			}()
		}
	}()
}

// track registers c unless the relay went down meanwhile.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) pipe(c net.Conn) {
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.Close()
	}()
	up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
	if err != nil {
		return
	}
	if !r.track(up) {
		up.Close()
		return
	}
	defer func() {
		r.mu.Lock()
		delete(r.conns, up)
		r.mu.Unlock()
		up.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	// One direction ended: end both, so that the other copy returns.
	c.Close()
	up.Close()
	<-done
}

// down closes the listener and every connection, and waits for the
// relay's goroutines.
func (r *relay) down() {
	r.mu.Lock()
	if r.ln != nil {
		_ = r.ln.Close()
		r.ln = nil
	}
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
