package otlpexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// exportAll sends one batch of each signal and checks that the sink got
// exactly them, and that the metrics count them as sent.
func exportAll(t *testing.T, e *exporter, tel *selftelemetry.Metrics, sink *otlpsink.Sink) {
	t.Helper()
	ctx := context.Background()
	td, md, ld := testTraces(101), testMetrics(60), testLogs(33)
	if err := e.ConsumeTraces(ctx, td); err != nil {
		t.Fatalf("traces: %v", err)
	}
	if err := e.ConsumeMetrics(ctx, md); err != nil {
		t.Fatalf("metrics: %v", err)
	}
	if err := e.ConsumeLogs(ctx, ld); err != nil {
		t.Fatalf("logs: %v", err)
	}
	// The calls are synchronous: a nil error means the sink has answered.
	if sink.Spans() != 101 || sink.DataPoints() != 60 || sink.LogRecords() != 33 || sink.RequestCount() != 3 {
		t.Fatalf("sink got %d spans, %d points, %d records in %d requests", sink.Spans(), sink.DataPoints(), sink.LogRecords(), sink.RequestCount())
	}
	equalTraces(t, td, sink.Traces()[0])
	equalMetrics(t, md, sink.Metrics()[0])
	equalLogs(t, ld, sink.Logs()[0])
	for sig, n := range map[pipeline.Signal]float64{pipeline.SignalTraces: 101, pipeline.SignalMetrics: 60, pipeline.SignalLogs: 33} {
		if got := metric(t, tel, "outpost_exporter_sent_items_total", sig, ""); got != n {
			t.Errorf("sent %s = %g, want %g", sig, got, n)
		}
		if got := metric(t, tel, "outpost_exporter_sent_bytes_total", sig, ""); got <= 0 {
			t.Errorf("sent bytes %s = %g", sig, got)
		}
		if got := metric(t, tel, "outpost_exporter_send_retries_total", sig, ""); got != 0 {
			t.Errorf("retries %s = %g", sig, got)
		}
	}
}

func TestGRPCRoundTrip(t *testing.T) {
	for _, comp := range []string{CompressionNone, CompressionGzip, CompressionZstd} {
		t.Run(comp, func(t *testing.T) {
			sink := otlpsink.Start(t)
			e, tel := startExporter(t, grpcConfig(sink.GRPCAddr(), func(c *Config) {
				c.Compression = comp
				c.Headers = map[string]string{"X-Tenant": "acme", "authorization": "Bearer s3cret"}
			}))
			exportAll(t, e, tel, sink)
			wantComp := comp
			if comp == CompressionNone {
				wantComp = ""
			}
			for _, r := range sink.Requests() {
				if r.Transport != otlpsink.TransportGRPC || r.Compression != wantComp ||
					r.Header("x-tenant") != "acme" || r.Header("authorization") != "Bearer s3cret" ||
					!strings.HasPrefix(r.Header("user-agent"), "outpost") {
					t.Errorf("request %+v", r)
				}
			}
			// Sent bytes are what gRPC put on the wire (compressed).
			wire := sink.Requests()[0].WireBytes
			if got := metric(t, tel, "outpost_exporter_sent_bytes_total", pipeline.SignalTraces, ""); int(got) != wire+5 {
				t.Errorf("sent bytes %g, sink received %d (+5 framing)", got, wire)
			}
		})
	}
}

func TestHTTPRoundTrip(t *testing.T) {
	for _, enc := range []string{"proto", "json"} {
		for _, comp := range []string{CompressionNone, CompressionGzip, CompressionZstd} {
			t.Run(enc+"/"+comp, func(t *testing.T) {
				sink := otlpsink.Start(t)
				e, tel := startExporter(t, httpConfig(sink.HTTPURL(), func(c *HTTPConfig) {
					c.Encoding, c.Compression = enc, comp
					c.Headers = map[string]string{"X-Tenant": "acme"}
				}))
				exportAll(t, e, tel, sink)
				wantComp := comp
				if comp == CompressionNone {
					wantComp = ""
				}
				var wire float64
				for _, r := range sink.Requests() {
					if r.Transport != otlpsink.TransportHTTP || r.Encoding != enc || r.Compression != wantComp || r.Header("x-tenant") != "acme" {
						t.Errorf("request %+v", r)
					}
					if r.Signal == pipeline.SignalTraces {
						wire = float64(r.WireBytes)
					}
				}
				if got := metric(t, tel, "outpost_exporter_sent_bytes_total", pipeline.SignalTraces, ""); got != wire {
					t.Errorf("sent bytes %g, sink received %g", got, wire)
				}
			})
		}
	}
}

func TestHTTPSignalEndpoints(t *testing.T) {
	sink := otlpsink.Start(t)
	e, tel := startExporter(t, httpConfig("", func(c *HTTPConfig) {
		c.TracesEndpoint = sink.HTTPURL() + "/v1/traces"
		c.MetricsEndpoint = sink.HTTPURL() + "/v1/metrics"
	}))
	if err := e.ConsumeTraces(context.Background(), testTraces(3)); err != nil {
		t.Fatal(err)
	}
	err := e.ConsumeLogs(context.Background(), testLogs(2))
	if !consumererror.IsPermanent(err) || !strings.Contains(err.Error(), "logs_endpoint") {
		t.Fatalf("logs without an endpoint: %v", err)
	}
	if sink.Spans() != 3 || metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, sender.ReasonPermanent) != 2 {
		t.Fatalf("spans %d", sink.Spans())
	}
}

// retryCase is one scripted failure and what the exporter must make of it.
type retryCase struct {
	name    string
	failure otlpsink.Failure
	times   int // failures before the sink accepts; -1 for always
	retry   func(*sender.RetryConfig)
	check   func(t *testing.T, err error)
	// Expected counts.
	attempts int64
	retries  float64
	sent     float64
	failed   float64
	reason   string
	minTime  time.Duration
}

func retryCases() []retryCase {
	nilErr := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	permanent := func(msg string) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			t.Helper()
			if !consumererror.IsPermanent(err) || !strings.Contains(err.Error(), msg) {
				t.Fatalf("want a permanent error with %q, got %v", msg, err)
			}
		}
	}
	retryable := func(throttle bool) func(t *testing.T, err error) {
		return func(t *testing.T, err error) {
			t.Helper()
			if err == nil || consumererror.IsPermanent(err) {
				t.Fatalf("want a retryable error, got %v", err)
			}
			if _, ok := pipeline.IsThrottle(err); ok != throttle {
				t.Fatalf("throttle = %v, want %v: %v", ok, throttle, err)
			}
		}
	}
	short := func(c *sender.RetryConfig) { c.MaxElapsedTime = 300 * time.Millisecond }
	return []retryCase{
		{name: "unavailable thrice", failure: otlpsink.Failure{Code: codes.Unavailable}, times: 3,
			check: nilErr, attempts: 4, retries: 3, sent: 10},
		{name: "throttled with a hint", failure: otlpsink.Failure{Code: codes.ResourceExhausted, RetryAfter: time.Second}, times: 1,
			check: nilErr, attempts: 2, retries: 1, sent: 10, minTime: time.Second},
		{name: "unauthenticated is retried, the data kept", failure: otlpsink.Failure{Code: codes.Unauthenticated}, times: 2,
			check: nilErr, attempts: 3, retries: 2, sent: 10},
		{name: "permission denied is retried, the data kept", failure: otlpsink.Failure{Code: codes.PermissionDenied}, times: 1,
			check: nilErr, attempts: 2, retries: 1, sent: 10},
		{name: "invalid argument", failure: otlpsink.Failure{Code: codes.InvalidArgument, Message: "bad span 7"}, times: 1,
			check: permanent("bad span 7"), attempts: 1, failed: 10, reason: sender.ReasonPermanent},
		{name: "exhausted", failure: otlpsink.Failure{Code: codes.Unavailable}, times: -1, retry: short,
			check: retryable(false), attempts: -1, failed: 10, reason: sender.ReasonRetriesExhausted},
		{name: "exhausted on throttle", failure: otlpsink.Failure{Code: codes.ResourceExhausted, RetryAfter: time.Second}, times: -1, retry: short,
			check: retryable(true), attempts: 2, retries: 1, failed: 10, reason: sender.ReasonRetriesExhausted},
		{name: "partial success", failure: otlpsink.Failure{Rejected: 4, Message: "too old"}, times: 1,
			check: func(t *testing.T, err error) {
				var pe *pipeline.PartialError
				if !errors.As(err, &pe) || pe.Rejected != 4 || !strings.Contains(err.Error(), "too old") {
					t.Fatalf("want PartialError{4}, got %v", err)
				}
			}, attempts: 1, sent: 6, failed: 4, reason: sender.ReasonRejected},
	}
}

func TestGRPCRetries(t *testing.T) {
	for _, tc := range append(retryCases(),
		retryCase{name: "resource exhausted without retry info is too large: sent in halves",
			failure: otlpsink.Failure{Code: codes.ResourceExhausted, Message: "message larger than max"}, times: 1,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}, attempts: 3, sent: 10},
		retryCase{name: "retry info on unavailable is honoured",
			failure: otlpsink.Failure{Code: codes.Unavailable, RetryAfter: 300 * time.Millisecond}, times: 2,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}, attempts: 3, retries: 2, sent: 10, minTime: 600 * time.Millisecond},
	) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the throttle cases wait a second each
			sink := otlpsink.Start(t)
			runRetryCase(t, tc, sink, grpcConfig(sink.GRPCAddr(), func(c *Config) {
				if tc.retry != nil {
					tc.retry(&c.RetryOnFailure)
				}
			}))
		})
	}
}

func TestHTTPRetries(t *testing.T) {
	for _, tc := range append(retryCases(),
		retryCase{name: "503 with Retry-After", failure: otlpsink.Failure{HTTPStatus: 503, RetryAfter: time.Second}, times: 1,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}, attempts: 2, retries: 1, sent: 10, minTime: time.Second},
		retryCase{name: "500 is retried", failure: otlpsink.Failure{HTTPStatus: 500, Message: "boom"}, times: 1,
			check: func(t *testing.T, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}, attempts: 2, retries: 1, sent: 10},
		retryCase{name: "400 is permanent", failure: otlpsink.Failure{HTTPStatus: 400, Message: "bad"}, times: 1,
			check: func(t *testing.T, err error) {
				if !consumererror.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 400: bad") {
					t.Fatalf("want permanent with the message, got %v", err)
				}
			}, attempts: 1, failed: 10, reason: sender.ReasonPermanent},
	) {
		for _, enc := range []string{"proto", "json"} {
			t.Run(tc.name+"/"+enc, func(t *testing.T) {
				t.Parallel()
				sink := otlpsink.Start(t)
				runRetryCase(t, tc, sink, httpConfig(sink.HTTPURL(), func(c *HTTPConfig) {
					c.Encoding = enc
					if tc.retry != nil {
						tc.retry(&c.RetryOnFailure)
					}
				}))
			})
		}
	}
}

func runRetryCase(t *testing.T, tc retryCase, sink *otlpsink.Sink, cfg pipeline.Config) {
	t.Helper()
	e, tel := startExporter(t, cfg)
	if tc.times < 0 {
		sink.FailAlways(tc.failure)
	} else {
		sink.FailNext(tc.times, tc.failure)
	}
	start := time.Now()
	err := e.ConsumeTraces(context.Background(), testTraces(10))
	elapsed := time.Since(start)
	tc.check(t, err)
	if tc.attempts >= 0 && sink.RequestCount() != tc.attempts {
		t.Errorf("attempts = %d, want %d", sink.RequestCount(), tc.attempts)
	}
	if tc.attempts < 0 && sink.RequestCount() < 3 {
		t.Errorf("only %d attempts before giving up", sink.RequestCount())
	}
	if elapsed < tc.minTime {
		t.Errorf("took %s, want at least %s", elapsed, tc.minTime)
	}
	if tc.retries > 0 {
		if got := metric(t, tel, "outpost_exporter_send_retries_total", pipeline.SignalTraces, ""); got != tc.retries {
			t.Errorf("retries = %g, want %g", got, tc.retries)
		}
	}
	if got := metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalTraces, ""); got != tc.sent {
		t.Errorf("sent = %g, want %g", got, tc.sent)
	}
	if int64(tc.sent) != sink.Spans() {
		t.Errorf("sink accepted %d spans, want %g", sink.Spans(), tc.sent)
	}
	for _, r := range []string{sender.ReasonPermanent, sender.ReasonRetriesExhausted, sender.ReasonShutdown, sender.ReasonRejected} {
		want := 0.0
		if r == tc.reason {
			want = tc.failed
		}
		if got := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalTraces, r); got != want {
			t.Errorf("failed{%s} = %g, want %g", r, got, want)
		}
	}
}

func TestShutdownDuringRetry(t *testing.T) {
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			sink := otlpsink.Start(t)
			slow := func(c *sender.RetryConfig) {
				c.InitialInterval, c.MaxInterval, c.MaxElapsedTime = time.Minute, time.Minute, 0
			}
			var cfg pipeline.Config
			if proto == "grpc" {
				cfg = grpcConfig(sink.GRPCAddr(), func(c *Config) { slow(&c.RetryOnFailure) })
			} else {
				cfg = httpConfig(sink.HTTPURL(), func(c *HTTPConfig) { slow(&c.RetryOnFailure) })
			}
			e, tel := startExporter(t, cfg)
			sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable})
			done := make(chan error, 1)
			go func() { done <- e.ConsumeLogs(context.Background(), testLogs(5)) }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := sink.Wait(ctx, func() bool { return sink.FailedCount() == 1 }); err != nil {
				t.Fatal("first attempt never arrived")
			}
			start := time.Now()
			if err := e.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, sender.ErrStopped) || consumererror.IsPermanent(err) {
					t.Fatalf("want a retryable ErrStopped, got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("ConsumeLogs still running after Shutdown")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("shutdown took %s", d)
			}
			if got := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, sender.ReasonShutdown); got != 5 {
				t.Errorf("failed{shutdown} = %g", got)
			}
			if err := e.ConsumeLogs(context.Background(), testLogs(1)); !errors.Is(err, sender.ErrStopped) {
				t.Errorf("consume after shutdown: %v", err)
			}
		})
	}
}

func TestUnreachableEndpointIsRetried(t *testing.T) {
	// A port nobody listens on: take a sink's and close it.
	sink, err := otlpsink.New(otlpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpURL := sink.GRPCAddr(), sink.HTTPURL()
	sink.Close()
	short := func(c *sender.RetryConfig) { c.MaxElapsedTime = 200 * time.Millisecond }
	for name, cfg := range map[string]pipeline.Config{
		"grpc": grpcConfig(grpcAddr, func(c *Config) { short(&c.RetryOnFailure) }),
		"http": httpConfig(httpURL, func(c *HTTPConfig) { short(&c.RetryOnFailure) }),
	} {
		t.Run(name, func(t *testing.T) {
			e, tel := startExporter(t, cfg)
			err := e.ConsumeTraces(context.Background(), testTraces(2))
			if err == nil || consumererror.IsPermanent(err) {
				t.Fatalf("want retryable, got %v", err)
			}
			if metric(t, tel, "outpost_exporter_send_retries_total", pipeline.SignalTraces, "") < 1 {
				t.Fatal("no retries")
			}
		})
	}
}

func TestTLSEndpoints(t *testing.T) {
	certFile, _, sinkTLS := testServerTLS(t)
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1000, KeepRequests: 10, TLS: sinkTLS})

	g, _ := startExporter(t, grpcConfig(sink.GRPCAddr(), func(c *Config) {
		c.TLS.Insecure = false
		c.TLS.CAFile = certFile
	}))
	if err := g.ConsumeTraces(context.Background(), testTraces(3)); err != nil {
		t.Fatalf("grpc over TLS: %v", err)
	}
	h, _ := startExporter(t, httpConfig(sink.HTTPURL(), func(c *HTTPConfig) { c.TLS.CAFile = certFile }))
	if err := h.ConsumeTraces(context.Background(), testTraces(4)); err != nil {
		t.Fatalf("https: %v", err)
	}
	if sink.Spans() != 7 {
		t.Fatalf("spans %d", sink.Spans())
	}

	// Without the CA the server is not trusted; that is retried (the CA
	// file may be fixed, or the server's certificate renewed).
	u, _ := startExporter(t, grpcConfig(sink.GRPCAddr(), func(c *Config) {
		c.TLS.Insecure = false
		c.RetryOnFailure.MaxElapsedTime = 100 * time.Millisecond
	}))
	if err := u.ConsumeTraces(context.Background(), testTraces(1)); err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("untrusted server: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	sink := otlpsink.Start(t)
	for _, cfg := range []pipeline.Config{grpcConfig(sink.GRPCAddr(), nil), httpConfig(sink.HTTPURL(), nil)} {
		t.Run(fmt.Sprintf("%T", cfg), func(t *testing.T) {
			f := NewFactory()
			if _, ok := cfg.(*HTTPConfig); ok {
				f = NewHTTPFactory()
			}
			ctx := context.Background()
			set := pipeline.Settings{ID: pipeline.MustID(testID)}

			// Shutdown without Start.
			c, err := f.Create(ctx, set, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctx, nil); err == nil {
				t.Fatal("start after shutdown accepted")
			}

			c, err = f.Create(ctx, set, cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := c.(*exporter)
			if e.Capabilities().MutatesData {
				t.Fatal("MutatesData")
			}
			for range 2 {
				if err := c.Start(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.ConsumeMetrics(ctx, testMetrics(3)); err != nil {
				t.Fatal(err)
			}
			if err := e.ConsumeMetrics(ctx, testMetrics(0)); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := c.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if sink.DataPoints() != 6 || sink.RequestCount() != 2 {
		t.Fatalf("points %d in %d requests (empty batches must not be sent)", sink.DataPoints(), sink.RequestCount())
	}
}

func TestCreateRejects(t *testing.T) {
	ctx := context.Background()
	set := pipeline.Settings{ID: pipeline.MustID(testID)}
	if _, err := NewFactory().Create(ctx, set, createDefaultHTTPConfig()); err == nil {
		t.Error("otlp accepted an HTTPConfig")
	}
	if c, err := NewFactory().Create(ctx, set, createDefaultConfig()); err == nil || c != nil {
		t.Errorf("no endpoint: %v, %v", c, err)
	}
	cfg := grpcConfig("127.0.0.1:4317", func(c *Config) { c.TLS = testTLSMissingCA() })
	if _, err := NewFactory().Create(ctx, set, cfg); err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Errorf("missing CA file: %v", err)
	}
}
