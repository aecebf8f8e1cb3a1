package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
)

// TestFirstHour walks through what a new user does with each file in
// configs/, with the real binary: validate it, print its effective
// configuration and run that (on free ports, in a fresh directory), send it telemetry with telemetrygen, reload it with
// SIGHUP, kill -9 it, find the acknowledged data in its disk queues with
// `outpost queue ls`, start it again and stop it with SIGTERM. Throughout,
// every listener and pipeline is logged, and no log record repeats a key.
// Every file in configs/ is covered; none is skipped.
func TestFirstHour(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	tgen := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			firstHour(t, bin, tgen, file)
			t.Logf("%s: %.1fs", filepath.Base(file), time.Since(start).Seconds())
		})
	}
}

// localAddr matches the addresses in a shipped config; each distinct one
// is moved to a free port, so that the walk-through runs beside anything
// else and its exporters find nobody at the central side's addresses.
var localAddr = regexp.MustCompile(`\b(?:127\.0\.0\.1|localhost|0\.0\.0\.0):([0-9]{2,5})\b`)

func firstHour(t *testing.T, bin, tgen, file string) {
	dir := t.TempDir()

	// 1. validate, as shipped.
	if out, err := exec.Command(bin, "validate", file).CombinedOutput(); err != nil {
		t.Fatalf("outpost validate %s: %v\n%s", file, err, out)
	}

	// 2. its effective configuration (print-config: every default
	// written out, so a default listening address is there too), on free
	// ports.
	pc := exec.Command(bin, "print-config", file)
	var stderr bytes.Buffer
	pc.Stderr = &stderr
	src, err := pc.Output()
	if err != nil {
		t.Fatalf("outpost print-config %s: %v\n%s", file, err, stderr.String())
	}
	moved := map[string]string{}
	local := localAddr.ReplaceAllStringFunc(string(src), func(a string) string {
		if moved[a] == "" {
			moved[a] = testutil.FreeAddr(t)
		}
		return moved[a]
	})
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(cfgPath, components())
	if err != nil {
		t.Fatalf("the config on free ports: %v", err)
	}

	// 3. run.
	p := startIn(t, dir, bin, "run", "--config", cfgPath, "--watch-interval", "0", "--shutdown-timeout", "5s")
	waitRunning(t, p, cfg)
	checkTopologyLogged(t, p.output(), cfg)

	// 4. telemetry from telemetrygen, to the first OTLP/gRPC listener.
	sent := sendTelemetry(t, tgen, cfg)
	if cfg.Telemetry.Address != "" {
		for sig, want := range sent {
			testutil.Eventually(t, 10*time.Second, fmt.Sprintf("%s accepted", sig), func() bool {
				m := testutil.Scrape(t, cfg.Telemetry.Address)
				return m.Sum("outpost_receiver_accepted_items_total", map[string]string{"signal": string(sig)}) >= float64(want)
			})
		}
	}

	// 5. reload.
	p.signal(t, syscall.SIGHUP)
	testutil.Eventually(t, 15*time.Second, "configuration reloaded", func() bool {
		return strings.Contains(p.output(), "configuration reloaded")
	})
	checkTopologyLogged(t, p.output(), cfg)

	// 6. kill -9; the acknowledged data is in the disk queues.
	p.signal(t, syscall.SIGKILL)
	p.wait(t, 10*time.Second)
	owned := ownedQueues(cfg)
	ls := exec.Command(bin, "queue", "ls", "-c", cfgPath)
	ls.Dir = dir
	lsOut, err := ls.CombinedOutput()
	if err != nil {
		t.Fatalf("outpost queue ls: %v\n%s", err, lsOut)
	}
	if len(owned) > 0 && len(sent) > 0 {
		if items := lsQueuedItems(t, string(lsOut)); items == 0 {
			t.Errorf("after kill -9 the disk queues hold nothing:\n%s", lsOut)
		}
	}
	if strings.Contains(string(lsOut), orphanLabel) {
		t.Errorf("queue ls shows an orphaned queue:\n%s", lsOut)
	}

	// 7. start again, stop with SIGTERM.
	p2 := startIn(t, dir, bin, "run", "--config", cfgPath, "--watch-interval", "0", "--shutdown-timeout", "5s")
	waitRunning(t, p2, cfg)
	p2.signal(t, syscall.SIGTERM)
	if code := p2.wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	out2 := p2.output()
	checkTopologyLogged(t, out2, cfg)
	for _, id := range owned {
		if !logHas(out2, "left queued on disk; sent after the next start", "exporter", id.String()) {
			t.Errorf("shutdown did not log what exporter %s left queued", id)
		}
	}
	for i, out := range []string{p.output(), out2} {
		checkLogKeys(t, fmt.Sprintf("run %d", i+1), out, cfg.Telemetry.Logs.Format)
	}
}

// proc is a child process run in a directory of its own.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func startIn(t *testing.T, dir, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.output())
		}
	})
	return p
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("no exit within %s", timeout)
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

func waitRunning(t *testing.T, p *proc, cfg *configs.Config) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, "outpost running", func() bool {
		if p.cmd.ProcessState != nil {
			t.Fatalf("outpost exited:\n%s", p.output())
		}
		if cfg.Telemetry.Address != "" {
			code, _, err := testutil.HTTPGet("http://" + cfg.Telemetry.Address + "/readyz")
			return err == nil && code == http.StatusOK && strings.Contains(p.output(), "outpost running")
		}
		return strings.Contains(p.output(), "outpost running")
	})
}

// sendTelemetry sends traces, metrics and logs, for each signal a pipeline
// takes from the first OTLP receiver with gRPC, and returns the items sent.
func sendTelemetry(t *testing.T, tgen string, cfg *configs.Config) map[pipeline.Signal]int {
	t.Helper()
	var grpc *configs.Endpoint
	for _, e := range cfg.Endpoints() {
		if e.Receiver.Type == "otlp" && e.Protocol == "grpc" {
			grpc = &e
			break
		}
	}
	if grpc == nil {
		t.Fatalf("%s has no OTLP/gRPC receiver to send to", cfg.Path)
	}
	sent := map[pipeline.Signal]int{}
	for pid, pc := range cfg.Graph.Pipelines {
		for _, r := range pc.Receivers {
			if r == grpc.Receiver {
				sent[pipeline.Signal(pid.Type)] = 0
			}
		}
	}
	for sig := range sent {
		var args []string
		switch sig {
		case pipeline.SignalTraces:
			args, sent[sig] = []string{"traces", "--traces", "20"}, 40 // a parent and a child span each
		case pipeline.SignalMetrics:
			args, sent[sig] = []string{"metrics", "--metrics", "20", "--unique-timeseries"}, 20 // Prometheus refuses two points of one series at one timestamp
		case pipeline.SignalLogs:
			args, sent[sig] = []string{"logs", "--logs", "20"}, 20
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, tgen, append(args, "--otlp-endpoint", grpc.Address, "--otlp-insecure", "--rate", "100", "--workers", "1")...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("telemetrygen %v: %v\n%s", args, err, out)
		}
	}
	return sent
}

// checkTopologyLogged checks that out logs each listener of cfg and each
// pipeline, once per start.
func checkTopologyLogged(t *testing.T, out string, cfg *configs.Config) {
	t.Helper()
	starts := strings.Count(out, "outpost running") + strings.Count(out, "configuration reloaded")
	for _, e := range cfg.Endpoints() {
		if !logHas(out, "listening", "receiver", e.Receiver.String(), "protocol", e.Protocol, "address", e.Address) {
			t.Errorf("listener %s %s %s not logged", e.Receiver, e.Protocol, e.Address)
		}
	}
	for pid := range cfg.Graph.Pipelines {
		if n := logCount(out, "pipeline", "pipeline", pid.String()); n != starts {
			t.Errorf("pipeline %s logged %d times for %d starts and reloads", pid, n, starts)
		}
	}
}

// logRecords parses text (logfmt) or JSON log lines into their ordered
// key/value pairs.
func logRecords(out string) [][][2]string {
	var recs [][][2]string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "{") {
			recs = append(recs, jsonPairs(line))
		} else if strings.HasPrefix(line, "time=") {
			recs = append(recs, logfmtPairs(line))
		}
	}
	return recs
}

func jsonPairs(line string) [][2]string {
	dec := json.NewDecoder(strings.NewReader(line))
	var pairs [][2]string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return pairs
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return pairs
		}
		s := string(v)
		if uq, err := strconv.Unquote(s); err == nil {
			s = uq
		}
		pairs = append(pairs, [2]string{fmt.Sprint(k), s})
	}
	return pairs
}

func logfmtPairs(line string) [][2]string {
	var pairs [][2]string
	for len(line) > 0 {
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			break
		}
		key := line[:eq]
		line = line[eq+1:]
		var val string
		if strings.HasPrefix(line, `"`) {
			end := 1
			for end < len(line) && (line[end] != '"' || line[end-1] == '\\') {
				end++
			}
			val, _ = strconv.Unquote(line[:min(end+1, len(line))])
			line = line[min(end+1, len(line)):]
		} else {
			sp := strings.IndexByte(line, ' ')
			if sp < 0 {
				sp = len(line)
			}
			val, line = line[:sp], line[sp:]
		}
		pairs = append(pairs, [2]string{key, val})
		line = strings.TrimLeft(line, " ")
	}
	return pairs
}

func logCount(out, msg string, kv ...string) int {
	n := 0
	for _, rec := range logRecords(out) {
		m := map[string]string{}
		for _, p := range rec {
			m[p[0]] = p[1]
		}
		if m["msg"] != msg {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && m[kv[i]] == kv[i+1]
		}
		if ok {
			n++
		}
	}
	return n
}

func logHas(out, msg string, kv ...string) bool { return logCount(out, msg, kv...) > 0 }

// checkLogKeys fails on a record that names a key twice, and on a line
// that is not a record of the configured format.
func checkLogKeys(t *testing.T, what, out, format string) {
	t.Helper()
	recs := logRecords(out)
	if len(recs) == 0 {
		t.Errorf("%s: no log records in the %s format:\n%s", what, format, out)
	}
	for _, rec := range recs {
		seen := map[string]bool{}
		for _, p := range rec {
			if seen[p[0]] {
				t.Errorf("%s: a record repeats the key %q: %v", what, p[0], rec)
				break
			}
			seen[p[0]] = true
		}
	}
}

// lsQueuedItems adds the ITEMS column of `outpost queue ls`.
func lsQueuedItems(t *testing.T, ls string) int64 {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(ls), "\n")
	var total int64
	col := -1
	for _, l := range lines {
		f := strings.Fields(l)
		if col < 0 {
			for i, h := range f {
				if h == "ITEMS" {
					col = i
				}
			}
			continue
		}
		if col < len(f) {
			n, err := strconv.ParseInt(f[col], 10, 64)
			if err == nil {
				total += n
			}
		}
	}
	return total
}
