package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/internal/testutil/redactcorpus"
)

// TestRedactionEndToEnd sends the redaction corpus (card numbers, e-mail
// addresses, bearer tokens and API keys in attributes, names and log
// bodies) over OTLP into the outpost binary, through the redaction
// processor, to two sinks: the file exporter and an OTLP receiver. At the
// sinks no secret of the corpus appears in any byte (the file as written;
// what the OTLP sink received, encoded again), every field arrives exactly
// as expected (secrets masked, everything else unchanged), and
// outpost_processor_redacted_total counts exactly what was masked.
func TestRedactionEndToEnd(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 10, KeepRequests: 16})
	o := newOutpost(t)
	out := filepath.Join(t.TempDir(), "sink", "otlp.jsonl")
	indented := "    " + strings.ReplaceAll(strings.TrimRight(redactcorpus.Config, "\n"), "\n", "\n    ")
	o.start(t, testutil.Sprintf(`
node: {name: e2e-node, site: lab}
storage: {directory: %s}
telemetry: {address: %s}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: %s}
processors:
  redaction:
%s
exporters:
  file: {path: %s, flush_interval: 0s}
  otlp:
    endpoint: %s
    tls: {insecure: true}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 2s}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [redaction], exporters: [file, otlp]}
    metrics: {receivers: [otlp], processors: [redaction], exporters: [file, otlp]}
    logs: {receivers: [otlp], processors: [redaction], exporters: [file, otlp]}
`, filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, o.grpc, indented, out, sink.GRPCAddr()))

	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(redactcorpus.Traces(false))); err != nil {
		t.Fatalf("export traces: %v", err)
	}
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(redactcorpus.Logs(false))); err != nil {
		t.Fatalf("export logs: %v", err)
	}
	if _, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(redactcorpus.Metrics(false))); err != nil {
		t.Fatalf("export metrics: %v", err)
	}
	wantSpans := int64(redactcorpus.Traces(false).SpanCount())
	wantLogs := int64(redactcorpus.Logs(false).LogRecordCount())
	wantPoints := int64(redactcorpus.Metrics(false).DataPointCount())
	testutil.Eventually(t, 20*time.Second, "the corpus at the OTLP sink", func() bool {
		return sink.Spans() >= wantSpans && sink.LogRecords() >= wantLogs && sink.DataPoints() >= wantPoints
	})

	// The file sink, byte for byte as written (flush_interval 0: written
	// before the export was acknowledged).
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	needles := redactcorpus.Needles()
	for _, n := range needles {
		if bytes.Contains(raw, []byte(n)) {
			t.Errorf("file sink holds %q", n)
		}
	}
	var traces, logs, metrics int
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte(`{"resourceSpans"`)):
			td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
			if err != nil {
				t.Fatal(err)
			}
			traces++
			report(t, "file traces", redactcorpus.DiffTraces(td, redactcorpus.Traces(true)))
		case bytes.HasPrefix(line, []byte(`{"resourceLogs"`)):
			ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(line)
			if err != nil {
				t.Fatal(err)
			}
			logs++
			report(t, "file logs", redactcorpus.DiffLogs(ld, redactcorpus.Logs(true)))
		case bytes.HasPrefix(line, []byte(`{"resourceMetrics"`)):
			md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(line)
			if err != nil {
				t.Fatal(err)
			}
			metrics++
			report(t, "file metrics", redactcorpus.DiffMetrics(md, redactcorpus.Metrics(true)))
		default:
			t.Errorf("unexpected line in the file sink: %.80s", line)
		}
	}
	if traces != 1 || logs != 1 || metrics != 1 {
		t.Errorf("file sink: %d traces, %d logs, %d metrics lines; want one each", traces, logs, metrics)
	}

	// The OTLP sink: what it received, encoded again as protobuf.
	var wire []byte
	for _, td := range sink.Traces() {
		b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		wire = append(wire, b...)
		report(t, "otlp traces", redactcorpus.DiffTraces(td, redactcorpus.Traces(true)))
	}
	for _, ld := range sink.Logs() {
		b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
		wire = append(wire, b...)
		report(t, "otlp logs", redactcorpus.DiffLogs(ld, redactcorpus.Logs(true)))
	}
	for _, md := range sink.Metrics() {
		b, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
		wire = append(wire, b...)
		report(t, "otlp metrics", redactcorpus.DiffMetrics(md, redactcorpus.Metrics(true)))
	}
	for _, n := range needles {
		if bytes.Contains(wire, []byte(n)) {
			t.Errorf("OTLP sink holds %q", n)
		}
	}

	m := testutil.Scrape(t, o.telemetry)
	for _, c := range []struct {
		signal, reason string
		want           int
	}{
		{"traces", "blocked_value", redactcorpus.TracesBlockedValue},
		{"traces", "blocked_key", redactcorpus.TracesBlockedKey},
		{"logs", "blocked_value", redactcorpus.LogsBlockedValue},
		{"logs", "blocked_key", redactcorpus.LogsBlockedKey},
		{"metrics", "blocked_value", redactcorpus.MetricsBlockedValue},
		{"metrics", "blocked_key", redactcorpus.MetricsBlockedKey},
		{"logs", "key_not_allowed", 0},
	} {
		got := m.Sum("outpost_processor_redacted_total", map[string]string{"processor": "redaction", "signal": c.signal, "reason": c.reason})
		if int(got) != c.want {
			t.Errorf("outpost_processor_redacted_total{signal=%s,reason=%s} = %v, want %d", c.signal, c.reason, got, c.want)
		}
	}
	checkMetricsDocumented(t, m)
	t.Logf("%d secrets (%d byte patterns) sent in %d spans, %d log records, %d data points; none at either sink",
		len(redactcorpus.Secrets), len(needles), wantSpans, wantLogs, wantPoints)

	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}

func report(t *testing.T, where string, diffs []string) {
	t.Helper()
	for _, d := range diffs {
		t.Errorf("%s: %s", where, d)
	}
}
