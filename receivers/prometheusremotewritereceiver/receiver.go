package prometheusremotewritereceiver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/internal/loglimit"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// transport is the transport label of the receiver's metrics.
const transport = "http"

const (
	// readHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris).
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections idle for this long.
	idleTimeout = 2 * time.Minute
	// logEvery is the shortest interval between two log lines of one kind.
	logEvery = 10 * time.Second
)

type lifecycle uint8

const (
	created lifecycle = iota
	started
	stopped
)

// receiver serves the remote-write endpoint.
type receiver struct {
	id        pipeline.ID
	cfg       *Config
	logger    *slog.Logger
	limited   *loglimit.Limiter
	telemetry *selftelemetry.Metrics
	memory    *memlimit.Limiter // nil: unlimited
	next      consumer.Metrics
	meta      *metadataCache // nil: off
	counters  *counters
	sec       *serverconfig.Server // tls and auth
	bufs      sync.Pool            // *[]byte: request bodies, compressed and decoded

	mu     sync.Mutex
	state  lifecycle
	server *http.Server
	addr   net.Addr
	served chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// newReceiver reads the files of the tls and auth blocks: a missing or
// invalid one is an error naming its key.
func newReceiver(set pipeline.Settings, cfg *Config, next consumer.Metrics) (*receiver, error) {
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sec, err := serverconfig.New(cfg.server(), logger)
	if err != nil {
		return nil, fmt.Errorf("prometheusremotewrite receiver %s: %w", set.ID, err)
	}
	tel := set.Telemetry
	if tel == nil {
		// Not in a running graph (a test or a tool): count into a registry
		// of our own that nobody serves.
		tel = selftelemetry.New()
	}
	r := &receiver{
		id:        set.ID,
		cfg:       cfg,
		logger:    logger,
		limited:   loglimit.New(logger, logEvery),
		telemetry: tel,
		memory:    set.Memory,
		next:      next,
		meta:      newMetadataCache(cfg.MetadataCacheSize),
		sec:       sec,
	}
	r.counters = newCounters(tel, set.ID.String())
	return r, nil
}

// Start opens the listener through host and serves in the background.
func (r *receiver) Start(_ context.Context, host pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case started:
		return fmt.Errorf("prometheusremotewrite receiver %s: already started", r.id)
	case stopped:
		return fmt.Errorf("prometheusremotewrite receiver %s: already shut down", r.id)
	}
	ln, err := host.Listen("tcp", r.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("prometheusremotewrite receiver %s: listen on %s: %w", r.id, r.cfg.Endpoint, err)
	}
	s := r.newServer()
	r.server, r.addr = s, ln.Addr()
	served := make(chan struct{})
	r.served = served
	go func() {
		defer close(served)
		// With tls, HTTPS (HTTP/2 and HTTP/1.1 by ALPN), the certificate
		// files followed at each handshake.
		if err := s.Serve(r.sec.HTTPListener(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("remote-write server stopped serving", "error", err)
		}
	}()
	r.state = started
	r.sec.WarnIfExposed(r.logger, transport, r.cfg.Endpoint)
	if capacity := r.memory.Capacity(); capacity > 0 {
		if most := r.memory.MaxRequestSize(int64(r.cfg.MaxRequestBodySize)); most < int64(r.cfg.MaxRequestBodySize) {
			r.logger.Info("memory_limit lets one remote-write request hold less than max_request_body_size; larger requests are refused with 413",
				"max_request_body_size", int64(r.cfg.MaxRequestBodySize), "largest_body_bytes", most,
				"in_flight_capacity_bytes", capacity, "bytes_per_body_byte", memlimit.Expansion)
		}
	}
	return nil
}

// newServer builds the HTTP server around the handler, behind the
// authentication of the auth block (checked before the body is read).
func (r *receiver) newServer() *http.Server {
	return &http.Server{
		Handler:           r.sec.HTTPHandler(r, r.denied),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(r.limited.Writer("http_server", "remote-write server: "), "", 0),
	}
}

// denied answers a request refused for its credentials: 401 (with
// WWW-Authenticate, set by the wrapper), counted as a bad request with
// reason unauthenticated (on url_path only, as other paths serve
// nothing). Prometheus does not retry a 401: its samples are dropped on
// its side, and its remote-write metrics count them.
func (r *receiver) denied(w http.ResponseWriter, req *http.Request, err error) {
	if req.URL.Path == r.cfg.URLPath {
		r.counters.bad(reasonUnauthenticated).Inc()
	}
	r.limited.Log(slog.LevelWarn, reasonUnauthenticated, "refused a remote-write request without valid credentials",
		"remote", req.RemoteAddr, "error", err)
	http.Error(w, "missing or invalid credentials", http.StatusUnauthorized)
}

// Shutdown stops accepting, lets in-flight requests finish through the
// pipeline and closes the listener. When ctx ends first, connections are
// closed at once and ctx's error is returned. Shutdown is idempotent.
func (r *receiver) Shutdown(ctx context.Context) error {
	r.shutdownOnce.Do(func() {
		r.mu.Lock()
		r.state = stopped
		s, served := r.server, r.served
		r.mu.Unlock()
		if s == nil {
			return
		}
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
			r.shutdownErr = fmt.Errorf("prometheusremotewrite receiver %s: shutdown: %w", r.id, err)
		}
		<-served
	})
	return r.shutdownErr
}

// address returns the address the receiver listens on (nil before Start);
// tests use it with port 0.
func (r *receiver) address() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// counters are the receiver's metric series, bound once.
type counters struct {
	accepted prometheus.Counter
	refused  func(reason string) prometheus.Counter
	bad      func(reason string) prometheus.Counter
}

func newCounters(tel *selftelemetry.Metrics, id string) *counters {
	sig := string(pipeline.SignalMetrics)
	return &counters{
		accepted: tel.ReceiverAccepted.WithLabelValues(id, sig, transport),
		refused: func(reason string) prometheus.Counter {
			return tel.ReceiverRefused.WithLabelValues(id, sig, transport, reason)
		},
		bad: func(reason string) prometheus.Counter {
			return tel.ReceiverBadRequests.WithLabelValues(id, sig, transport, reason)
		},
	}
}
