package otlpexporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// laneLogs returns n log records, every third one at severity ERROR.
func laneLogs(first, n int) plog.Logs {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := first; i < first+n; i++ {
		r := recs.AppendEmpty()
		r.Body().SetStr(fmt.Sprintf("record %d", i))
		r.Attributes().PutInt("seq", int64(i))
		if i%3 == 0 {
			r.SetSeverityNumber(plog.SeverityNumberError)
		}
	}
	return ld
}

// newQueued creates and starts an exporter with a disk queue in dir.
func newQueued(t *testing.T, cfg pipeline.Config, dir string, tel *selftelemetry.Metrics) pipeline.Component {
	t.Helper()
	f := NewFactory()
	if _, ok := cfg.(*HTTPConfig); ok {
		f = NewHTTPFactory()
	}
	c, err := f.Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel, StorageDir: dir}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestQueuedDelivery stores batches while the server is down (the caller
// is acknowledged at once), keeps them across a restart of the exporter,
// and delivers them all, high lane first, once the server is back; over
// gRPC the body compressed once by the exporter arrives as zstd.
func TestQueuedDelivery(t *testing.T) {
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			sink := otlpsink.Start(t)
			sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, HTTPStatus: 503, Message: "down"})
			var cfg pipeline.Config
			prio := lanes.Config{Rules: []lanes.Rule{{Lane: "high", LogSeverityAtLeast: "ERROR"}}}
			if proto == "grpc" {
				cfg = grpcConfig(sink.GRPCAddr(), func(c *Config) {
					c.Compression = CompressionZstd
					c.Queue.Enabled = true
					c.Priority = prio
				})
			} else {
				cfg = httpConfig(sink.HTTPURL(), func(c *HTTPConfig) {
					c.Queue.Enabled = true
					c.Priority = prio
				})
			}
			dir := t.TempDir()
			tel := selftelemetry.New()
			e := newQueued(t, cfg, dir, tel)
			for i := range 10 {
				if err := e.(*exporter).ConsumeLogs(context.Background(), laneLogs(i*30, 30)); err != nil {
					t.Fatalf("batch %d: %v (the queue should take it)", i, err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := e.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			sink.SetFail(nil)
			e = newQueued(t, cfg, dir, tel)
			defer e.Shutdown(context.Background())
			sink.WaitLogRecords(t, 300, 10*time.Second)

			var order []int64
			for _, ld := range sink.Logs() {
				// A request holds several queued records (one resource each).
				for r := 0; r < ld.ResourceLogs().Len(); r++ {
					recs := ld.ResourceLogs().At(r).ScopeLogs().At(0).LogRecords()
					for k := 0; k < recs.Len(); k++ {
						v, _ := recs.At(k).Attributes().Get("seq")
						order = append(order, v.Int())
					}
				}
			}
			// The first 100 delivered are the high lane (every third
			// record), in order.
			for i := range 100 {
				if order[i] != int64(3*i) {
					t.Fatalf("delivery %d is record %d, want %d (high lane first, in order)", i, order[i], 3*i)
				}
			}
			if proto == "grpc" {
				if r, _ := sink.LastRequest(); r.Compression != "zstd" {
					t.Errorf("gRPC request compression %q, want zstd", r.Compression)
				}
			}
			// The sink counts a request before the exporter sees its
			// answer: wait for the last one to be counted.
			deadline := time.Now().Add(5 * time.Second)
			for metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalLogs, "") != 300 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalLogs, ""); got != 300 {
				t.Errorf("sent items %v, want 300", got)
			}
			if got := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, "shutdown"); got != 0 {
				t.Errorf("a queued batch cut short by shutdown counted as failed: %v", got)
			}
		})
	}
}

// TestQueuedPermanentDropsAndGoesOn: a body the server refuses for good is
// dropped and counted, and the queue goes on with the next one.
func TestQueuedPermanentDropsAndGoesOn(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.FailNext(1, otlpsink.Failure{Code: codes.InvalidArgument, Message: "bad data"})
	tel := selftelemetry.New()
	cfg := grpcConfig(sink.GRPCAddr(), func(c *Config) {
		c.Queue.Enabled = true
		// One record per request: the server refuses the first request,
		// whatever it holds (a merged request refused for good is sent
		// again in halves: pipeline/sender's batch tests).
		c.Queue.Batch.MinSize, c.Queue.Batch.MaxSize = 0, 1
	})
	e := newQueued(t, cfg, t.TempDir(), tel)
	defer e.Shutdown(context.Background())
	for i := range 2 {
		if err := e.(*exporter).ConsumeLogs(context.Background(), laneLogs(i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	sink.WaitLogRecords(t, 10, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, "permanent") != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("failed{permanent} = %v, want 10", metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, "permanent"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMemoryQueueDrainsOnShutdown: a memory queue is sent out within the
// shutdown deadline, and its max_bytes is reserved out of memory_limit.
func TestMemoryQueueDrainsOnShutdown(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.FailNext(3, otlpsink.Failure{Code: codes.Unavailable, Message: "blip"})
	tel := selftelemetry.New()
	mem := memlimit.New(64<<20, nil)
	cfg := grpcConfig(sink.GRPCAddr(), func(c *Config) {
		c.Queue.Enabled = true
		c.Queue.Kind = "memory"
		c.Queue.MaxBytes = 16 << 20
	})
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel, Memory: mem}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if got := mem.Capacity(); got != (64<<20-16<<20)/2 {
		t.Errorf("capacity for requests %d with a 16MiB memory queue under a 64MiB limit, want %d", got, (64<<20-16<<20)/2)
	}
	for i := range 5 {
		if err := c.(*exporter).ConsumeLogs(context.Background(), laneLogs(i*10, 10)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sink.LogRecords(); got != 50 {
		t.Errorf("after shutdown the sink has %d records, want all 50", got)
	}
	if got := mem.Capacity(); got != 32<<20 {
		t.Errorf("capacity %d after shutdown, want the reservation returned (%d)", got, 32<<20)
	}

	// What a memory queue cannot send before the shutdown deadline is
	// counted as dropped.
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, Message: "down"})
	c, err = NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel, Memory: mem}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.(*exporter).ConsumeLogs(context.Background(), laneLogs(0, 10)); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	_ = c.Shutdown(short)
	if got := testutil.ToFloat64(tel.QueueDropped.WithLabelValues(testID, "normal", "shutdown")); got != 10 {
		t.Errorf("dropped at shutdown = %v, want 10", got)
	}

	// A memory queue larger than the limit allows does not start.
	cfg.Queue.MaxBytes = 128 << 20
	c, err = NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID), Telemetry: tel, Memory: mem}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "memory_limit") {
		t.Errorf("start with a 128MiB memory queue under a 64MiB limit: %v", err)
	}
	_ = c.Shutdown(context.Background())
}
