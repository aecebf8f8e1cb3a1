package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// chromium finds Debian's chromium (tools/deps/apt-packages.txt), or the
// browser CHROMIUM_BIN names; missing, the test skips, or fails under
// CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM_BIN")
	if p == "" {
		p, _ = exec.LookPath("chromium")
	}
	if p == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium not found (CHROMIUM_BIN, PATH): `make apt-deps` installs it")
		}
		t.Skip("chromium not found (CHROMIUM_BIN, PATH): `make apt-deps` installs it")
	}
	return p
}

// statusView is what the test reads from the rendered page.
type statusView struct {
	Polls      int                `json:"polls"`
	Nodes      []string           `json:"nodes"`
	Blocked    []string           `json:"blocked"`
	Edges      map[string]float64 `json:"edges"` // "pipeline:from>to" → items/s; -1 when the page shows none
	Queues     int                `json:"queues"`
	Errors     string             `json:"errors"`
	Uplink     string             `json:"uplink"`
	Overflow   bool               `json:"overflow"`
	PageHeight int                `json:"height"`
}

const readStatusView = `(() => {
  const edges = {};
  for (const e of document.querySelectorAll(".edge")) edges[e.dataset.pipeline + ":" + e.dataset.from + ">" + e.dataset.to] = e.dataset.rate === "" ? -1 : Number(e.dataset.rate);
  return {
    polls: Number(document.body.dataset.polls || 0),
    nodes: [...new Set([...document.querySelectorAll(".node")].map(n => n.dataset.key))].sort(),
    blocked: [...new Set([...document.querySelectorAll(".node.blocked")].map(n => n.dataset.key))].sort(),
    edges: edges,
    queues: document.querySelectorAll("#queues tr").length - 1,
    errors: document.getElementById("errors").innerText,
    uplink: (document.getElementById("uplink-rate") || {}).innerText || "",
    overflow: document.documentElement.scrollWidth > window.innerWidth,
    height: document.documentElement.scrollHeight,
  };
})()`

// TestStatusPageInChromium (issue 14): the status page, served by the real
// binary and loaded in headless Chromium, draws every configured component
// (receiver, processor, exporters, connector), its edge rates move from 0
// to above 0 under telemetrygen load, an exporter whose endpoint answers
// 401 is shown blocked with its error among the last errors, and the page
// fits a phone's width. It saves a screenshot to OUTPOST_STATUS_SCREENSHOT
// (docs/images/status-page.png is made so) or to t.TempDir.
func TestStatusPageInChromium(t *testing.T) {
	browser := chromium(t)
	central := otlpsink.StartWith(t, otlpsink.Options{})
	locked := otlpsink.StartWith(t, otlpsink.Options{})
	locked.RequireAuthorization("Bearer a-token-outpost-does-not-have")
	o := newOutpost(t)
	o.start(t, o.otlpIn()+testutil.Sprintf(`
node: {name: e2e-node, site: lab}
uplink: {bytes_per_second: 4MiB/s}
connectors:
  spanmetrics: {metrics_flush_interval: 1s}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  otlp/central:
    endpoint: %s
    tls: {insecure: true}
  otlp/locked:
    endpoint: %s
    tls: {insecure: true}
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [otlp/central, otlp/locked, spanmetrics]}
    metrics: {receivers: [spanmetrics], processors: [batch], exporters: [otlp/central]}
`, central.GRPCAddr(), locked.GRPCAddr()))

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // containers and CI runners lack the namespaces its sandbox needs
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	read := func() statusView {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[statusView](readStatusView))
		if err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return v
	}
	waitFor := func(what string, ok func(statusView) bool) statusView {
		t.Helper()
		var v statusView
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			if v = read(); ok(v) {
				return v
			}
		}
		t.Fatalf("page never showed %s; last view %+v", what, v)
		return v
	}

	start := time.Now()
	if _, err := chromedp.Run(ctx, chromedp.Navigate("http://"+o.telemetry+"/")); err != nil {
		t.Fatalf("load the status page: %v", err)
	}
	in := "traces:receiver:otlp>processor:batch"
	// Before any load: two polls, so the rates are computed and 0.
	idle := waitFor("idle rates", func(v statusView) bool { return v.Polls >= 2 && v.Edges[in] == 0 })

	var load sync.WaitGroup
	load.Go(func() {
		telemetrygenRate(t, "500", "traces", "--otlp-endpoint", o.grpc, "--duration", "10s")
	})
	idleAt := time.Since(start)
	busy := waitFor("rates above 0", func(v statusView) bool {
		return v.Edges[in] > 0 && v.Edges["traces:processor:batch>exporter:otlp/central"] > 0
	})
	busyAt := time.Since(start)
	blocked := waitFor("otlp/locked blocked, with its error", func(v statusView) bool {
		return strings.Join(v.Blocked, " ") == "exporter:otlp/locked" && strings.Contains(v.Errors, "exporter otlp/locked")
	})
	load.Wait()

	want := "connector:spanmetrics exporter:otlp/central exporter:otlp/locked processor:batch receiver:otlp"
	if got := strings.Join(busy.Nodes, " "); got != want {
		t.Errorf("page shows components %s, want %s", got, want)
	}
	for _, e := range []string{in, "traces:processor:batch>exporter:otlp/locked", "traces:processor:batch>connector:spanmetrics", "metrics:connector:spanmetrics>processor:batch", "metrics:processor:batch>exporter:otlp/central"} {
		if _, ok := busy.Edges[e]; !ok {
			t.Errorf("page shows no edge %s; edges %v", e, busy.Edges)
		}
	}
	if busy.Queues < 2 {
		t.Errorf("page shows %d queue lanes, want one per exporter at least", busy.Queues)
	}
	if !strings.Contains(busy.Uplink, "of 4.0MiB/s") {
		t.Errorf("uplink %q does not show the budget", busy.Uplink)
	}
	if busy.Overflow {
		t.Errorf("page wider than the 1280 px window")
	}

	shot := os.Getenv("OUTPOST_STATUS_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "status-page.png")
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 gives a PNG, below a JPEG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}

	// A phone's width: the page reflows, nothing is wider than the screen.
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	phone := waitFor("a reflow at 390 px", func(v statusView) bool { return v.Polls > blocked.Polls })
	if phone.Overflow {
		t.Errorf("page wider than a 390 px phone screen")
	}
	t.Logf("status page in chromium: %d components, %d edges, %d queue lanes; %s idle %.0f/s, under load %.1f/s; blocked %v; uplink %s; phone layout %d px tall, no overflow %v; screenshot %s (%d bytes); idle seen at %s, load at %s, done at %s",
		len(busy.Nodes), len(busy.Edges), busy.Queues, in, idle.Edges[in], busy.Edges[in], blocked.Blocked, busy.Uplink,
		phone.PageHeight, !phone.Overflow, shot, len(png), idleAt.Round(time.Millisecond), busyAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
