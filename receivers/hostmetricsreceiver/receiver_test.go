package hostmetricsreceiver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

var testID = pipeline.ID{Type: Type}

func newTestReceiver(t *testing.T, src string, next *sink, mem *memlimit.Limiter) (*receiver, *selftelemetry.Metrics) {
	t.Helper()
	cfg := decode(t, src)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	r, err := newReceiver(pipeline.Settings{ID: testID, Telemetry: tel, Memory: mem}, cfg, pipeline.Consumers{Metrics: next})
	if err != nil {
		t.Fatal(err)
	}
	return r, tel
}

const allScrapers = `scrapers: {cpu: {}, memory: {metrics: {system.memory.utilization: {enabled: true}}}, paging: {}, load: {}, disk: {}, filesystem: {}, network: {}, processes: {}}`

// TestScrapeEveryScraper runs one cycle of every scraper on this host and
// checks the names, units, types and attributes of what came out.
func TestScrapeEveryScraper(t *testing.T) {
	s := newSink()
	r, tel := newTestReceiver(t, allScrapers, s, nil)
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.lastErrs) > 0 {
		t.Logf("scrape failures (not fatal, the host may lack a source): %v", r.lastErrs)
	}
	md := s.last(t)
	pts := points(md)
	want := []struct {
		name, unit string
		typ        pmetric.MetricType
		monotonic  bool
		attrs      []string
	}{
		{"system.cpu.time", "s", pmetric.MetricTypeSum, true, []string{"cpu", "state"}},
		{"system.memory.usage", "By", pmetric.MetricTypeSum, false, []string{"state"}},
		{"system.memory.utilization", "1", pmetric.MetricTypeGauge, false, []string{"state"}},
		{"system.paging.operations", "{operations}", pmetric.MetricTypeSum, true, []string{"direction", "type"}},
		{"system.paging.faults", "{faults}", pmetric.MetricTypeSum, true, []string{"type"}},
		{"system.cpu.load_average.1m", "{thread}", pmetric.MetricTypeGauge, false, nil},
		{"system.cpu.load_average.5m", "{thread}", pmetric.MetricTypeGauge, false, nil},
		{"system.cpu.load_average.15m", "{thread}", pmetric.MetricTypeGauge, false, nil},
		{"system.disk.io", "By", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.disk.operations", "{operations}", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.disk.io_time", "s", pmetric.MetricTypeSum, true, []string{"device"}},
		{"system.disk.operation_time", "s", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.filesystem.usage", "By", pmetric.MetricTypeSum, false, []string{"device", "mode", "mountpoint", "type", "state"}},
		{"system.filesystem.inodes.usage", "{inodes}", pmetric.MetricTypeSum, false, []string{"device", "mode", "mountpoint", "type", "state"}},
		{"system.network.io", "By", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.network.packets", "{packets}", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.network.errors", "{errors}", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.network.dropped", "{packets}", pmetric.MetricTypeSum, true, []string{"device", "direction"}},
		{"system.processes.count", "{processes}", pmetric.MetricTypeSum, false, []string{"status"}},
		{"system.processes.created", "{processes}", pmetric.MetricTypeSum, true, nil},
	}
	for _, w := range want {
		ps := pts[w.name]
		if len(ps) == 0 {
			t.Errorf("%s: no points", w.name)
			continue
		}
		m := ps[0].metric
		if m.Unit() != w.unit || m.Type() != w.typ {
			t.Errorf("%s: unit %q type %s, want %q %s", w.name, m.Unit(), m.Type(), w.unit, w.typ)
		}
		if w.typ == pmetric.MetricTypeSum {
			if m.Sum().IsMonotonic() != w.monotonic || m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
				t.Errorf("%s: monotonic %v temporality %s", w.name, m.Sum().IsMonotonic(), m.Sum().AggregationTemporality())
			}
			if ps[0].dp.StartTimestamp() == 0 || ps[0].dp.StartTimestamp() >= ps[0].dp.Timestamp() {
				t.Errorf("%s: start %s, time %s", w.name, ps[0].dp.StartTimestamp(), ps[0].dp.Timestamp())
			}
		}
		for _, p := range ps {
			a := attrs(p.dp)
			if len(a) != len(w.attrs) {
				t.Errorf("%s: attributes %v, want keys %v", w.name, a, w.attrs)
				break
			}
			for _, k := range w.attrs {
				if _, ok := a[k]; !ok {
					t.Errorf("%s: attributes %v lack %s", w.name, a, k)
				}
			}
		}
	}
	// Off by default.
	for _, name := range []string{"system.memory.limit", "system.filesystem.utilization", "system.paging.utilization"} {
		if len(pts[name]) != 0 {
			t.Errorf("%s emitted although off by default", name)
		}
	}
	// The memory states partition the total.
	var sum, util float64
	for _, p := range pts["system.memory.usage"] {
		sum += value(p.dp)
	}
	for _, p := range pts["system.memory.utilization"] {
		util += value(p.dp)
	}
	if sum <= 0 || util < 0.999 || util > 1.001 {
		t.Errorf("memory states sum to %.0f bytes, utilization %.4f", sum, util)
	}
	n := md.DataPointCount()
	if got := testutil.ToFloat64(tel.ReceiverAccepted.WithLabelValues("hostmetrics", "metrics", "host")); got != float64(n) {
		t.Errorf("accepted %v, want %d", got, n)
	}
	t.Logf("one cycle of every scraper: %d data points in %d metrics", n, md.MetricCount())
}

// TestRootPath reads a fake /proc under root_path: the values are the
// fake files', not the running system's, and nothing set the process
// environment.
func TestRootPath(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/stat", "cpu  100 0 50 1000 0 0 0 0 0 0\ncpu0 100 0 50 1000 7 0 0 0 0 0\nbtime 1700000000\nprocesses 4242\nprocs_running 3\nprocs_blocked 1\n")
	write("proc/loadavg", "1.50 0.75 0.25 3/300 4242\n")
	write("proc/meminfo", "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    500 kB\nBuffers:          50 kB\nCached:          200 kB\nSReclaimable:     30 kB\nSUnreclaim:       20 kB\n")
	if os.Getenv("HOST_PROC") != "" {
		t.Skip("HOST_PROC is set in the environment")
	}
	s := newSink()
	r, _ := newTestReceiver(t, "root_path: "+root+"\nscrapers: {cpu: {}, load: {}, memory: {}, processes: {}}", s, nil)
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	pts := points(s.last(t))
	got := map[string]float64{}
	for name, ps := range pts {
		for _, p := range ps {
			a := attrs(p.dp)
			got[name+"{"+a["cpu"]+a["state"]+a["status"]+"}"] = value(p.dp)
			if name == "system.cpu.time" && p.dp.StartTimestamp().AsTime().Unix() != 1700000000 {
				t.Errorf("start time %s, want the fake btime", p.dp.StartTimestamp().AsTime())
			}
		}
	}
	// USER_HZ is 100 on Linux: 100 ticks are 1 s.
	for k, want := range map[string]float64{
		"system.cpu.time{cpu0user}":       1,
		"system.cpu.time{cpu0system}":     0.5,
		"system.cpu.time{cpu0idle}":       10,
		"system.cpu.time{cpu0wait}":       0.07,
		"system.cpu.load_average.1m{}":    1.5,
		"system.cpu.load_average.15m{}":   0.25,
		"system.memory.usage{free}":       100 << 10,
		"system.memory.usage{buffered}":   50 << 10,
		"system.memory.usage{cached}":     200 << 10,
		"system.memory.usage{used}":       (1000 - 100 - 50 - 200 - 30 - 20) << 10,
		"system.processes.count{running}": 3,
		"system.processes.count{blocked}": 1,
		"system.processes.created{}":      4242,
	} {
		if v, ok := got[k]; !ok || v < want-1e-9 || v > want+1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

// TestRefusedCycles: a cycle the pipeline or memory_limit refuses is
// dropped and counted by reason.
func TestRefusedCycles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		mem    *memlimit.Limiter
		reason string
	}{
		{"throttled", pipeline.NewThrottle(errors.New("queue full"), time.Second), nil, "throttled"},
		{"permanent", consumererror.NewPermanent(errors.New("bad")), nil, "permanent"},
		{"unavailable", errors.New("down"), nil, "unavailable"},
		{"memory_limit", nil, memlimit.New(2<<10, nil), "memory_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink()
			s.err = tc.err
			r, tel := newTestReceiver(t, "scrapers: {cpu: {}, memory: {}}", s, tc.mem)
			if err := r.loop.Cycle(context.Background()); err == nil {
				t.Fatal("cycle not refused")
			}
			refused := testutil.ToFloat64(tel.ReceiverRefused.WithLabelValues("hostmetrics", "metrics", "host", tc.reason))
			accepted := testutil.ToFloat64(tel.ReceiverAccepted.WithLabelValues("hostmetrics", "metrics", "host"))
			if refused == 0 || accepted != 0 {
				t.Errorf("refused{%s} %v, accepted %v", tc.reason, refused, accepted)
			}
			if tc.mem != nil && len(s.batches) != 0 {
				t.Error("batch over memory_limit reached the pipeline")
			}
		})
	}
}

// TestLifecycle starts the receiver, waits for a scheduled batch and shuts
// it down; goleak (TestMain) checks that no goroutine is left.
func TestLifecycle(t *testing.T) {
	s := newSink()
	r, _ := newTestReceiver(t, "collection_interval: 20ms\ninitial_delay: 0s\nscrapers: {cpu: {}, filesystem: {}}", s, nil)
	if err := r.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), nil); err == nil {
		t.Error("second Start succeeded")
	}
	for range 2 {
		select {
		case <-s.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no batch within 10s")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal("second Shutdown:", err)
	}
	for _, sc := range r.scrapers {
		if fs, ok := sc.(*filesystemScraper); ok {
			fs.wg.Wait()
		}
	}
	if !strings.HasPrefix(s.last(t).ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Name(), scopePrefix) {
		t.Error("scope name")
	}
}

// TestInterfaceAndDeviceFilters: the network scraper keeps only the
// included interfaces; the disk scraper drops the excluded devices.
func TestInterfaceAndDeviceFilters(t *testing.T) {
	s := newSink()
	r, _ := newTestReceiver(t, "scrapers: {network: {include: {interfaces: [lo], match_type: strict}}, disk: {exclude: {devices: ['.*'], match_type: regexp}}}", s, nil)
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	pts := points(s.last(t))
	if len(pts["system.network.io"]) == 0 {
		t.Fatal("no system.network.io for lo")
	}
	for _, p := range pts["system.network.io"] {
		if d := attrs(p.dp)["device"]; d != "lo" {
			t.Errorf("interface %s not excluded", d)
		}
	}
	if n := len(pts["system.disk.io"]); n != 0 {
		t.Errorf("%d disk points although every device is excluded", n)
	}
	m := matcher{include: newNameSet([]string{"^eth"}, MatchRegexp), exclude: newNameSet([]string{"eth1"}, MatchStrict)}
	for name, want := range map[string]bool{"eth0": true, "eth1": false, "wlan0": false, "veth0": false} {
		if m.selects(name) != want {
			t.Errorf("selects(%s) = %v", name, !want)
		}
	}
}

// BenchmarkCycle measures one cycle of every scraper on this host: the
// CPU and allocations the receiver costs per collection_interval.
func BenchmarkCycle(b *testing.B) {
	cfg := createDefaultConfig()
	if err := configsDecode(allScrapers, cfg); err != nil {
		b.Fatal(err)
	}
	s := newSink()
	r, err := newReceiver(pipeline.Settings{ID: testID, Telemetry: selftelemetry.New()}, cfg, pipeline.Consumers{Metrics: s})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := r.loop.Cycle(context.Background()); err != nil {
			b.Fatal(err)
		}
		s.mu.Lock()
		n = s.batches[len(s.batches)-1].DataPointCount()
		s.batches = s.batches[:0]
		s.mu.Unlock()
	}
	b.ReportMetric(float64(n), "points/cycle")
}
