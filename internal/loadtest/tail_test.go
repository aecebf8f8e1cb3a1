package loadtest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// Load tail (issue 12): tail sampling at 10 000 spans/s, both sides with
// the same policies (testdata/*.yaml.tmpl: every trace with an ERROR span,
// every trace lasting 500 ms or more, 10 % of the rest by trace ID hash;
// decision_wait 10 s). telemetrygen writes traces of two spans, each
// generator with one status and one span duration, so the offered load is
// three generators side by side:
var tailGenerators = []struct {
	name             string
	workers, rate    int // spans per second per worker
	status, duration string
}{
	{"ok", 9, 1000, "Ok", "1ms"},      // 9 000 spans/s, 10 % kept
	{"error", 1, 500, "Error", "1ms"}, // 500 spans/s, all kept
	{"slow", 1, 500, "Ok", "600ms"},   // 500 spans/s, all kept (latency)
}

// tailDecisionWait is decision_wait in both sides' configurations.
const tailDecisionWait = 10 * time.Second

// Columns of a load tail run.
const (
	tcSpansPerSec = iota // spans the collector's receiver accepted, per second of load
	tcCPUPerM            // collector CPU seconds per million spans accepted
	tcPeakRSS            // MiB
	tcReceived           // spans accepted by the receiver (load and probe)
	tcSunk               // spans at the sink
	tcKeptPct            // sink / received, %
	nTailCols
)

var tailColumns = [nTailCols]struct{ head, format string }{
	{"spans/s", "%8.0f"}, {"CPU-s/M", "%8.2f"}, {"RSS MiB", "%8.1f"},
	{"received", "%9.0f"}, {"at sink", "%8.0f"}, {"kept %", "%6.2f"},
}

type tailRun = [nTailCols]float64

// runTail runs load tail on one side: a fresh sink, the collector with
// tail_sampling, the probe and the three generators for c.seconds, then
// decision_wait and the sink's settling, so that every trace is decided
// before the counts are taken. CPU is counted from before the load to
// after the last decision, per span the receiver accepted.
func runTail(t *testing.T, c compareConfig, sd side, gen string) tailRun {
	sink, err := startBenchSink("")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.stop()
	c.tail = true
	in := startSide(t, c, sd, "traces", sink.addr(), false)
	defer in.stop(t)
	// The readiness probe's spans wait decision_wait like any others.
	time.Sleep(tailDecisionWait + time.Second)
	settle(sink)
	recv0 := receivedSpans(t, sd, in.telemetry)
	c0, cpu0 := sink.snapshot(), cpuSeconds(t, in.pid)
	in.probe.start(c.probeInterval)
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(tailGenerators))
	for i, g := range tailGenerators {
		args := []string{"traces", "--otlp-endpoint", in.probe.conn.Target(), "--otlp-insecure",
			"--duration", fmt.Sprintf("%ds", c.seconds), "--workers", strconv.Itoa(g.workers),
			"--rate", strconv.Itoa(g.rate), "--status-code", g.status, "--span-duration", g.duration,
			"--service", "tail-" + g.name}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.seconds+120)*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, gen, args...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("telemetrygen %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 4000))
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(t0).Seconds()
	in.probe.stop()
	time.Sleep(tailDecisionWait + time.Second)
	if !settle(sink) {
		t.Logf("tail %s: the sink was still receiving after %s", sd.name, settleMax)
	}
	received := receivedSpans(t, sd, in.telemetry) - recv0
	d := sink.snapshot().sub(c0)
	cpu := cpuSeconds(t, in.pid) - cpu0
	sunk := float64(d.items[sigTraces])
	if received == 0 || sunk == 0 {
		t.Fatalf("tail %s: %v spans received, %v at the sink", sd.name, received, sunk)
	}
	var r tailRun
	r[tcSpansPerSec] = received / elapsed
	r[tcCPUPerM] = cpu / received * 1e6
	r[tcPeakRSS] = procStatusKiB(t, in.pid, "VmHWM") / 1024
	r[tcReceived] = received
	r[tcSunk] = sunk
	r[tcKeptPct] = 100 * sunk / received
	return r
}

// receivedSpans is the spans the side's OTLP receiver accepted, from its
// own metrics.
func receivedSpans(t *testing.T, sd side, telemetry string) float64 {
	m := testutil.Scrape(t, telemetry)
	if sd.name == "outpost" {
		return m.Sum("outpost_receiver_accepted_items_total", map[string]string{"signal": "traces"})
	}
	for _, name := range []string{"otelcol_receiver_accepted_spans_total", "otelcol_receiver_accepted_spans"} {
		if _, ok := m[name]; ok {
			return m.Sum(name, nil)
		}
	}
	t.Fatalf("otelcol's metrics at %s have no accepted spans counter", telemetry)
	return 0
}

// expectedTailShare is the share of the offered spans both sides should
// keep, in %: the error and slow generators whole, 10 % of the rest.
func expectedTailShare() float64 {
	var all, kept float64
	for _, g := range tailGenerators {
		n := float64(g.workers * g.rate)
		all += n
		if g.name == "ok" {
			kept += n / 10
		} else {
			kept += n
		}
	}
	return 100 * kept / all
}

func printTailTable(c compareConfig, tmed map[string][nTailCols]float64) {
	fmt.Printf("\nTail sampling (load tail): 10 000 spans/s offered for %d s (%.0f %% expected kept: errors and ≥ 500 ms traces whole, 10 %% of the rest), decision_wait %s; medians of %d runs; ratio = outpost / otelcol.\n",
		c.seconds, expectedTailShare(), tailDecisionWait, c.runs)
	fmt.Printf("%-8s", "side")
	for _, col := range tailColumns {
		fmt.Printf(" %9s", col.head)
	}
	fmt.Println()
	o, k := tmed["outpost"], tmed["otelcol"]
	for _, line := range tableLines(tmed, o[:], k[:]) {
		fmt.Printf("%-8s", line.name)
		for i := range line.v {
			fmt.Printf(" %9s", fmtVal(line.v[i], line.name == "ratio"))
		}
		fmt.Println()
	}
}

func tailClosingNote(tmed map[string][nTailCols]float64) {
	o, k := tmed["outpost"], tmed["otelcol"]
	fmt.Printf("  tail traces at 10k spans/s (target from issue 12): CPU per span %s (≤ 0.50×: %s vs %s CPU-s/M), peak RSS %s (≤ 0.50×: %s vs %s MiB); kept %s %% vs %s %% (expected %.0f %%)\n",
		fmtVal(o[tcCPUPerM]/k[tcCPUPerM], true), fmtVal(o[tcCPUPerM], false), fmtVal(k[tcCPUPerM], false),
		fmtVal(o[tcPeakRSS]/k[tcPeakRSS], true), fmtVal(o[tcPeakRSS], false), fmtVal(k[tcPeakRSS], false),
		fmtVal(o[tcKeptPct], false), fmtVal(k[tcKeptPct], false), expectedTailShare())
}
