package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
)

// TestFault11_RenameAdoptBinary is TestFault11_RenamedExporterBacklog with
// the real binary: SIGHUP to a config that renames otlp/gateway to
// otlp/central while the uplink is down; the orphaned backlog shows on
// /metrics and in the log; after SIGTERM, `outpost queue ls` and `outpost
// queue adopt` move it, and the next run delivers every item.
func TestFault11_RenameAdoptBinary(t *testing.T) {
	bin := testutil.Binary(t, "OUTPOST_BIN", "outpost")
	sink := otlpsink.StartWith(t, otlpsink.Options{})
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "uplink down"})
	o := newOutpost(t)
	c := svcConfig{
		dir: filepath.Dir(o.config), grpc: o.grpc, http: o.http, telemetry: o.telemetry,
		sink: sink.GRPCAddr(), exporter: "otlp/gateway", queue: "max_bytes: 4MiB",
	}
	o.start(t, c.yaml())
	sent := sendLogs(t, o.grpc, 40, 25)

	renamed := c
	renamed.exporter = "otlp/central"
	renamed.write(t)
	o.proc.Signal(t, syscall.SIGHUP)
	testutil.Eventually(t, 10*time.Second, "reload", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_config_reloads_total", map[string]string{"result": "success"}) == 1
	})
	orphan := pipeline.StorageDir(c.storage(), "exporter", pipeline.MustID("otlp/gateway"))
	orphaned := testutil.Scrape(t, o.telemetry).Sum("outpost_queue_orphaned_bytes", map[string]string{"directory": orphan})
	warned := strings.Contains(o.proc.Output(), "no configured exporter owns") && strings.Contains(o.proc.Output(), orphan)
	t.Logf("binary: %d items acknowledged to otlp/gateway; after the rename outpost_queue_orphaned_bytes = %.0f, WARN: %v", sent, orphaned, warned)
	if orphaned <= 0 || !warned {
		t.Fatalf("orphaned backlog not reported (gauge %v)", orphaned)
	}
	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	ls, err := exec.Command(bin, "queue", "ls", "-c", o.config).CombinedOutput()
	if err != nil || !strings.Contains(string(ls), "orphaned") {
		t.Fatalf("queue ls: %v\n%s", err, ls)
	}
	t.Logf("outpost queue ls:\n%s", ls)
	adopt, err := exec.Command(bin, "queue", "adopt", "-c", o.config, "--from", orphan, "--to", "otlp/central").CombinedOutput()
	if err != nil {
		t.Fatalf("queue adopt: %v\n%s", err, adopt)
	}
	t.Logf("outpost queue adopt:\n%s", adopt)

	sink.SetFail(nil)
	o.start(t, renamed.yaml())
	sink.WaitLogRecords(t, int64(sent), 30*time.Second)
	t.Logf("binary: after adopt and restart %d of %d items delivered", sink.LogRecords(), sent)
	if sink.LogRecords() != int64(sent) {
		t.Fatalf("%d of %d delivered", sink.LogRecords(), sent)
	}
}
