package otlpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip decompressor with gRPC

	"github.com/outpost-edge/outpost/internal/grpccompress"
	"github.com/outpost-edge/outpost/pipeline"
)

// Transports, as recorded in RequestInfo.
const (
	TransportGRPC = "grpc"
	TransportHTTP = "http"
)

// DefaultMaxRecvBytes bounds a request body, before and after
// decompression.
const DefaultMaxRecvBytes = 64 << 20

// Options configure a Sink. The zero value counts and keeps nothing.
type Options struct {
	// KeepItems bounds the items kept per signal for Traces, Metrics and
	// Logs; a batch that would go past it is counted but not kept. 0 keeps
	// nothing.
	KeepItems int
	// KeepRequests bounds the RequestInfo records kept for Requests and
	// LastRequest; the oldest go first. 0 keeps none.
	KeepRequests int
	// TLS, when set, serves both protocols over TLS with this
	// configuration (HTTPURL is then https://).
	TLS *tls.Config
	// MaxRecvBytes bounds a request body, compressed and decompressed; 0
	// means DefaultMaxRecvBytes.
	MaxRecvBytes int
	// GRPCAddr and HTTPAddr are the addresses to listen on; "" picks a
	// free 127.0.0.1 port. A test that takes a sink down and brings it
	// back passes the first sink's addresses to the second.
	GRPCAddr, HTTPAddr string
}

// DefaultOptions are what Start uses: generous retention for assertions.
func DefaultOptions() Options {
	return Options{KeepItems: 1 << 20, KeepRequests: 1024}
}

// RequestInfo describes one request the sink received.
type RequestInfo struct {
	Transport   string          // TransportGRPC or TransportHTTP
	Signal      pipeline.Signal // what was exported
	Encoding    string          // "proto" or "json" (gRPC is always proto)
	Compression string          // "gzip", "zstd", or "" for none
	// Headers are the HTTP headers or gRPC metadata, keys in lower case;
	// use Header to read one.
	Headers map[string][]string
	// WireBytes is the body as it arrived (compressed).
	WireBytes int
	// Items counts the spans, data points or log records in the request
	// (0 when it was failed before decoding).
	Items int
	// Time is when the request arrived.
	Time time.Time
	// Failed is set when the sink answered with an injected error; Rejected
	// is the count refused by an injected partial success.
	Failed   bool
	Rejected int64
}

// Header returns the first value of a header or metadata key, in any case.
func (r RequestInfo) Header(key string) string {
	if v := r.Headers[strings.ToLower(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Sink is a running OTLP server. Its methods are safe for concurrent use.
type Sink struct {
	opts Options

	grpcLn, httpLn net.Listener
	grpcSrv        *grpc.Server
	httpSrv        *http.Server
	httpURL        string
	serving        sync.WaitGroup
	closeOnce      sync.Once

	spans, points, logRecords atomic.Int64 // accepted items
	requestCount, failedCount atomic.Int64

	fail atomic.Pointer[FailFunc]
	// requireAuth, when set, is the only Authorization value accepted.
	requireAuth atomic.Pointer[string]

	mu        sync.Mutex
	traces    []ptrace.Traces
	metrics   []pmetric.Metrics
	logs      []plog.Logs
	keptItems [3]int
	requests  []RequestInfo // ring of at most KeepRequests
	reqNext   int           // once the ring is full, the oldest record

	zstdDec *zstd.Decoder
	bufs    sync.Pool // *[]byte
	gzips   sync.Pool // *gzip.Reader
}

// New starts a sink on two free 127.0.0.1 ports.
func New(opts Options) (*Sink, error) {
	if opts.MaxRecvBytes <= 0 {
		opts.MaxRecvBytes = DefaultMaxRecvBytes
	}
	grpccompress.Register()
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(opts.MaxRecvBytes)), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, fmt.Errorf("otlpsink: zstd decoder: %w", err)
	}
	s := &Sink{opts: opts, zstdDec: dec}
	if opts.KeepRequests > 0 {
		s.requests = make([]RequestInfo, 0, min(opts.KeepRequests, 1024))
	}

	if s.grpcLn, err = net.Listen("tcp", orFree(opts.GRPCAddr)); err != nil {
		dec.Close()
		return nil, fmt.Errorf("otlpsink: listen for gRPC: %w", err)
	}
	if s.httpLn, err = net.Listen("tcp", orFree(opts.HTTPAddr)); err != nil {
		s.grpcLn.Close()
		dec.Close()
		return nil, fmt.Errorf("otlpsink: listen for HTTP: %w", err)
	}

	gopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxRecvBytes),
		grpc.StatsHandler(rpcStats{}),
		grpc.ForceServerCodecV2(rawCodec{}),
	}
	scheme := "http"
	httpLn := s.httpLn
	if opts.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
		scheme = "https"
		httpLn = tls.NewListener(s.httpLn, opts.TLS)
	}
	s.grpcSrv = grpc.NewServer(gopts...)
	s.registerGRPC()
	s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.httpURL = scheme + "://" + s.httpLn.Addr().String()

	s.serving.Add(2)
	go func() {
		defer s.serving.Done()
		_ = s.grpcSrv.Serve(s.grpcLn)
	}()
	go func() {
		defer s.serving.Done()
		_ = s.httpSrv.Serve(httpLn)
	}()
	return s, nil
}

func orFree(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// Start starts a sink with DefaultOptions and closes it when the test ends.
func Start(t testing.TB) *Sink { return StartWith(t, DefaultOptions()) }

// StartWith starts a sink with opts and closes it when the test ends.
func StartWith(t testing.TB, opts Options) *Sink {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Close stops both servers at once (requests in progress are cut) and
// waits for them. It is idempotent.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.grpcSrv.Stop()
		_ = s.httpSrv.Close()
		s.serving.Wait()
		s.zstdDec.Close()
	})
	return nil
}

// GRPCAddr is the gRPC host:port.
func (s *Sink) GRPCAddr() string { return s.grpcLn.Addr().String() }

// HTTPURL is the HTTP base URL (http://127.0.0.1:port, no trailing slash);
// the signals are served on /v1/traces, /v1/metrics and /v1/logs.
func (s *Sink) HTTPURL() string { return s.httpURL }

// Spans is the number of spans accepted (rejected ones excluded).
func (s *Sink) Spans() int64 { return s.spans.Load() }

// DataPoints is the number of metric data points accepted.
func (s *Sink) DataPoints() int64 { return s.points.Load() }

// LogRecords is the number of log records accepted.
func (s *Sink) LogRecords() int64 { return s.logRecords.Load() }

// RequestCount is the number of export requests received, failed or not.
func (s *Sink) RequestCount() int64 { return s.requestCount.Load() }

// FailedCount is the number of requests answered with an injected error.
func (s *Sink) FailedCount() int64 { return s.failedCount.Load() }

// Traces returns the kept trace batches, in arrival order. They are the
// sink's: read them, don't modify them.
func (s *Sink) Traces() []ptrace.Traces {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Traces(nil), s.traces...)
}

// Metrics returns the kept metric batches, in arrival order.
func (s *Sink) Metrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// Logs returns the kept log batches, in arrival order.
func (s *Sink) Logs() []plog.Logs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.Logs(nil), s.logs...)
}

// Requests returns the kept request records, oldest first.
func (s *Sink) Requests() []RequestInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RequestInfo, 0, len(s.requests))
	out = append(out, s.requests[s.reqNext:]...)
	return append(out, s.requests[:s.reqNext]...)
}

// LastRequest returns the most recent request record.
func (s *Sink) LastRequest() (RequestInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return RequestInfo{}, false
	}
	i := s.reqNext - 1
	if i < 0 {
		i = len(s.requests) - 1
	}
	return s.requests[i], true
}

// Reset forgets everything received: counters, kept data and records. It
// leaves the failure mode alone.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans.Store(0)
	s.points.Store(0)
	s.logRecords.Store(0)
	s.requestCount.Store(0)
	s.failedCount.Store(0)
	s.traces, s.metrics, s.logs = nil, nil, nil
	s.keptItems = [3]int{}
	s.requests, s.reqNext = s.requests[:0], 0
}

// Wait polls cond until it holds or ctx is done; for harnesses outside
// tests.
func (s *Sink) Wait(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// WaitSpans fails the test unless at least n spans are accepted within
// timeout.
func (s *Sink) WaitSpans(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	s.waitCount(t, "spans", s.Spans, n, timeout)
}

// WaitDataPoints fails the test unless at least n data points are
// accepted within timeout.
func (s *Sink) WaitDataPoints(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	s.waitCount(t, "data points", s.DataPoints, n, timeout)
}

// WaitLogRecords fails the test unless at least n log records are
// accepted within timeout.
func (s *Sink) WaitLogRecords(t testing.TB, n int64, timeout time.Duration) {
	t.Helper()
	s.waitCount(t, "log records", s.LogRecords, n, timeout)
}

func (s *Sink) waitCount(t testing.TB, what string, get func() int64, n int64, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.Wait(ctx, func() bool { return get() >= n }); err != nil {
		t.Fatalf("otlpsink: %d %s received within %s, want %d", get(), what, timeout, n)
	}
}

func signalIndex(sig pipeline.Signal) int {
	switch sig {
	case pipeline.SignalTraces:
		return 0
	case pipeline.SignalMetrics:
		return 1
	}
	return 2
}

// accept counts a decoded request's items (less the rejected ones) and
// keeps the batch if there is room.
func (s *Sink) accept(sig pipeline.Signal, items int, rejected int64, keep func()) {
	n := int64(items) - rejected
	switch sig {
	case pipeline.SignalTraces:
		s.spans.Add(n)
	case pipeline.SignalMetrics:
		s.points.Add(n)
	case pipeline.SignalLogs:
		s.logRecords.Add(n)
	}
	if s.opts.KeepItems <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := signalIndex(sig)
	if s.keptItems[i]+items <= s.opts.KeepItems {
		s.keptItems[i] += items
		keep()
	}
}

// record counts a request and keeps its record.
func (s *Sink) record(info RequestInfo) {
	s.requestCount.Add(1)
	if info.Failed {
		s.failedCount.Add(1)
	}
	if s.opts.KeepRequests <= 0 {
		return
	}
	info.Time = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) < s.opts.KeepRequests {
		s.requests = append(s.requests, info)
		return
	}
	s.requests[s.reqNext] = info
	s.reqNext = (s.reqNext + 1) % len(s.requests)
}

// keepRequests reports whether request records are kept, so that the
// receive path can skip building their headers.
func (s *Sink) keepRequests() bool { return s.opts.KeepRequests > 0 }

var errTooLarge = errors.New("request body too large")
