package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// TestLogDedupAndThrottle sends known logs over OTLP/gRPC through
// throttle → log_dedup → OTLP to a sink and checks that every record sent
// is accounted for exactly: throttled (counted), or inside an emitted
// record's log_count; errors are never throttled.
func TestLogDedupAndThrottle(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 12, KeepRequests: 16})
	o := newOutpost(t)
	cfg := relayConfig(o, sink.GRPCAddr(), "lab", "")
	cfg = strings.Replace(cfg, "processors:\n  batch: {timeout: 100ms, send_batch_size: 512}\n",
		"processors:\n  batch: {timeout: 100ms, send_batch_size: 512}\n"+
			"  throttle: {threshold: 100, window: 1h, key_fields: [resource.service.name]}\n"+
			"  log_dedup: {interval: 1s, exclude_fields: [attributes.seq]}\n", 1)
	cfg = strings.Replace(cfg, "logs: {receivers: [otlp], processors: [batch]", "logs: {receivers: [otlp], processors: [throttle, log_dedup]", 1)
	o.start(t, cfg)

	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	send := func(svc, body string, sev plog.SeverityNumber, n int) {
		t.Helper()
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", svc)
		sl := rl.ScopeLogs().AppendEmpty()
		for i := range n {
			lr := sl.LogRecords().AppendEmpty()
			lr.SetSeverityNumber(sev)
			lr.Body().SetStr(strings.ReplaceAll(body, "%d", fmt.Sprint(i)))
			lr.Attributes().PutInt("seq", int64(i)) // excluded from the comparison
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
			t.Fatalf("export: %v", err)
		}
	}
	// noisy: 300 identical INFO lines in three requests (100 pass the
	// throttle), 50 identical ERROR lines (never throttled); quiet: 20
	// distinct lines.
	for range 3 {
		send("noisy", "connection refused", plog.SeverityNumberInfo, 100)
	}
	send("noisy", "disk failure", plog.SeverityNumberError, 50)
	send("quiet", "request %d served", plog.SeverityNumberInfo, 20)
	const sent = 300 + 50 + 20

	// What reached the sink, by service and body, as the records the
	// emitted ones stand for. A flush may fall between two requests, so
	// one kind may arrive as more than one record: the counts still add up.
	tally := func() (map[string]int64, int64) {
		counts := map[string]int64{}
		var represented int64
		for _, ld := range sink.Logs() {
			for _, rl := range ld.ResourceLogs().All() {
				svc, _ := rl.Resource().Attributes().Get("service.name")
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						c, ok := lr.Attributes().Get("log_count")
						if !ok {
							t.Fatalf("record without log_count: %v", lr.Body().AsString())
						}
						if _, ok := lr.Attributes().Get("seq"); ok {
							t.Errorf("excluded attribute seq reached the sink")
						}
						counts[svc.Str()+"/"+lr.Body().Str()] += c.Int()
						represented += c.Int()
					}
				}
			}
		}
		return counts, represented
	}
	const passed = 100 + 50 + 20
	testutil.Eventually(t, 15*time.Second, "every passed record at the sink", func() bool {
		_, n := tally()
		return n >= passed
	})
	counts, represented := tally()
	if counts["noisy/connection refused"] != 100 || counts["noisy/disk failure"] != 50 || counts["quiet/request 7 served"] != 1 || len(counts) != 22 {
		t.Errorf("log counts %v", counts)
	}
	records := sink.LogRecords()
	if records < 22 || records > 22+2 {
		t.Errorf("%d records at the sink, want 22 (2 noisy + 20 quiet; one more per noisy kind a flush split)", records)
	}

	m := testutil.Scrape(t, o.telemetry)
	dropped := int64(m.Sum("outpost_processor_dropped_items_total", map[string]string{"processor": "throttle", "reason": "throttled"}))
	merged := int64(m.Sum("outpost_processor_log_dedup_merged_items_total", map[string]string{"processor": "log_dedup"}))
	if dropped != 200 || merged != passed-records {
		t.Errorf("throttled %d, merged %d; want 200 and %d (passed - emitted)", dropped, merged, passed-records)
	}
	if represented+dropped != sent {
		t.Errorf("sink stands for %d records + %d throttled != %d sent", represented, dropped, sent)
	}
	if got := int64(m.Sum("outpost_receiver_accepted_items_total", map[string]string{"signal": "logs"})); got != sent {
		t.Errorf("receiver accepted %d, want %d", got, sent)
	}
	t.Logf("sent %d: %d throttled, %d merged, %d records at the sink standing for %d", sent, dropped, merged, records, represented)
	checkMetricsDocumented(t, m)

	o.proc.Signal(t, syscall.SIGTERM)
	if code := o.proc.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
}
