package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// defaultQueueBatch is outpost's exporter-side batching block
// (`queue.batch`, a YAML flow mapping such as
// `{min_size: 8192, max_size: 16384, flush_timeout: 200ms}`) used by the
// side-by-side runs; OUTPOST_BENCH_QUEUE_BATCH overrides it. Empty: no
// `queue.batch` key, so outpost's defaults apply (docs/configuration.md).
const defaultQueueBatch = ""

// compareConfig is what TestCompare runs; every field has an environment
// knob (see compareConfigFromEnv and docs/benchmarks.md).
type compareConfig struct {
	runs, seconds     int      // per load and signal: runs of each side, seconds of load per run
	workers, rate     int      // telemetrygen workers, and items (traces: traces) per second per worker
	loads             []string // of "a", "b", "lat", "c", "tail"
	signals           []string // for loads a and b
	backlogSignals    []string // for load c
	backlogSeconds    int      // the outage the backlog stands for, at load a's offered rate
	backlogRuns       int
	probeInterval     time.Duration
	queueBatch        string // outpost's queue.batch flow mapping, or ""
	uplink            int    // outpost's uplink.bytes_per_second; 0 = no budget
	otelcolPersistent bool   // the Collector's file_storage queue in loads a, b and lat too
	tail              bool   // set by runTail: both sides' pipelines get tail_sampling
}

func envList(name string, def []string) []string {
	if v := os.Getenv(name); v != "" {
		return strings.Split(v, ",")
	}
	return def
}

func compareConfigFromEnv() compareConfig {
	c := compareConfig{
		runs:              envInt("OUTPOST_BENCH_RUNS", 3),
		seconds:           envInt("OUTPOST_BENCH_SECONDS", 20),
		workers:           envInt("OUTPOST_BENCH_WORKERS", 10),
		rate:              envInt("OUTPOST_BENCH_RATE", 1000),
		loads:             envList("OUTPOST_BENCH_LOADS", []string{"a", "b", "lat", "c", "tail"}),
		signals:           envList("OUTPOST_BENCH_SIGNALS", []string{"traces", "logs", "metrics"}),
		backlogSignals:    envList("OUTPOST_BENCH_BACKLOG_SIGNALS", []string{"traces"}),
		backlogSeconds:    envInt("OUTPOST_BENCH_BACKLOG_SECONDS", 600),
		probeInterval:     time.Duration(envInt("OUTPOST_BENCH_PROBE_INTERVAL_MS", 50)) * time.Millisecond,
		queueBatch:        defaultQueueBatch,
		uplink:            envInt("OUTPOST_BENCH_UPLINK_BPS", 0),
		otelcolPersistent: os.Getenv("OUTPOST_BENCH_OTELCOL_PERSISTENT") == "1",
	}
	c.backlogRuns = envInt("OUTPOST_BENCH_BACKLOG_RUNS", c.runs)
	if v, ok := os.LookupEnv("OUTPOST_BENCH_QUEUE_BATCH"); ok {
		c.queueBatch = v
	}
	return c
}

// A side is one of the two collectors compared.
type side struct {
	name string // "outpost" or "otelcol"
	bin  string
}

// instance is a running collector with its receiver address and a probe
// client connected to it.
type instance struct {
	proc      *testutil.Process
	pid       int
	dir       string
	telemetry string // host:port of its own metrics (/metrics)
	probe     *probe
}

func (in *instance) stop(t *testing.T) {
	in.probe.close()
	in.proc.Signal(t, 15)
	in.proc.Wait(t, 60*time.Second)
	_ = os.RemoveAll(in.dir)
}

type configData struct {
	Dir, Telemetry, Receiver, Sink, Signal string
	QueueBytes, QueueBatch                 string
	Uplink                                 int
	Persistent, Tail                       bool
	QueueSize, TelemetryPort               int
}

var configTemplates = template.Must(template.ParseFiles(
	filepath.Join("testdata", "outpost.yaml.tmpl"),
	filepath.Join("testdata", "otelcol.yaml.tmpl"),
))

// startSide starts sd with the pipeline for signal exporting to sinkAddr
// (where nothing need listen yet) and waits until a probe request is
// acknowledged.
func startSide(t *testing.T, c compareConfig, sd side, signal, sinkAddr string, persistent bool) *instance {
	t.Helper()
	dir, err := os.MkdirTemp("", "outpost-bench-"+sd.name+"-")
	if err != nil {
		t.Fatal(err)
	}
	tel := testutil.FreeAddr(t)
	_, port, _ := net.SplitHostPort(tel)
	telPort, _ := strconv.Atoi(port)
	data := configData{
		Dir: filepath.Join(dir, "data"), Telemetry: tel, Receiver: testutil.FreeAddr(t),
		Sink: sinkAddr, Signal: signal,
		QueueBytes: "16GiB", QueueBatch: c.queueBatch, Uplink: c.uplink,
		Persistent: persistent, QueueSize: 1_000_000, TelemetryPort: telPort, Tail: c.tail,
	}
	if err := os.MkdirAll(data.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := configTemplates.ExecuteTemplate(&buf, sd.name+".yaml.tmpl", data); err != nil {
		t.Fatal(err)
	}
	cfg := testutil.WriteFile(t, dir, sd.name+".yaml", buf.String())
	var args []string
	if sd.name == "outpost" {
		args = []string{"run", "-c", cfg, "-watch-interval", "0"}
	} else {
		args = []string{"--config", cfg}
	}
	p := testutil.Start(t, sd.bin, args...)
	pr, err := newProbe(data.Receiver, signal)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{proc: p, pid: p.Cmd.Process.Pid, dir: dir, telemetry: tel, probe: pr}
	if err := pr.waitReady(60 * time.Second); err != nil {
		in.probe.close()
		t.Fatalf("%s (%s) not ready: %v\nconfig:\n%s\noutput:\n%s", sd.name, signal, err, buf.String(), p.Output())
	}
	return in
}

// generate runs telemetrygen with args to its end and returns its CPU
// seconds.
func generate(t *testing.T, gen string, timeout time.Duration, args []string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gen, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("telemetrygen %s: %v\n%s", strings.Join(args, " "), err, tail(string(out), 4000))
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// selfCPU is the CPU seconds of this test process (the sink, the probe and
// the harness).
func selfCPU(t *testing.T) float64 { return cpuSeconds(t, os.Getpid()) }

// Columns of a load run (loads a, b, lat).
const (
	colItemsPerSec = iota
	colCPUPerM
	colPeakRSS
	colWirePerItem
	colRequests
	colItemsPerReq
	colP50
	colP99
	nLoadCols
)

var loadColumns = [nLoadCols]struct{ head, format string }{
	{"items/s", "%9.0f"}, {"CPU-s/M", "%8.2f"}, {"RSS MiB", "%8.1f"}, {"wire B/it", "%9.2f"},
	{"requests", "%9.0f"}, {"items/req", "%9.1f"}, {"p50 ms", "%7.2f"}, {"p99 ms", "%7.2f"},
}

type loadRun struct {
	v        [nLoadCols]float64
	genCores float64
	failed   int // probe calls that failed
}

// loadArgs are telemetrygen's arguments for a load.
func (c compareConfig) loadArgs(load, signal, endpoint string) []string {
	args := []string{signal, "--otlp-endpoint", endpoint, "--otlp-insecure",
		"--duration", fmt.Sprintf("%ds", c.seconds)}
	switch load {
	case "a": // telemetrygen's defaults: 100 items per request (traces: 2 spans a trace), rate items/s per worker
		args = append(args, "--workers", strconv.Itoa(c.workers), "--rate", strconv.Itoa(c.rate))
	case "b": // the same, in 1000-item requests
		args = append(args, "--workers", strconv.Itoa(c.workers), "--rate", strconv.Itoa(c.rate), "--batch-size", "1000")
	case "lat": // 1000 spans/s: 10 workers, 100 spans/s each
		args = append(args, "--workers", "10", "--rate", "100")
	}
	return args
}

// offered is load a's offered rate in items per second (telemetrygen's
// rate limiter counts spans, not traces).
func (c compareConfig) offered() int { return c.workers * c.rate }

// runLoad runs one side under one load and signal: a fresh sink, the
// collector, the probe alongside telemetrygen, then the counters once the
// sink has settled.
func runLoad(t *testing.T, c compareConfig, sd side, gen, load, signal string) loadRun {
	sig, err := signalIndex(signal)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := startBenchSink("")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.stop()
	in := startSide(t, c, sd, signal, sink.addr(), c.otelcolPersistent && sd.name == "otelcol")
	defer in.stop(t)
	settle(sink)
	c0, cpu0 := sink.snapshot(), cpuSeconds(t, in.pid)
	in.probe.start(c.probeInterval)
	t0 := time.Now()
	genCPU := generate(t, gen, time.Duration(c.seconds+120)*time.Second, c.loadArgs(load, signal, in.probe.conn.Target()))
	elapsed := time.Since(t0).Seconds()
	lat, failed := in.probe.stop()
	if !settle(sink) {
		t.Logf("%s %s %s: the sink was still receiving after %s", load, signal, sd.name, settleMax)
	}
	d := sink.snapshot().sub(c0)
	cpu := cpuSeconds(t, in.pid) - cpu0
	items := float64(d.items[sig])
	if items == 0 {
		t.Fatalf("%s %s %s: nothing reached the sink", load, signal, sd.name)
	}
	var r loadRun
	r.v[colItemsPerSec] = items / elapsed
	r.v[colCPUPerM] = cpu / items * 1e6
	r.v[colPeakRSS] = procStatusKiB(t, in.pid, "VmHWM") / 1024
	r.v[colWirePerItem] = float64(d.wireBytes) / items
	r.v[colRequests] = float64(d.requests)
	r.v[colItemsPerReq] = items / float64(d.requests)
	r.v[colP50] = percentile(lat, 0.50)
	r.v[colP99] = percentile(lat, 0.99)
	r.genCores = genCPU / elapsed
	r.failed = failed
	return r
}

const settleMax = 60 * time.Second

// settle waits until the sink's item count has not changed for a second
// (at most settleMax); it reports whether it did settle.
func settle(s *benchSink) bool {
	deadline := time.Now().Add(settleMax)
	last, since := s.snapshot().total(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if n := s.snapshot().total(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= time.Second {
			return true
		}
	}
	return false
}

// Columns of an outage-backlog run (load c).
const (
	bcItems       = iota // items delivered
	bcLost               // items acknowledged but not delivered (negative: duplicates)
	bcFill               // seconds telemetrygen took to produce the backlog
	bcFirst              // seconds from the sink coming up to its first item
	bcDrain              // seconds from the sink coming up to its last item
	bcDrainRate          // items per second between the first and the last item
	bcCPU                // collector CPU seconds from the sink coming up to the last item
	bcCPUPerM            // the same per million items
	bcCores              // collector CPU share while items flowed (cores)
	bcSinkCores          // the sink's (this process's) CPU share meanwhile
	bcPeakRSSFill        // collector peak RSS while the backlog was built
	bcPeakRSS            // collector peak RSS during the drain
	bcWirePerItem
	bcRequests
	bcItemsPerReq
	bcWireRate // wire bytes per second while items flowed
	nBacklogCols
)

var backlogColumns = [nBacklogCols]struct{ head, format string }{
	{"items", "%9.0f"}, {"lost", "%6.0f"}, {"fill s", "%7.1f"}, {"first s", "%7.1f"}, {"drain s", "%7.1f"},
	{"drain it/s", "%10.0f"}, {"CPU-s", "%7.1f"}, {"CPU-s/M", "%8.2f"}, {"cores", "%6.2f"}, {"sink cores", "%10.2f"},
	{"RSS fill", "%8.1f"}, {"RSS drain", "%9.1f"}, {"wire B/it", "%9.2f"}, {"requests", "%8.0f"},
	{"items/req", "%9.1f"}, {"wire KiB/s", "%10.0f"},
}

// runBacklog runs load c on one side: the collector starts with its sink
// down, produceBacklog sends backlogSeconds of load a's offered rate as
// fast as the collector acknowledges, then the sink comes up on the address the collector
// exports to, and the drain is timed until every acknowledged item has
// arrived (or nothing arrived for two minutes).
func runBacklog(t *testing.T, c compareConfig, sd side, gen, signal string) [nBacklogCols]float64 {
	sig, err := signalIndex(signal)
	if err != nil {
		t.Fatal(err)
	}
	sinkAddr := testutil.FreeAddr(t)
	in := startSide(t, c, sd, signal, sinkAddr, true)
	defer in.stop(t)
	total := int64(c.offered() * c.backlogSeconds)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.backlogSeconds)*10*time.Second+10*time.Minute)
	defer cancel()
	t0 := time.Now()
	acked, refused, err := produceBacklog(ctx, in.probe.conn.Target(), signal, c.workers, total)
	if err != nil {
		t.Fatalf("c %s %s: %v", signal, sd.name, err)
	}
	fill := time.Since(t0).Seconds()
	if refused > 0 {
		t.Logf("c %s %s: %d requests refused while the backlog was built (sent again)", signal, sd.name, refused)
	}
	// The Collector's batch processor holds up to 200 ms before its queue.
	time.Sleep(2 * time.Second)
	expected := acked + int64(in.probe.acknowledged())
	peakFill := procStatusKiB(t, in.pid, "VmHWM")
	resetPeakRSS(t, in.pid)

	cpuUp, selfUp, tUp := cpuSeconds(t, in.pid), selfCPU(t), time.Now()
	sink, err := startBenchSink(sinkAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.stop()
	var tFirst time.Time
	tLast := tUp
	var last int64
	var cpuEnd, selfEnd float64
	for {
		time.Sleep(50 * time.Millisecond)
		n, now := sink.snapshot().items[sig], time.Now()
		if n > last {
			if last == 0 {
				tFirst = now
			}
			last, tLast = n, now
			cpuEnd, selfEnd = cpuSeconds(t, in.pid), selfCPU(t)
		}
		if n >= expected || now.Sub(tLast) > 2*time.Minute {
			break
		}
	}
	d := sink.snapshot()
	var r [nBacklogCols]float64
	items := float64(d.items[sig])
	if items == 0 {
		t.Fatalf("c %s %s: nothing reached the sink in two minutes", signal, sd.name)
	}
	flow := tLast.Sub(tFirst).Seconds()
	r[bcItems] = items
	r[bcLost] = float64(expected) - items
	r[bcFill] = fill
	r[bcFirst] = tFirst.Sub(tUp).Seconds()
	r[bcDrain] = tLast.Sub(tUp).Seconds()
	r[bcDrainRate] = items / flow
	r[bcCPU] = cpuEnd - cpuUp
	r[bcCPUPerM] = r[bcCPU] / items * 1e6
	r[bcCores] = r[bcCPU] / flow
	r[bcSinkCores] = (selfEnd - selfUp) / flow
	r[bcPeakRSSFill] = peakFill / 1024
	r[bcPeakRSS] = procStatusKiB(t, in.pid, "VmHWM") / 1024
	r[bcWirePerItem] = float64(d.wireBytes) / items
	r[bcRequests] = float64(d.requests)
	r[bcItemsPerReq] = items / float64(d.requests)
	r[bcWireRate] = float64(d.wireBytes) / flow / 1024
	return r
}

// resetPeakRSS resets VmHWM of pid to its current RSS (Linux clear_refs),
// so that the next reading is the peak of what follows.
func resetPeakRSS(t *testing.T, pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Logf("reset peak RSS of %d: %v (RSS drain is then the peak of the whole run)", pid, err)
	}
}

// drainLimit names what limited a drain, from the CPU shares while items
// flowed: the uplink budget when one is set and the wire rate reached 90%
// of it; else the process (collector or sink) that used at least 0.85 of
// a core; else, when the two together used that much, they worked in
// series (few requests in flight, each waiting for the sink's answer): the
// round trips, named with the larger share; else neither was busy, and the
// drain waited (retry backoff, or the machine's other work).
func drainLimit(c compareConfig, r []float64) string {
	larger := "collector"
	if r[bcSinkCores] > r[bcCores] {
		larger = "sink"
	}
	switch {
	case c.uplink > 0 && r[bcWireRate]*1024 >= 0.9*float64(c.uplink):
		return "uplink budget"
	case r[bcCores] >= 0.85 && r[bcCores] >= r[bcSinkCores]:
		return "collector CPU"
	case r[bcSinkCores] >= 0.85:
		return "sink CPU"
	case r[bcCores]+r[bcSinkCores] >= 0.85:
		return "round trips (collector and sink in series, mostly " + larger + ")"
	}
	return "neither busy (waits: retry backoff, other work)"
}

func medianOf(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)/2]
}

// TestCompare is the side-by-side benchmark of issue 9: outpost and the
// OpenTelemetry Collector (bin/otelcol-peer) on the same machine, the same
// in-process sink and the same telemetrygen load, run in alternation
// (outpost, Collector, outpost, Collector, …). It prints every run, then a
// table of medians with the ratios outpost / Collector. It measures and
// asserts nothing about speed; it fails only when a run cannot be made.
func TestCompare(t *testing.T) {
	if os.Getenv("OUTPOST_LOADTEST") != "1" {
		t.Skip("side-by-side runs take long: run them with `make bench-compare` (OUTPOST_LOADTEST=1)")
	}
	c := compareConfigFromEnv()
	var sides []side
	for _, name := range envList("OUTPOST_BENCH_SIDES", []string{"outpost", "otelcol"}) {
		switch name {
		case "outpost":
			sides = append(sides, side{name, testutil.Binary(t, "OUTPOST_BIN", "outpost")})
		case "otelcol":
			sides = append(sides, side{name, testutil.Binary(t, "OTELCOL_BIN", "otelcol-peer")})
		default:
			t.Fatalf("OUTPOST_BENCH_SIDES: unknown side %q (want outpost, otelcol)", name)
		}
	}
	gen := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	for _, sd := range sides {
		if st, err := os.Stat(sd.bin); err == nil {
			fmt.Printf("%s: %s, %.1f MiB\n", sd.name, sd.bin, float64(st.Size())/(1<<20))
		}
	}
	batch := c.queueBatch
	if batch == "" {
		batch = "defaults (min_size 8192, max_size 16384, max_bytes 3MiB, flush_timeout 1s)"
	}
	fmt.Printf("outpost: OTLP/gRPC -> otlp (zstd, disk queue, fsync: interval, queue.batch: %s)", batch)
	if c.uplink > 0 {
		fmt.Printf(", uplink %d B/s", c.uplink)
	}
	fmt.Printf("\notelcol: OTLP/gRPC -> batch (defaults) -> otlp_grpc (defaults: gzip, %s sending_queue; file_storage for load c)\n",
		map[bool]string{true: "file_storage", false: "in-memory"}[c.otelcolPersistent])
	fmt.Printf("runs: %d of %d s per side, load and signal, alternating; probe: one-item requests every %s\n\n", c.runs, c.seconds, c.probeInterval)

	type row = struct{ load, signal string }
	var rows []row
	med := map[row]map[string][nLoadCols]float64{}
	var brows []string
	bmed := map[string]map[string][nBacklogCols]float64{}
	var tmed map[string][nTailCols]float64 // load tail, by side

	for _, load := range c.loads {
		switch load {
		case "a", "b", "lat":
			signals := c.signals
			if load == "lat" {
				signals = []string{"traces"}
			}
			for _, signal := range signals {
				rw := row{load, signal}
				runs := map[string][]loadRun{}
				for i := 0; i < c.runs; i++ {
					for _, sd := range sides {
						r := runLoad(t, c, sd, gen, load, signal)
						runs[sd.name] = append(runs[sd.name], r)
						fmt.Printf("  %-3s %-7s %-7s run %d:", load, signal, sd.name, i+1)
						for k, col := range loadColumns {
							fmt.Printf(" %s "+col.format, col.head, r.v[k])
						}
						fmt.Printf("  (telemetrygen %.2f cores, %d probe calls failed)\n", r.genCores, r.failed)
					}
				}
				med[rw] = map[string][nLoadCols]float64{}
				for _, sd := range sides {
					var m [nLoadCols]float64
					for k := range m {
						var vs []float64
						for _, r := range runs[sd.name] {
							vs = append(vs, r.v[k])
						}
						m[k] = medianOf(vs)
					}
					med[rw][sd.name] = m
				}
				rows = append(rows, rw)
			}
		case "c":
			for _, signal := range c.backlogSignals {
				runs := map[string][][nBacklogCols]float64{}
				for i := 0; i < c.backlogRuns; i++ {
					for _, sd := range sides {
						r := runBacklog(t, c, sd, gen, signal)
						runs[sd.name] = append(runs[sd.name], r)
						fmt.Printf("  c   %-7s %-7s run %d:", signal, sd.name, i+1)
						for k, col := range backlogColumns {
							fmt.Printf(" %s "+col.format, col.head, r[k])
						}
						fmt.Printf("  limit: %s\n", drainLimit(c, r[:]))
					}
				}
				bmed[signal] = map[string][nBacklogCols]float64{}
				for _, sd := range sides {
					var m [nBacklogCols]float64
					for k := range m {
						var vs []float64
						for _, r := range runs[sd.name] {
							vs = append(vs, r[k])
						}
						m[k] = medianOf(vs)
					}
					bmed[signal][sd.name] = m
				}
				brows = append(brows, signal)
			}
		case "tail":
			runs := map[string][]tailRun{}
			for i := 0; i < c.runs; i++ {
				for _, sd := range sides {
					r := runTail(t, c, sd, gen)
					runs[sd.name] = append(runs[sd.name], r)
					fmt.Printf("  tail traces  %-7s run %d:", sd.name, i+1)
					for k, col := range tailColumns {
						fmt.Printf(" %s "+col.format, col.head, r[k])
					}
					fmt.Println()
				}
			}
			tmed = map[string][nTailCols]float64{}
			for _, sd := range sides {
				var m [nTailCols]float64
				for k := range m {
					var vs []float64
					for _, r := range runs[sd.name] {
						vs = append(vs, r[k])
					}
					m[k] = medianOf(vs)
				}
				tmed[sd.name] = m
			}
		default:
			t.Fatalf("OUTPOST_BENCH_LOADS: unknown load %q (want a, b, lat, c, tail)", load)
		}
	}

	if len(rows) > 0 {
		fmt.Printf("\nMedians of %d runs; ratio = outpost / otelcol. Loads: a = telemetrygen defaults (%d workers × %d/s, 100 items a request), b = the same in 1000-item requests, lat = 1000 spans/s.\n",
			c.runs, c.workers, c.rate)
		fmt.Printf("%-4s %-8s %-8s", "load", "signal", "side")
		for _, col := range loadColumns {
			fmt.Printf(" %9s", col.head)
		}
		fmt.Println()
		for _, rw := range rows {
			o, k := med[rw]["outpost"], med[rw]["otelcol"]
			for _, line := range tableLines(med[rw], o[:], k[:]) {
				fmt.Printf("%-4s %-8s %-8s", rw.load, rw.signal, line.name)
				for i := range line.v {
					fmt.Printf(" %9s", fmtVal(line.v[i], line.name == "ratio"))
				}
				fmt.Println()
			}
		}
	}
	if len(brows) > 0 {
		fmt.Printf("\nOutage backlog (load c): %d s of load a's offered rate produced with the sink down, then drained; medians of %d runs; ratio = outpost / otelcol.\n",
			c.backlogSeconds, c.backlogRuns)
		fmt.Printf("%-8s %-8s", "signal", "side")
		for _, col := range backlogColumns {
			fmt.Printf(" %10s", col.head)
		}
		fmt.Printf("  limit\n")
		for _, s := range brows {
			o, k := bmed[s]["outpost"], bmed[s]["otelcol"]
			for _, line := range tableLines(bmed[s], o[:], k[:]) {
				fmt.Printf("%-8s %-8s", s, line.name)
				for i := range line.v {
					fmt.Printf(" %10s", fmtVal(line.v[i], line.name == "ratio"))
				}
				if line.name != "ratio" {
					fmt.Printf("  %s", drainLimit(c, line.v))
				}
				fmt.Println()
			}
		}
	}
	if tmed != nil {
		printTailTable(c, tmed)
	}
	closingNote(c, rows, med, brows, bmed, tmed)
}

type tableLine struct {
	name string
	v    []float64
}

// tableLines are the median lines of the sides that ran (OUTPOST_BENCH_SIDES
// may leave one out), and their ratio when both did.
func tableLines[V any](ran map[string]V, outpost, otelcol []float64) []tableLine {
	var lines []tableLine
	_, o := ran["outpost"]
	_, k := ran["otelcol"]
	if o {
		lines = append(lines, tableLine{"outpost", outpost})
	}
	if k {
		lines = append(lines, tableLine{"otelcol", otelcol})
	}
	if o && k {
		lines = append(lines, tableLine{"ratio", ratios(outpost, otelcol)})
	}
	return lines
}

func ratios(a, b []float64) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return r
}

func fmtVal(v float64, ratio bool) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "-"
	case ratio:
		return strconv.FormatFloat(v, 'f', 2, 64) + "×"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// closingNote quotes the medians the targets are about, and the
// command that reproduces the run.
func closingNote(c compareConfig, rows []struct{ load, signal string }, med map[struct{ load, signal string }]map[string][nLoadCols]float64,
	brows []string, bmed map[string]map[string][nBacklogCols]float64, tmed map[string][nTailCols]float64) {
	fmt.Printf("\nClosing note (medians; ratio outpost / otelcol; targets from issue 9):\n")
	for _, rw := range rows {
		o, k := med[rw]["outpost"], med[rw]["otelcol"]
		switch rw.load {
		case "a", "b":
			fmt.Printf("  %s %-7s CPU per item %s (≤ 0.50×), peak RSS %s (≤ 0.50×)", rw.load, rw.signal,
				fmtVal(o[colCPUPerM]/k[colCPUPerM], true), fmtVal(o[colPeakRSS]/k[colPeakRSS], true))
			if rw.load == "a" {
				fmt.Printf(", wire bytes per item %s (≤ 0.70×)", fmtVal(o[colWirePerItem]/k[colWirePerItem], true))
			}
			fmt.Printf("; %s vs %s items per request\n", fmtVal(o[colItemsPerReq], false), fmtVal(k[colItemsPerReq], false))
		case "lat":
			fmt.Printf("  lat traces at 1000 spans/s: p99 acknowledgement latency outpost %s ms (≤ 20 ms, fsync: interval), otelcol %s ms; p50 %s vs %s ms\n",
				fmtVal(o[colP99], false), fmtVal(k[colP99], false), fmtVal(o[colP50], false), fmtVal(k[colP50], false))
		}
	}
	for _, s := range brows {
		o, k := bmed[s]["outpost"], bmed[s]["otelcol"]
		fmt.Printf("  c %-7s drain %s s vs %s s (first item after %s vs %s s), outpost limited by: %s (%.2f cores outpost, %.2f sink); peak RSS in drain %s, wire bytes per item %s, lost %s vs %s\n",
			s, fmtVal(o[bcDrain], false), fmtVal(k[bcDrain], false), fmtVal(o[bcFirst], false), fmtVal(k[bcFirst], false),
			drainLimit(c, o[:]), o[bcCores], o[bcSinkCores],
			fmtVal(o[bcPeakRSS]/k[bcPeakRSS], true), fmtVal(o[bcWirePerItem]/k[bcWirePerItem], true),
			fmtVal(o[bcLost], false), fmtVal(k[bcLost], false))
	}
	if tmed != nil {
		tailClosingNote(tmed)
	}
	var knobs []string
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OUTPOST_BENCH_") {
			knobs = append(knobs, k+"='"+strings.ReplaceAll(v, "'", `'\''`)+"'")
		}
	}
	sort.Strings(knobs)
	fmt.Printf("  command: %s make bench-compare\n", strings.Join(append(knobs, ""), " "))
}
