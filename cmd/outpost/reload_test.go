package main

// Reload and queue ownership, in process: the service is built as `run`
// builds it and reloaded as SIGHUP reloads it, so that the tests can look
// at the queues it shares between graphs. The central side is an OTLP sink
// that the tests fail (the uplink is "down") and heal.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
)

// lockedBuffer is an io.Writer for the service's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// svcConfig is the configuration of an in-process test service.
type svcConfig struct {
	dir       string // holds the config file and storage/
	grpc      string // the OTLP receiver's gRPC address
	http      string // its HTTP address
	telemetry string
	sink      string // the exporter's endpoint
	exporter  string // the exporter's ID, of type otlp
	queue     string // the exporter's queue section, a YAML flow mapping body
	top       string // extra top-level YAML
}

func newSvcConfig(t *testing.T, sink string) svcConfig {
	return svcConfig{
		dir:       t.TempDir(),
		grpc:      testutil.FreeAddr(t),
		http:      testutil.FreeAddr(t),
		telemetry: testutil.FreeAddr(t),
		sink:      sink,
		exporter:  "otlp",
		queue:     "max_bytes: 1MiB",
	}
}

func (c svcConfig) storage() string { return filepath.Join(c.dir, "storage") }
func (c svcConfig) path() string    { return filepath.Join(c.dir, "outpost.yaml") }

func (c svcConfig) yaml() string {
	return otlpInYAML(c.storage(), c.telemetry, c.grpc, c.http) + testutil.Sprintf(`
%s
exporters:
  %s:
    endpoint: %s
    tls: {insecure: true}
    compression: none
    timeout: 2s
    retry_on_failure: {initial_interval: 20ms, max_interval: 100ms}
    queue: {%s}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [%s]}
`, c.top, c.exporter, c.sink, c.queue, c.exporter)
}

func (c svcConfig) write(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(c.path(), []byte(c.yaml()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// testService is a service started in process.
type testService struct {
	*service
	log     *lockedBuffer
	stopped bool
}

// startService writes c and starts a service on it, as run does.
func startService(t *testing.T, c svcConfig) *testService {
	t.Helper()
	// The service sets the runtime's soft memory limit to memory_limit
	// unless GOMEMLIMIT is set: keep the test binary's own.
	t.Setenv("GOMEMLIMIT", "off")
	c.write(t)
	cfg, err := configs.Load(c.path(), components())
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	s, err := newService(runOptions{configPath: c.path(), shutdownTimeout: time.Second, stderr: log}, components(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testService{service: s, log: log}
	if err := s.start(context.Background(), cfg); err != nil {
		s.stopServer()
		t.Fatalf("start: %v\n%s", err, log)
	}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop drains the pipelines and stops the telemetry server. Idempotent.
func (s *testService) stop(t *testing.T) {
	t.Helper()
	if s.stopped {
		return
	}
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.graph.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	s.stopServer()
}

// reload writes c and reloads, as SIGHUP does.
func (s *testService) reload(t *testing.T, c svcConfig) {
	t.Helper()
	c.write(t)
	s.service.reload(context.Background(), "test")
}

func (s *testService) reloads(result string) float64 {
	return promtest.ToFloat64(s.tel.ConfigReloads.WithLabelValues(result))
}

func (s *testService) dropped(exporter, lane, reason string) float64 {
	return promtest.ToFloat64(s.tel.QueueDropped.WithLabelValues(exporter, lane, reason))
}

// sendLogs sends n requests of per log records (bodies of about 1 KB that
// do not compress) to the OTLP gRPC receiver at addr and returns the
// records acknowledged.
func sendLogs(t *testing.T, addr string, n, per int) int {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	acked := 0
	for range n {
		ld := plog.NewLogs()
		recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for range per {
			r := recs.AppendEmpty()
			r.SetTimestamp(1)
			var body strings.Builder
			for range 64 {
				fmt.Fprintf(&body, "%016x", rand.Uint64())
			}
			r.Body().SetStr(body.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
		cancel()
		if err != nil {
			t.Fatalf("export after %d records acknowledged: %v", acked, err)
		}
		acked += per
	}
	return acked
}

func queuedItems(q *queue.Queue) int {
	n := 0
	for _, st := range q.Stats() {
		n += st.Items
	}
	return n
}

// TestFault2_FailedReloadKeepsRunningQueue: a reload to a config that
// shrinks the queue (1 MiB → 256 KiB) and changes its policies (block →
// drop_oldest, always → interval, a max_age) but whose receiver cannot
// bind (the port is taken) fails, and the running queue keeps its
// capacity and policies: data past the rejected 256 KiB is queued, none
// dropped, and all of it is delivered when the uplink returns.
func TestFault2_FailedReloadKeepsRunningQueue(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "uplink down"})
	c := newSvcConfig(t, sink.GRPCAddr())
	c.queue = "max_bytes: 1MiB, full_policy: block, fsync: always"
	s := startService(t, c)
	dir := pipeline.StorageDir(c.storage(), "exporter", pipeline.MustID("otlp"))
	q := s.queues.DiskQueue(dir)
	if q == nil {
		t.Fatalf("no open queue in %s", dir)
	}
	before := q.Limits()
	sent := sendLogs(t, c.grpc, 15, 10) // about 160 KB

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := c
	bad.http = taken.Addr().String()
	bad.queue = "max_bytes: 256KiB, full_policy: drop_oldest, fsync: interval, fsync_interval: 1s, max_age: 1h"
	bad.top = "memory_limit: 32MiB\nuplink: {bytes_per_second: 64KiB/s, burst: 64KiB}"
	limitBefore, rateBefore := s.memory.Limit(), promtest.ToFloat64(s.tel.UplinkRate)
	s.reload(t, bad)
	if s.reloads("failed") != 1 {
		t.Fatalf("reload did not fail:\n%s", s.log)
	}
	if s.memory.Limit() != limitBefore || promtest.ToFloat64(s.tel.UplinkRate) != rateBefore {
		t.Fatalf("the failed reload changed memory_limit %d → %d or the uplink rate %v → %v",
			limitBefore, s.memory.Limit(), rateBefore, promtest.ToFloat64(s.tel.UplinkRate))
	}
	after := q.Limits()
	capacity := promtest.ToFloat64(s.tel.QueueCapacity.WithLabelValues("otlp"))
	// Past the rejected max_bytes, within the running one.
	sent += sendLogs(t, c.grpc, 30, 10)
	queued := queuedItems(q)
	dropped := s.dropped("otlp", "normal", "queue_full") + s.dropped("otlp", "normal", "expired")
	var bytes int64
	for _, st := range q.Stats() {
		bytes += st.Bytes
	}
	t.Logf("after the failed reload: capacity %.0f bytes, full_policy %s, fsync %s, max_age %s; %d items acknowledged, %d queued (%d bytes), %.0f dropped",
		capacity, after.FullPolicy, after.Fsync, after.MaxAge, sent, queued, bytes, dropped)
	if after != before || capacity != float64(before.MaxBytes) {
		t.Fatalf("the failed reload changed the running queue: limits %+v, were %+v; capacity gauge %v", after, before, capacity)
	}
	if dropped != 0 || queued != sent {
		t.Fatalf("%d items acknowledged, %d queued, %v dropped", sent, queued, dropped)
	}
	sink.SetFail(nil)
	sink.WaitLogRecords(t, int64(sent), 20*time.Second)
	t.Logf("uplink back: %d of %d items delivered, %.0f dropped", sink.LogRecords(), sent, dropped)
}

// TestFault12a_FailedStartIsNotRetried: the file watcher does not reload a
// file whose graph failed to start until its content changes (a signal
// still does).
func TestFault12a_FailedStartIsNotRetried(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	c := newSvcConfig(t, sink.GRPCAddr())
	s := startService(t, c)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	bad := c
	bad.http = taken.Addr().String()
	bad.write(t)
	if !s.fileChanged() {
		t.Fatal("a changed file is not seen")
	}
	s.reload(t, bad)
	changedAfterFailure := s.fileChanged()
	t.Logf("after a reload that failed to start: reloads failed=%.0f, the watcher would retry the unchanged file: %v", s.reloads("failed"), changedAfterFailure)
	if s.reloads("failed") != 1 {
		t.Fatalf("the reload did not fail:\n%s", s.log)
	}
	if changedAfterFailure {
		t.Fatal("the watcher retries a file that failed to start although it has not changed")
	}
	bad.http = testutil.FreeAddr(t)
	bad.write(t)
	if !s.fileChanged() {
		t.Fatal("a fixed file is not seen")
	}
	s.reload(t, bad)
	if s.reloads("success") != 1 {
		t.Fatalf("the fixed file did not reload:\n%s", s.log)
	}
}

// TestFault7_MemoryQueueSurvivesReload: records in a memory queue whose
// uplink is down are handed to the new graph on reload, not drained into
// a void and counted as lost; they are delivered when the uplink returns.
func TestFault7_MemoryQueueSurvivesReload(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "uplink down"})
	c := newSvcConfig(t, sink.GRPCAddr())
	c.queue = "kind: memory, max_bytes: 2MiB"
	c.top = "memory_limit: 64MiB"
	s := startService(t, c)
	sent := sendLogs(t, c.grpc, 20, 10)

	next := c
	next.top = "memory_limit: 64MiB\nnode: {name: after-reload}"
	s.reload(t, next)
	if s.reloads("success") != 1 {
		t.Fatalf("reload failed:\n%s", s.log)
	}
	lost := s.dropped("otlp", "normal", "shutdown")
	if lost != 0 {
		t.Fatalf("the reload lost %v of %d items acknowledged into the memory queue (counted shutdown)", lost, sent)
	}
	sent += sendLogs(t, c.grpc, 5, 10)
	sink.SetFail(nil)
	testutil.Eventually(t, 20*time.Second, "every record at the sink", func() bool { return sink.LogRecords() >= int64(sent) })
	t.Logf("memory queue across a reload: %d items acknowledged, %d delivered, %.0f counted lost at shutdown", sent, sink.LogRecords(), lost)
	if lost != 0 || sink.LogRecords() != int64(sent) {
		t.Fatalf("%d acknowledged, %d delivered, %v lost", sent, sink.LogRecords(), lost)
	}
}

// TestFault7_LargeMemoryQueueReloads: a memory queue of 60% of
// memory_limit reloads (its reservation is not taken twice), the in-flight
// gauge counts it once, and a reload to a queue that does not fit fails
// with the real memory_limit in its message, leaving the running queue.
func TestFault7_LargeMemoryQueueReloads(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	c := newSvcConfig(t, sink.GRPCAddr())
	c.queue = "kind: memory, max_bytes: 6MiB"
	c.top = "memory_limit: 10MiB"
	s := startService(t, c)
	next := c
	next.top = "memory_limit: 10MiB\nnode: {name: after-reload}"
	s.reload(t, next)
	gauge := promtest.ToFloat64(s.tel.MemoryInFlight)
	t.Logf("memory queue of 6 MiB under memory_limit 10 MiB: reloads success=%.0f failed=%.0f; outpost_memory_in_flight_bytes %.0f (reserved %d)",
		s.reloads("success"), s.reloads("failed"), gauge, s.memory.Reserved())
	if s.reloads("success") != 1 {
		t.Fatalf("reload failed:\n%s", s.log)
	}
	if s.memory.Reserved() != 6<<20 || gauge < 6<<20 {
		t.Fatalf("reserved %d, in-flight gauge %v: want the memory queue's 6 MiB counted once", s.memory.Reserved(), gauge)
	}

	tooBig := next
	tooBig.queue = "kind: memory, max_bytes: 11MiB"
	s.reload(t, tooBig)
	// The configuration check finds it before any queue is built
	// (configs: memory queues must fit memory_limit), so the reload is
	// refused as invalid and nothing is reserved.
	if s.reloads("invalid") != 1 {
		t.Fatalf("a reload to a memory queue larger than memory_limit was not refused:\n%s", s.log)
	}
	const want = "the memory queues' max_bytes add up to 11MiB, more than memory_limit 10MiB"
	if !strings.Contains(s.log.String(), want) {
		t.Fatalf("the failed reload's message does not give the limit (%q):\n%s", want, s.log)
	}
	if s.memory.Reserved() != 6<<20 {
		t.Fatalf("reserved %d after the failed reload, want 6 MiB", s.memory.Reserved())
	}
	sendLogs(t, c.grpc, 3, 10)
	sink.WaitLogRecords(t, 30, 10*time.Second)
}

// TestFault11_RenamedExporterBacklog: renaming otlp/gateway to
// otlp/central leaves the gateway's backlog on disk. The reload (and a
// start) report it: outpost_queue_orphaned_bytes{directory} and a WARN
// naming the directory and the way to recover. `outpost queue ls` shows
// it as orphaned; `outpost queue adopt` is refused while outpost holds
// the target queue, and offline moves the backlog to otlp/central, which
// delivers every item on the next start.
func TestFault11_RenamedExporterBacklog(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "uplink down"})
	c := newSvcConfig(t, sink.GRPCAddr())
	c.exporter = "otlp/gateway"
	s := startService(t, c)
	sent := sendLogs(t, c.grpc, 20, 10)

	renamed := c
	renamed.exporter = "otlp/central"
	s.reload(t, renamed)
	if s.reloads("success") != 1 {
		t.Fatalf("reload failed:\n%s", s.log)
	}
	orphan := pipeline.StorageDir(c.storage(), "exporter", pipeline.MustID("otlp/gateway"))
	orphaned := promtest.ToFloat64(s.tel.QueueOrphanedBytes.WithLabelValues(orphan))
	warned := strings.Contains(s.log.String(), "no configured exporter owns") && strings.Contains(s.log.String(), orphan) &&
		strings.Contains(s.log.String(), "outpost queue adopt")
	t.Logf("after the rename: outpost_queue_orphaned_bytes{directory=%q} = %.0f; WARN with directory and recovery: %v", filepath.Base(orphan), orphaned, warned)
	if orphaned <= 0 || !warned {
		t.Fatalf("the orphaned backlog is not reported (gauge %v):\n%s", orphaned, s.log)
	}

	var out, errOut bytes.Buffer
	if code := runMain([]string{"queue", "ls", "-c", c.path()}, &out, &errOut); code != 0 {
		t.Fatalf("queue ls: exit %d: %s", code, errOut.String())
	}
	t.Logf("outpost queue ls:\n%s", out.String())
	lsLine := func(name string) string {
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, name+" ") {
				return l
			}
		}
		return ""
	}
	if f := strings.Fields(lsLine("exporter-otlp-gateway")); len(f) < 4 || f[1] != "orphaned" || f[3] != fmt.Sprint(sent) {
		t.Fatalf("queue ls does not show the gateway's %d items as orphaned", sent)
	}
	if f := strings.Fields(lsLine("exporter-otlp-central")); len(f) < 2 || f[1] != "otlp/central" {
		t.Fatal("queue ls does not show otlp/central as the owner of its queue")
	}

	// While outpost runs it holds otlp/central's queue.
	out.Reset()
	errOut.Reset()
	args := []string{"queue", "adopt", "-c", c.path(), "--from", "exporter-otlp-gateway", "--to", "otlp/central"}
	if code := runMain(args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "stop it first") {
		t.Fatalf("adopt while running: exit %d, %s", code, errOut.String())
	}
	s.stop(t)
	out.Reset()
	errOut.Reset()
	if code := runMain(args, &out, &errOut); code != 0 {
		t.Fatalf("adopt: exit %d: %s", code, errOut.String())
	}
	t.Logf("outpost queue adopt:\n%s", out.String())

	sink.SetFail(nil)
	s2 := startService(t, renamed)
	sink.WaitLogRecords(t, int64(sent), 20*time.Second)
	left := promtest.ToFloat64(s2.tel.QueueOrphanedBytes.WithLabelValues(orphan))
	t.Logf("after adopt and start: %d of %d items delivered; orphaned bytes %.0f", sink.LogRecords(), sent, left)
	if sink.LogRecords() != int64(sent) || left != 0 {
		t.Fatalf("%d of %d delivered, orphaned gauge %v", sink.LogRecords(), sent, left)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("the adopted queue directory is still there: %v", err)
	}
}

// A start, not only a reload, reports an orphaned queue; a queue whose
// records are all delivered is not reported.
func TestFault11_OrphanReportedAtStart(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "uplink down"})
	c := newSvcConfig(t, sink.GRPCAddr())
	c.exporter = "otlp/gateway"
	s := startService(t, c)
	sent := sendLogs(t, c.grpc, 5, 10)
	s.stop(t)

	removed := c
	removed.exporter = "otlp/other"
	s2 := startService(t, removed)
	orphan := pipeline.StorageDir(c.storage(), "exporter", pipeline.MustID("otlp/gateway"))
	got := promtest.ToFloat64(s2.tel.QueueOrphanedBytes.WithLabelValues(orphan))
	t.Logf("at start: %d items left by otlp/gateway, outpost_queue_orphaned_bytes %.0f", sent, got)
	if got <= 0 || !strings.Contains(s2.log.String(), orphan) {
		t.Fatalf("not reported at start (gauge %v):\n%s", got, s2.log)
	}
}

// `queue adopt` moves a backlog only to an exporter that can send its
// records' wire format: OTLP protobuf logs not to loki, and not to an
// exporter without a disk queue; they may go to otlphttp.
func TestQueueAdoptChecksTheTarget(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	from := filepath.Join(storage, "exporter-otlp-old")
	q, err := queue.Open(queue.Options{Dir: from, Limits: queue.Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := q.Append(queue.Record{Lane: queue.LaneNormal, Items: 5, Signal: "logs", Encoding: "proto", Body: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Parse("adopt.yaml", []byte(testutil.Sprintf(`
storage: {directory: %s}
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
exporters:
  loki: {endpoint: http://127.0.0.1:1/loki/api/v1/push}
  otlphttp: {endpoint: http://127.0.0.1:1}
  otlp/memory: {endpoint: 127.0.0.1:1, tls: {insecure: true}, queue: {kind: memory, max_bytes: 1MiB}}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [loki, otlphttp, otlp/memory]}
`, storage)), components(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ to, want string }{
		{"loki", `wire format "proto"`},
		{"otlp/memory", "has no disk queue"},
		{"otlp/absent", "is not configured"},
	} {
		if _, _, err := adopt(cfg, components(), "exporter-otlp-old", c.to); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("adopt into %s: %v, want an error with %q", c.to, err, c.want)
		}
	}
	res, _, err := adopt(cfg, components(), "exporter-otlp-old", "otlphttp")
	if err != nil || res.Moved.Total().Items != 15 {
		t.Fatalf("adopt into otlphttp: %v, %+v", err, res.Moved.Total())
	}
}
