package hostmetricsreceiver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// nodeExporterBin finds Debian's prometheus-node-exporter (installed by
// `make apt-deps`, see tools/deps/apt-packages.txt).
func nodeExporterBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NODE_EXPORTER_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus-node-exporter not found: `make apt-deps` must install it")
		}
		t.Skip("prometheus-node-exporter not found: run `make apt-deps`")
	}
	return p
}

// TestAgainstNodeExporter reads the same host as node_exporter and
// compares: CPU seconds per CPU and mode, memory by state, and the sizes
// of the file systems both report. node_exporter is scraped just before
// and just after outpost's cycle; a value passes when it lies between the
// two readings, widened by a stated tolerance.
func TestAgainstNodeExporter(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	addr := testutil.FreeAddr(t)
	proc := testutil.Start(t, nodeExporterBin(t),
		"--web.listen-address="+addr,
		"--collector.disable-defaults",
		"--collector.cpu", "--collector.meminfo", "--collector.filesystem",
		"--log.level=warn",
	)
	testutil.Eventually(t, 20*time.Second, "node_exporter /metrics", func() bool {
		code, _, err := testutil.HTTPGet("http://" + addr + "/metrics")
		return err == nil && code == http.StatusOK
	})

	s := newSink()
	r, _ := newTestReceiver(t, "scrapers: {cpu: {}, memory: {}, filesystem: {}}", s, nil)
	before := testutil.Scrape(t, addr)
	if err := r.loop.Cycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := testutil.Scrape(t, addr)
	pts := points(s.last(t))

	within := func(what string, ours float64, name string, labels map[string]string, tol float64) float64 {
		t.Helper()
		b, a := before.Sum(name, labels), after.Sum(name, labels)
		lo, hi := math.Min(a, b), math.Max(a, b)
		off := 0.0
		if ours < lo {
			off = lo - ours
		} else if ours > hi {
			off = ours - hi
		}
		if off > tol {
			t.Errorf("%s: outpost %.6g, node_exporter %s%v between %.6g and %.6g (off by %.6g, tolerance %.6g)", what, ours, name, labels, lo, hi, off, tol)
		}
		return off
	}

	// CPU: the counters have a resolution of one tick (10ms with USER_HZ
	// 100); idle and iowait may step back slightly on tickless kernels.
	const cpuTol = 0.05
	var cpuN, cpuWorst float64
	modes := map[string]string{"user": "user", "system": "system", "idle": "idle", "nice": "nice",
		"wait": "iowait", "interrupt": "irq", "softirq": "softirq", "steal": "steal"}
	for _, p := range pts["system.cpu.time"] {
		a := attrs(p.dp)
		cpu := strings.TrimPrefix(a["cpu"], "cpu")
		off := within("system.cpu.time"+fmt.Sprint(a), value(p.dp), "node_cpu_seconds_total", map[string]string{"cpu": cpu, "mode": modes[a["state"]]}, cpuTol)
		cpuWorst = math.Max(cpuWorst, off)
		cpuN++
	}
	if cpuN == 0 {
		t.Error("no system.cpu.time points")
	}

	// Memory: the states partition MemTotal exactly; each part may move
	// between the readings and by 1% of MemTotal more.
	total := before.Sum("node_memory_MemTotal_bytes", nil)
	var sum float64
	memTol := total / 100
	var memWorst float64
	nodeName := map[string]string{"free": "node_memory_MemFree_bytes", "buffered": "node_memory_Buffers_bytes",
		"cached": "node_memory_Cached_bytes", "slab_reclaimable": "node_memory_SReclaimable_bytes", "slab_unreclaimable": "node_memory_SUnreclaim_bytes"}
	for _, p := range pts["system.memory.usage"] {
		st := attrs(p.dp)["state"]
		sum += value(p.dp)
		if n := nodeName[st]; n != "" {
			memWorst = math.Max(memWorst, within("system.memory.usage{"+st+"}", value(p.dp), n, nil, memTol))
		}
	}
	if total == 0 || sum != total {
		t.Errorf("memory states sum to %.0f, node_memory_MemTotal_bytes %.0f", sum, total)
	}

	// File systems reported by both: the size exactly; available and
	// free bytes between the readings, widened by 1% of the size.
	type fsv struct{ used, free, reserved float64 }
	ours := map[string]*fsv{}
	for _, p := range pts["system.filesystem.usage"] {
		a := attrs(p.dp)
		v := ours[a["mountpoint"]]
		if v == nil {
			v = &fsv{}
			ours[a["mountpoint"]] = v
		}
		switch a["state"] {
		case "used":
			v.used = value(p.dp)
		case "free":
			v.free = value(p.dp)
		case "reserved":
			v.reserved = value(p.dp)
		}
	}
	var common []string
	for mp, v := range ours {
		l := map[string]string{"mountpoint": mp}
		size := before.Sum("node_filesystem_size_bytes", l)
		if size == 0 {
			continue // not reported by node_exporter (its default exclusions differ)
		}
		common = append(common, mp)
		if got := v.used + v.free + v.reserved; got != size {
			t.Errorf("%s: size %.0f, node_exporter %.0f", mp, got, size)
		}
		within(mp+" available", v.free, "node_filesystem_avail_bytes", l, size/100)
		within(mp+" free", v.free+v.reserved, "node_filesystem_free_bytes", l, size/100)
	}
	sort.Strings(common)
	if len(common) == 0 {
		t.Errorf("no file system reported by both: outpost %d mounts", len(ours))
	}
	t.Logf("compared %v CPU series (worst %.3fs outside the node_exporter readings, tolerance %.2fs); memory: sum = MemTotal %.0f B exactly, worst state %.0f B outside (tolerance %.0f B = 1%%); file systems %v: size exact, free/avail within 1%% of size",
		cpuN, cpuWorst, cpuTol, total, memWorst, memTol, common)

	proc.Signal(t, syscall.SIGTERM)
	proc.Wait(t, 10*time.Second)
}
