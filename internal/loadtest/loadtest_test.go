package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

const clockTicks = 100 // USER_HZ on Linux

type result struct {
	genCPUShare   float64 // cores telemetrygen used, for context
	itemsPerSec   float64
	cpuPerMillion float64
	peakRSSMiB    float64
	idleRSSMiB    float64
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestLoad(t *testing.T) {
	if os.Getenv("OUTPOST_LOADTEST") != "1" {
		t.Skip("load runs take minutes: run them with `make bench` (OUTPOST_LOADTEST=1)")
	}
	bin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	gen := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	runs := envInt("OUTPOST_LOADTEST_RUNS", 3)
	seconds := envInt("OUTPOST_LOADTEST_SECONDS", 20)
	rate := envInt("OUTPOST_LOADTEST_RATE", 10000)

	if st, err := os.Stat(bin); err == nil {
		fmt.Printf("binary: %s, %.1f MiB\n", bin, float64(st.Size())/(1<<20))
	}
	fmt.Printf("load: %d items/s offered for %d s per run, %d runs per signal, OTLP/gRPC in -> batch -> OTLP/gRPC (zstd) out\n\n", rate, seconds, runs)
	fmt.Printf("%-8s %12s %18s %14s %14s\n", "signal", "items/s", "CPU-s/M items", "peak RSS MiB", "idle RSS MiB")
	signals := []string{"traces", "logs", "metrics"}
	if s := os.Getenv("OUTPOST_LOADTEST_SIGNALS"); s != "" {
		signals = strings.Split(s, ",")
	}
	for _, signal := range signals {
		var rs []result
		for i := 0; i < runs; i++ {
			r := runOnce(t, bin, gen, signal, rate, seconds)
			fmt.Printf("  run %d: %-8s %10.0f %16.2f %14.1f %14.1f   (telemetrygen used %.2f cores)\n", i+1, signal, r.itemsPerSec, r.cpuPerMillion, r.peakRSSMiB, r.idleRSSMiB, r.genCPUShare)
			rs = append(rs, r)
		}
		m := median(rs)
		fmt.Printf("%-8s %12.0f %18.2f %14.1f %14.1f   (median of %d)\n", signal, m.itemsPerSec, m.cpuPerMillion, m.peakRSSMiB, m.idleRSSMiB, runs)
	}
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return result{
		itemsPerSec:   pick(func(r result) float64 { return r.itemsPerSec }),
		cpuPerMillion: pick(func(r result) float64 { return r.cpuPerMillion }),
		peakRSSMiB:    pick(func(r result) float64 { return r.peakRSSMiB }),
		idleRSSMiB:    pick(func(r result) float64 { return r.idleRSSMiB }),
	}
}

func runOnce(t *testing.T, bin, gen, signal string, rate, seconds int) result {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	dir := t.TempDir()
	grpcAddr, telAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	cfg := testutil.WriteFile(t, dir, "outpost.yaml", fmt.Sprintf(`
storage: {directory: %s}
telemetry: {address: %s, logs: {level: warn}}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: %s}
processors:
  batch: {send_batch_size: 8192, timeout: 200ms}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    compression: zstd
service:
  pipelines:
    %s: {receivers: [otlp], processors: [batch], exporters: [otlp]}
`, filepath.Join(dir, "data"), telAddr, grpcAddr, sink.GRPCAddr(), signal))
	p := testutil.Start(t, bin, "run", "-c", cfg, "-watch-interval", "0")
	if prof := os.Getenv("OUTPOST_LOADTEST_CPUPROFILE"); prof != "" {
		// Profile the middle of the run: where the time goes, for pprof.
		go func() {
			time.Sleep(time.Duration(seconds/2) * time.Second)
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", telAddr, seconds/2))
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if b, err := io.ReadAll(resp.Body); err == nil && resp.StatusCode == http.StatusOK {
				_ = os.WriteFile(prof, b, 0o644)
			}
		}()
	}
	pid := p.Cmd.Process.Pid
	testutil.Eventually(t, 20*time.Second, "outpost ready", func() bool {
		code, _, err := testutil.HTTPGet("http://" + telAddr + "/readyz")
		return err == nil && code == http.StatusOK
	})
	time.Sleep(2 * time.Second)
	idle := procStatusKiB(t, pid, "VmRSS")

	count := func() int64 {
		switch signal {
		case "traces":
			return sink.Spans()
		case "logs":
			return sink.LogRecords()
		}
		return sink.DataPoints()
	}
	args := []string{signal, "--otlp-endpoint", grpcAddr, "--otlp-insecure",
		"--duration", fmt.Sprintf("%ds", seconds), "--workers", "10", "--rate", strconv.Itoa(rate / 10)}
	switch signal {
	case "traces":
		args = append(args, "--child-spans", "0", "--batch-size", "1000")
	case "logs", "metrics":
		args = append(args, "--batch-size", "1000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+60)*time.Second)
	defer cancel()
	cpu0, items0, t0 := cpuSeconds(t, pid), count(), time.Now()
	genCmd := exec.CommandContext(ctx, gen, args...)
	out, err := genCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("telemetrygen: %v\n%s", err, out)
	}
	genCPU := (genCmd.ProcessState.UserTime() + genCmd.ProcessState.SystemTime()).Seconds()
	// Items are generated while telemetrygen runs; the rate is over that.
	elapsed := time.Since(t0).Seconds()
	// Let the last batches drain through outpost before reading the meters.
	var last int64 = -1
	testutil.Eventually(t, 30*time.Second, "sink to settle", func() bool {
		n := count()
		settled := n == last
		last = n
		time.Sleep(300 * time.Millisecond)
		return settled
	})
	cpu := cpuSeconds(t, pid) - cpu0
	items := count() - items0
	peak := procStatusKiB(t, pid, "VmHWM")
	p.Signal(t, 15)
	p.Wait(t, 30*time.Second)
	if items == 0 {
		t.Fatalf("%s: nothing reached the sink", signal)
	}
	return result{
		genCPUShare:   genCPU / elapsed,
		itemsPerSec:   float64(items) / elapsed,
		cpuPerMillion: cpu / float64(items) * 1e6,
		peakRSSMiB:    peak / 1024,
		idleRSSMiB:    idle / 1024,
	}
}

// cpuSeconds reads user+system CPU time of pid from /proc.
func cpuSeconds(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

func procStatusKiB(t *testing.T, pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			v, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return v
		}
	}
	t.Fatalf("%s not in /proc/%d/status", field, pid)
	return 0
}
