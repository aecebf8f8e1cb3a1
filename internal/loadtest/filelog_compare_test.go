package loadtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// filelogCase is one parser configuration of TestCompareFilelog: the same
// lines and the same parsing on both sides.
type filelogCase struct {
	name    string
	line    func(i int) string
	outpost string // the filelog receiver's parser section (YAML), or ""
	otelcol string // the Collector's operators list (YAML flow), or ""
}

var filelogCases = []filelogCase{
	{
		name: "raw",
		line: func(i int) string {
			return fmt.Sprintf("2026-11-30T12:00:00.%06dZ INFO request served path=/api/v1/items/%d status=200 bytes=%d", i%1000000, i, 1000+i%5000)
		},
	},
	{
		name: "json",
		line: func(i int) string {
			return fmt.Sprintf(`{"time":"2026-11-30T12:00:00.%06dZ","level":"info","msg":"request served","path":"/api/v1/items/%d","status":200,"bytes":%d}`, i%1000000, i, 1000+i%5000)
		},
		outpost: `{type: json, timestamp: {parse_from: time, layout_type: gotime, layout: "2006-01-02T15:04:05.999999999Z07:00"}, severity: {parse_from: level}}`,
		otelcol: `[{type: json_parser, timestamp: {parse_from: attributes.time, layout_type: gotime, layout: "2006-01-02T15:04:05.999999999Z07:00"}, severity: {parse_from: attributes.level}}]`,
	},
	{
		name: "regex",
		line: func(i int) string {
			return fmt.Sprintf("2026-11-30T12:00:00.%06dZ INFO request served path=/api/v1/items/%d status=200 bytes=%d", i%1000000, i, 1000+i%5000)
		},
		outpost: `{type: regex, regex: '^(?P<time>\S+) (?P<level>\w+) (?P<msg>[^=]*?) path=(?P<path>\S+) status=(?P<status>\d+) bytes=(?P<bytes>\d+)$', timestamp: {parse_from: time, layout: "%Y-%m-%dT%H:%M:%S.%fZ"}, severity: {parse_from: level}}`,
		otelcol: `[{type: regex_parser, regex: '^(?P<time>\S+) (?P<level>\w+) (?P<msg>[^=]*?) path=(?P<path>\S+) status=(?P<status>\d+) bytes=(?P<bytes>\d+)$', timestamp: {parse_from: attributes.time, layout: "%Y-%m-%dT%H:%M:%S.%fZ"}, severity: {parse_from: attributes.level}}]`,
	},
}

// TestCompareFilelog reads one file of OUTPOST_BENCH_FILELOG_LINES lines
// (default 1,000,000) from its beginning with outpost's filelog receiver
// and with the OpenTelemetry Collector's (bin/otelcol-peer), each into an
// OTLP exporter to the same counting sink, and prints lines/s (wall time
// from the process start to the last line at the sink) and CPU-seconds
// per million lines (the process's user+system time). outpost saves its
// checkpoint (fsync) after every batch of 1000 lines and queues on disk;
// the Collector, without a storage extension, keeps no checkpoint and
// queues in memory.
func TestCompareFilelog(t *testing.T) {
	if os.Getenv("OUTPOST_LOADTEST") != "1" {
		t.Skip("side-by-side runs take long: run them with `make bench-compare` (OUTPOST_LOADTEST=1)")
	}
	lines := envInt("OUTPOST_BENCH_FILELOG_LINES", 1_000_000)
	sides := []side{
		{"outpost", testutil.Binary(t, "OUTPOST_BIN", "outpost")},
		{"otelcol", testutil.Binary(t, "OTELCOL_BIN", "otelcol-peer")},
	}
	var table []string
	for _, c := range filelogCases {
		path := filepath.Join(t.TempDir(), "bench.log")
		writeLines(t, path, lines, c.line)
		var rate, cpu [2]float64
		for i, sd := range sides {
			rate[i], cpu[i] = runFilelog(t, sd, c, path, lines)
			t.Logf("%-7s %-5s %9.0f lines/s %6.2f CPU-s per million lines", sd.name, c.name, rate[i], cpu[i])
		}
		table = append(table, fmt.Sprintf("| %s | %.0f | %.0f | %.2f× | %.2f | %.2f | %.2f× |",
			c.name, rate[0], rate[1], rate[0]/rate[1], cpu[0], cpu[1], cpu[0]/cpu[1]))
	}
	t.Logf("filelog, %d lines from the file's beginning:\n| parser | outpost lines/s | Collector lines/s | rate ratio | outpost CPU-s/M | Collector CPU-s/M | CPU ratio |\n|---|---|---|---|---|---|---|\n%s",
		lines, strings.Join(table, "\n"))
}

func writeLines(t *testing.T, path string, n int, line func(int) string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	for i := range n {
		buf = append(buf, line(i)...)
		buf = append(buf, '\n')
		if len(buf) > 1<<20-512 || i == n-1 {
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
			buf = buf[:0]
		}
	}
}

// runFilelog runs one side on the file until the sink has every line.
func runFilelog(t *testing.T, sd side, c filelogCase, path string, lines int) (rate, cpuPerM float64) {
	t.Helper()
	sink, err := startBenchSink(testutil.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.stop()
	dir := t.TempDir()
	var cfg string
	var args []string
	if sd.name == "outpost" {
		parser := ""
		if c.outpost != "" {
			parser = "\n    parser: " + c.outpost
		}
		cfg = fmt.Sprintf(`storage: {directory: %s}
telemetry: {address: %s, logs: {level: warn}}
receivers:
  filelog:
    include: [%s]
    start_at: beginning%s
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    compression: zstd
    queue: {kind: disk, fsync: interval, max_bytes: 4GiB}
service:
  pipelines:
    logs: {receivers: [filelog], exporters: [otlp]}
`, filepath.Join(dir, "data"), testutil.FreeAddr(t), path, parser, sink.addr())
		args = []string{"run", "-c", filepath.Join(dir, "config.yaml"), "-watch-interval", "0"}
	} else {
		ops := ""
		if c.otelcol != "" {
			ops = "\n    operators: " + c.otelcol
		}
		cfg = fmt.Sprintf(`receivers:
  filelog:
    include: [%s]
    start_at: beginning%s
processors:
  batch: {}
exporters:
  otlp_grpc:
    endpoint: %s
    tls: {insecure: true}
service:
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    logs: {receivers: [filelog], processors: [batch], exporters: [otlp_grpc]}
`, path, ops, sink.addr())
		args = []string{"--config", filepath.Join(dir, "config.yaml")}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p := testutil.Start(t, sd.bin, args...)
	pid := p.Cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Minute)
	for sink.snapshot().total() < int64(lines) {
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("%s: %d of %d lines at the sink\n%s", sd.name, sink.snapshot().total(), lines, p.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	wall := time.Since(start)
	cpu := cpuSeconds(t, pid)
	p.Signal(t, 15)
	p.Wait(t, 60*time.Second)
	return float64(lines) / wall.Seconds(), cpu / float64(lines) * 1e6
}
