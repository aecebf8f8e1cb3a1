package otlpsend

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

// TestFault10_OTLPTooLargeIsSplit: the far side takes bodies of at most
// 24 KiB (an OTLP/HTTP server answers 413, an OTLP/gRPC server
// RESOURCE_EXHAUSTED without RetryInfo); a batch of 400 spans is about
// 120 KiB, so it is sent in halves, quarters, ... until each part fits, and
// every span arrives. Before, the 413 (and RESOURCE_EXHAUSTED) was
// permanent and all 400 spans were dropped.
func TestFault10_OTLPTooLargeIsSplit(t *testing.T) {
	const spans = 400
	for _, tc := range []struct {
		name        string
		grpc        bool
		encoding    sender.Encoding
		compression string
	}{
		{name: "http proto zstd", encoding: sender.EncodingProto, compression: CompressionZstd},
		{name: "http json gzip", encoding: sender.EncodingJSON, compression: CompressionGzip},
		{name: "grpc", grpc: true, encoding: sender.EncodingProto},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := otlpsink.StartWith(t, otlpsink.Options{MaxRecvBytes: 24 << 10})
			var tr Transport
			if tc.grpc {
				tr = NewGRPC(GRPCOptions{Endpoint: sink.GRPCAddr()})
			} else {
				tr = NewHTTP(HTTPOptions{URLs: map[pipeline.Signal]string{pipeline.SignalTraces: sink.HTTPURL() + "/v1/traces"}})
			}
			tel := selftelemetry.New()
			q := sender.DefaultQueueConfig()
			q.Enabled = false
			e, err := New(pipeline.Settings{ID: pipeline.MustID("otlp/split"), Telemetry: tel}, tr, Options{
				Encoding: tc.encoding, Compression: tc.compression, Timeout: 10 * time.Second,
				Retry: sender.RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
					MaxElapsedTime: 10 * time.Second, Multiplier: 2},
				Queue: q,
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := e.Shutdown(context.Background()); err != nil {
					t.Error(err)
				}
			}()
			err = e.ConsumeTraces(context.Background(), testTraces(spans))
			failed := testutil.ToFloat64(tel.ExporterFailed.WithLabelValues("otlp/split", "traces", sender.ReasonTooLarge))
			t.Logf("%s: %d spans in one batch, far side takes 24 KiB a body: %d arrived in %d accepted requests, %g dropped; err %v",
				tc.name, spans, sink.Spans(), sink.RequestCount(), failed, err)
			if err != nil || sink.Spans() != spans || failed != 0 {
				t.Errorf("err %v, spans at the sink %d, too_large %g; want nil, %d, 0", err, sink.Spans(), failed, spans)
			}
		})
	}
}

// SplitRequest keeps every item, its resource and scope, for each signal.
func TestSplitRequestKeepsEveryItem(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "a")
	sm := rm.ScopeMetrics().AppendEmpty()
	g := sm.Metrics().AppendEmpty()
	g.SetName("g")
	gp := g.SetEmptyGauge().DataPoints()
	for range 3 {
		gp.AppendEmpty().SetIntValue(1)
	}
	h := sm.Metrics().AppendEmpty()
	h.SetName("h")
	hp := h.SetEmptyHistogram().DataPoints()
	for range 4 {
		hp.AppendEmpty().SetCount(2)
	}
	ld := plog.NewLogs()
	for range 5 {
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	}
	enc := encoder{encoding: sender.EncodingProto, compressor: newBodyCompressor(CompressionGzip, false)}
	for _, tc := range []struct {
		sig   pipeline.Signal
		items int
		req   exportRequest
	}{
		{pipeline.SignalTraces, 7, traceReq(testTraces(7))},
		{pipeline.SignalMetrics, 7, metricReq(md)},
		{pipeline.SignalLogs, 5, logReq(ld)},
	} {
		r, err := enc.encode(tc.sig, tc.items, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		a, b, err := SplitRequest(r)
		if err != nil {
			t.Fatalf("%s: %v", tc.sig, err)
		}
		if a.Items != tc.items/2 || a.Items+b.Items != tc.items || a.Compression != CompressionGzip || b.Encoding != sender.EncodingProto {
			t.Errorf("%s: halves %d + %d (%s, %s), want %d in all", tc.sig, a.Items, b.Items, a.Compression, b.Encoding, tc.items)
		}
	}
}

func traceReq(td ptrace.Traces) exportRequest    { return ptraceotlp.NewExportRequestFromTraces(td) }
func metricReq(md pmetric.Metrics) exportRequest { return pmetricotlp.NewExportRequestFromMetrics(md) }
func logReq(ld plog.Logs) exportRequest          { return plogotlp.NewExportRequestFromLogs(ld) }

// TestFault9c_GRPCRefusedAttemptsCountNoUplinkBytes: gRPC attempts to an
// address where nobody listens put nothing on the wire, so
// outpost_uplink_bytes_total stays 0 (before, every attempt counted its
// whole body); once a server is there, the bytes gRPC wrote count.
func TestFault9c_GRPCRefusedAttemptsCountNoUplinkBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	q := sender.DefaultQueueConfig()
	q.Enabled = false
	e, err := New(pipeline.Settings{ID: pipeline.MustID("otlp/wire"), Telemetry: tel, Uplink: uplink.New(uplink.Config{BytesPerSecond: 1 << 30}, tel)},
		NewGRPC(GRPCOptions{Endpoint: addr}), Options{
			Encoding: sender.EncodingProto, Compression: CompressionNone, Timeout: 5 * time.Second,
			Retry: sender.RetryConfig{Enabled: true, InitialInterval: 5 * time.Millisecond, MaxInterval: 20 * time.Millisecond,
				MaxElapsedTime: 300 * time.Millisecond, Multiplier: 2},
			Queue: q,
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	err = e.ConsumeTraces(context.Background(), testTraces(50))
	refused := testutil.ToFloat64(tel.UplinkBytes.WithLabelValues("otlp/wire"))
	attempts := testutil.ToFloat64(tel.ExporterRetries.WithLabelValues("otlp/wire", "traces")) + 1
	t.Logf("%g attempts to a closed port (err %v): uplink_bytes_total %g", attempts, err != nil, refused)
	if err == nil || refused != 0 {
		t.Errorf("err %v, uplink bytes %g; want an error and 0 bytes", err, refused)
	}
}

// TestFault10_GRPCEndpointCodesKeepTheBacklog: a queued OTLP/gRPC
// exporter meets each status code for its first 6 attempts: the endpoint
// codes (UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, UNIMPLEMENTED,
// UNKNOWN) and the transient ones keep every span and deliver it once the
// server accepts; INVALID_ARGUMENT drops the 6 batches it refused. Before,
// every code but the transient ones dropped what it refused.
func TestFault10_GRPCEndpointCodesKeepTheBacklog(t *testing.T) {
	const batches, spansPer, failures = 10, 10, 6
	for _, tc := range []struct {
		code    codes.Code
		blocked string
		dropped int
	}{
		{code: codes.Unauthenticated, blocked: sender.BlockedUnauthorized},
		{code: codes.PermissionDenied, blocked: sender.BlockedForbidden},
		{code: codes.NotFound, blocked: sender.BlockedNotFound},
		{code: codes.Unimplemented, blocked: sender.BlockedNotFound},
		{code: codes.Unknown, blocked: sender.BlockedUnexpectedStatus},
		{code: codes.Unavailable},
		{code: codes.InvalidArgument, dropped: failures * spansPer},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			sink := otlpsink.Start(t)
			tel := selftelemetry.New()
			var blockedDuring atomic.Bool
			var n atomic.Int64
			sink.SetFail(func(pipeline.Signal) *otlpsink.Failure {
				i := n.Add(1)
				if i > failures {
					return nil
				}
				if i == failures && tc.blocked != "" && testutil.ToFloat64(tel.ExporterBlocked.WithLabelValues("otlp/codes", tc.blocked)) == 1 {
					blockedDuring.Store(true)
				}
				return &otlpsink.Failure{Code: tc.code}
			})
			e, err := New(pipeline.Settings{ID: pipeline.MustID("otlp/codes"), Telemetry: tel, StorageDir: t.TempDir()},
				NewGRPC(GRPCOptions{Endpoint: sink.GRPCAddr()}), Options{
					Encoding: sender.EncodingProto, Compression: CompressionNone, Timeout: 5 * time.Second,
					Retry: sender.RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Multiplier: 2},
					Queue: oneRecordPerRequest(),
				})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := e.Shutdown(context.Background()); err != nil {
					t.Error(err)
				}
			}()
			for range batches {
				if err := e.ConsumeTraces(context.Background(), testTraces(spansPer)); err != nil {
					t.Fatal(err)
				}
			}
			failed := func() float64 {
				return testutil.ToFloat64(tel.ExporterFailed.WithLabelValues("otlp/codes", "traces", sender.ReasonPermanent))
			}
			deadline := time.Now().Add(20 * time.Second)
			for sink.Spans()+int64(failed()) < batches*spansPer && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			t.Logf("%s for %d attempts: %d spans queued, %d delivered (kept), %g dropped; blocked{%s} 1 during: %v",
				tc.code, failures, batches*spansPer, sink.Spans(), failed(), tc.blocked, blockedDuring.Load())
			if sink.Spans() != int64(batches*spansPer-tc.dropped) || failed() != float64(tc.dropped) {
				t.Errorf("delivered %d, dropped %g; want %d and %d", sink.Spans(), failed(), batches*spansPer-tc.dropped, tc.dropped)
			}
			if tc.blocked != "" && !blockedDuring.Load() {
				t.Errorf("outpost_exporter_blocked{reason=%q} was not 1 during the failures", tc.blocked)
			}
		})
	}
}

// oneRecordPerRequest is the default queue with merging off: the tests
// that count attempts per batch refuse the first requests whatever they
// hold (a merged request refused for good is sent again in halves, as
// pipeline/sender's batch tests show).
func oneRecordPerRequest() sender.QueueConfig {
	q := sender.DefaultQueueConfig()
	q.Batch.MinSize, q.Batch.MaxSize = 0, 1
	return q
}
