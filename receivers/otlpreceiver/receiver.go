package otlpreceiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc"

	"github.com/outpost-edge/outpost/internal/loglimit"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Values of the transport label.
const (
	transportGRPC = "grpc"
	transportHTTP = "http"
)

// Values of the reason label of ReceiverRefused.
const (
	reasonThrottled   = "throttled"
	reasonUnavailable = "unavailable"
	reasonPermanent   = "permanent"
	reasonRejected    = "rejected"
)

// Values of the reason label of ReceiverBadRequests.
const (
	reasonDecode               = "decode"
	reasonTooLarge             = "too_large"
	reasonUnsupportedMediaType = "unsupported_media_type"
	reasonUnsupportedEncoding  = "unsupported_encoding"
	reasonMethodNotAllowed     = "method_not_allowed"
	reasonMemoryLimit          = "memory_limit"
	reasonUnauthenticated      = "unauthenticated"
)

// memoryRetryAfter is the retry hint of a request refused at the memory
// limit: data in flight drains within moments.
const memoryRetryAfter = time.Second

// logEvery is the shortest interval between two log lines of one kind.
const logEvery = 10 * time.Second

type lifecycle uint8

const (
	created lifecycle = iota
	started
	stopped
)

// receiver serves OTLP over gRPC and HTTP for every signal wired to it.
type receiver struct {
	id         pipeline.ID
	cfg        *Config
	logger     *slog.Logger
	limitedLog *loglimit.Limiter
	telemetry  *selftelemetry.Metrics
	memory     *memlimit.Limiter // nil: unlimited

	// One handler per wired signal; nil when the signal is not wired.
	traces  *handler[ptrace.Traces]
	metrics *handler[pmetric.Metrics]
	logs    *handler[plog.Logs]

	body *bodyReader // nil without HTTP

	// The protocols' TLS, auth and CORS, their files read at creation;
	// nil when the protocol is off.
	grpcSec *serverconfig.Server
	httpSec *serverconfig.Server

	mu         sync.Mutex
	state      lifecycle
	grpcServer *grpc.Server
	httpServer *http.Server
	grpcAddr   net.Addr
	httpAddr   net.Addr
	// Closed when each Serve goroutine has returned.
	grpcServed chan struct{}
	httpServed chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

func newReceiver(set pipeline.Settings, cfg *Config, next pipeline.Consumers) (*receiver, error) {
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		// Not in a running graph (a test or a tool): count into a registry
		// of our own that nobody serves.
		tel = selftelemetry.New()
	}
	r := &receiver{
		id:         set.ID,
		cfg:        cfg,
		memory:     set.Memory,
		logger:     logger,
		limitedLog: loglimit.New(logger, logEvery),
		telemetry:  tel,
	}
	if g := cfg.Protocols.GRPC; g != nil {
		sec, err := serverconfig.New(g.server(), logger)
		if err != nil {
			return nil, fmt.Errorf("otlp receiver %s: protocols.grpc.%w", set.ID, err)
		}
		r.grpcSec = sec
	}
	if h := cfg.Protocols.HTTP; h != nil {
		r.body = newBodyReader(int64(h.MaxRequestBodySize))
		sec, err := serverconfig.New(h.server(), logger)
		if err != nil {
			return nil, fmt.Errorf("otlp receiver %s: protocols.http.%w", set.ID, err)
		}
		r.httpSec = sec
	}
	if next.Traces != nil {
		r.traces = newHandler(r, tracesDef, next.Traces.ConsumeTraces)
	}
	if next.Metrics != nil {
		r.metrics = newHandler(r, metricsDef, next.Metrics.ConsumeMetrics)
	}
	if next.Logs != nil {
		r.logs = newHandler(r, logsDef, next.Logs.ConsumeLogs)
	}
	return r, nil
}

// Start opens the listeners through host and serves in the background.
func (r *receiver) Start(_ context.Context, host pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case started:
		return fmt.Errorf("otlp receiver %s: already started", r.id)
	case stopped:
		return fmt.Errorf("otlp receiver %s: already shut down", r.id)
	}
	var grpcLn, httpLn net.Listener
	if g := r.cfg.Protocols.GRPC; g != nil {
		ln, err := host.Listen("tcp", g.Endpoint)
		if err != nil {
			return fmt.Errorf("otlp receiver %s: grpc: listen on %s: %w", r.id, g.Endpoint, err)
		}
		grpcLn = ln
	}
	if h := r.cfg.Protocols.HTTP; h != nil {
		ln, err := host.Listen("tcp", h.Endpoint)
		if err != nil {
			if grpcLn != nil {
				_ = grpcLn.Close()
			}
			return fmt.Errorf("otlp receiver %s: http: listen on %s: %w", r.id, h.Endpoint, err)
		}
		httpLn = ln
	}

	if grpcLn != nil {
		s := r.newGRPCServer()
		r.grpcServer, r.grpcAddr = s, grpcLn.Addr()
		served := make(chan struct{})
		r.grpcServed = served
		go func() {
			defer close(served)
			// Serve closes the listener when it returns.
			if err := s.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.logger.Error("OTLP/gRPC server stopped serving", "error", err)
			}
		}()
	}
	if httpLn != nil {
		s := r.newHTTPServer()
		r.httpServer, r.httpAddr = s, httpLn.Addr()
		served := make(chan struct{})
		r.httpServed = served
		ln := r.httpSec.HTTPListener(httpLn)
		go func() {
			defer close(served)
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.logger.Error("OTLP/HTTP server stopped serving", "error", err)
			}
		}()
	}
	r.state = started
	if g := r.cfg.Protocols.GRPC; g != nil {
		r.grpcSec.WarnIfExposed(r.logger, transportGRPC, g.Endpoint)
	}
	if h := r.cfg.Protocols.HTTP; h != nil {
		r.httpSec.WarnIfExposed(r.logger, transportHTTP, h.Endpoint)
	}
	r.logMemoryCaps()
	return nil
}

// Shutdown stops accepting, lets in-flight requests finish through the
// pipeline and closes the listeners. When ctx ends first, connections are
// closed at once and ctx's error is returned; requests then still in the
// pipeline finish in the background. Shutdown is idempotent.
func (r *receiver) Shutdown(ctx context.Context) error {
	r.shutdownOnce.Do(func() { r.shutdownErr = r.shutdown(ctx) })
	return r.shutdownErr
}

func (r *receiver) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.state = stopped
	gs, hs := r.grpcServer, r.httpServer
	grpcServed, httpServed := r.grpcServed, r.httpServed
	r.mu.Unlock()

	// Both at once, so that neither keeps accepting while the other drains.
	var wg sync.WaitGroup
	var grpcErr, httpErr error
	if gs != nil {
		wg.Go(func() {
			// GracefulStop refuses new requests and returns once the
			// in-flight ones are answered; Serve returns after it.
			drained := make(chan struct{})
			go func() {
				gs.GracefulStop()
				<-grpcServed
				close(drained)
			}()
			select {
			case <-drained:
			case <-ctx.Done():
				// Close every connection now. A handler still in the
				// pipeline cannot be interrupted; GracefulStop, Stop and
				// Serve all return in the background once it has
				// (gRPC's Stop waits for the lock GracefulStop holds).
				go gs.Stop()
				grpcErr = fmt.Errorf("otlp receiver %s: grpc: stop: %w", r.id, ctx.Err())
			}
		})
	}
	if hs != nil {
		wg.Go(func() {
			// Shutdown closes the listener (Serve returns at once) and
			// waits for in-flight requests to be answered.
			if err := hs.Shutdown(ctx); err != nil {
				_ = hs.Close()
				httpErr = fmt.Errorf("otlp receiver %s: http: shutdown: %w", r.id, err)
			}
			<-httpServed
		})
	}
	wg.Wait()
	return errors.Join(grpcErr, httpErr)
}

// addrs returns the addresses the receiver listens on (nil for a protocol
// that is off or before Start); tests use it with port 0.
func (r *receiver) addrs() (grpcAddr, httpAddr net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grpcAddr, r.httpAddr
}

// counters are the metric series of one signal on one transport, bound once
// so that the request path does no label lookups.
type counters struct {
	transport string

	accepted           prometheus.Counter
	refusedThrottled   prometheus.Counter
	refusedUnavailable prometheus.Counter
	refusedPermanent   prometheus.Counter
	refusedRejected    prometheus.Counter

	badDecode    prometheus.Counter
	badTooLarge  prometheus.Counter
	badMediaType prometheus.Counter
	badEncoding  prometheus.Counter
	badMethod    prometheus.Counter
	badMemory    prometheus.Counter
	badAuth      prometheus.Counter // nil without auth
}

func (r *receiver) newCounters(signal pipeline.Signal, transport string) *counters {
	id, sig := r.id.String(), string(signal)
	refused := func(reason string) prometheus.Counter {
		return r.telemetry.ReceiverRefused.WithLabelValues(id, sig, transport, reason)
	}
	bad := func(reason string) prometheus.Counter {
		return r.telemetry.ReceiverBadRequests.WithLabelValues(id, sig, transport, reason)
	}
	c := &counters{
		transport:          transport,
		accepted:           r.telemetry.ReceiverAccepted.WithLabelValues(id, sig, transport),
		refusedThrottled:   refused(reasonThrottled),
		refusedUnavailable: refused(reasonUnavailable),
		refusedPermanent:   refused(reasonPermanent),
		refusedRejected:    refused(reasonRejected),
		badDecode:          bad(reasonDecode),
		badTooLarge:        bad(reasonTooLarge),
		badMemory:          bad(reasonMemoryLimit),
	}
	sec := r.grpcSec
	if transport == transportHTTP {
		sec = r.httpSec
	}
	if sec.AuthEnabled() {
		c.badAuth = bad(reasonUnauthenticated)
	}
	if transport == transportHTTP {
		// gRPC refuses these before a handler runs; only HTTP counts them.
		c.badMediaType = bad(reasonUnsupportedMediaType)
		c.badEncoding = bad(reasonUnsupportedEncoding)
		c.badMethod = bad(reasonMethodNotAllowed)
	}
	return c
}

// record counts the items of a request that reached the pipeline.
func (c *counters) record(o outcome, items int) {
	n := float64(items)
	switch o.kind {
	case outcomeAccepted:
		c.accepted.Add(n)
	case outcomePartial:
		c.accepted.Add(n - float64(o.rejected))
		c.refusedRejected.Add(float64(o.rejected))
	case outcomePermanent:
		c.refusedPermanent.Add(n)
	case outcomeThrottled:
		c.refusedThrottled.Add(n)
	default:
		c.refusedUnavailable.Add(n)
	}
}

// bad returns the bad-request counter for a reason.
func (c *counters) bad(reason string) prometheus.Counter {
	switch reason {
	case reasonTooLarge:
		return c.badTooLarge
	case reasonUnsupportedMediaType:
		return c.badMediaType
	case reasonUnsupportedEncoding:
		return c.badEncoding
	case reasonMethodNotAllowed:
		return c.badMethod
	case reasonMemoryLimit:
		return c.badMemory
	case reasonUnauthenticated:
		return c.badAuth
	default:
		return c.badDecode
	}
}

func refusedReason(k outcomeKind) string {
	switch k {
	case outcomeThrottled:
		return reasonThrottled
	case outcomePermanent:
		return reasonPermanent
	case outcomePartial:
		return reasonRejected
	default:
		return reasonUnavailable
	}
}
