package prometheusremotewritereceiver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
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
	limited   *logLimiter
	telemetry *selftelemetry.Metrics
	memory    *memlimit.Limiter // nil: unlimited
	next      consumer.Metrics
	meta      *metadataCache // nil: off
	counters  *counters
	bufs      sync.Pool // *[]byte: request bodies, compressed and decoded

	mu     sync.Mutex
	state  lifecycle
	server *http.Server
	addr   net.Addr
	served chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

func newReceiver(set pipeline.Settings, cfg *Config, next consumer.Metrics) *receiver {
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
		id:        set.ID,
		cfg:       cfg,
		logger:    logger,
		limited:   newLogLimiter(logger, logEvery),
		telemetry: tel,
		memory:    set.Memory,
		next:      next,
		meta:      newMetadataCache(cfg.MetadataCacheSize),
	}
	r.counters = newCounters(tel, set.ID.String())
	return r
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
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("remote-write server stopped serving", "error", err)
		}
	}()
	r.state = started
	if capacity := r.memory.Capacity(); capacity > 0 {
		if most := r.memory.MaxRequestSize(int64(r.cfg.MaxRequestBodySize)); most < int64(r.cfg.MaxRequestBodySize) {
			r.logger.Info("memory_limit lets one remote-write request hold less than max_request_body_size; larger requests are refused with 413",
				"max_request_body_size", int64(r.cfg.MaxRequestBodySize), "largest_body_bytes", most,
				"in_flight_capacity_bytes", capacity, "bytes_per_body_byte", memlimit.Expansion)
		}
	}
	return nil
}

// newServer builds the HTTP server around the handler. It is kept apart
// from Start so that a TLS or authenticating wrapper can be put around
// the handler or the listener in one place.
func (r *receiver) newServer() *http.Server {
	return &http.Server{
		Handler:           r,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(logWriter{r.limited}, "", 0),
	}
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

// logLimiter writes at most one line per key and interval; the next line
// written for a key says how many were suppressed.
type logLimiter struct {
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newLogLimiter(logger *slog.Logger, every time.Duration) *logLimiter {
	return &logLimiter{logger: logger, every: every, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

func (l *logLimiter) log(level slog.Level, key, msg string, args ...any) {
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.suppressed[key]++
		l.mu.Unlock()
		return
	}
	l.last[key] = now
	n := l.suppressed[key]
	delete(l.suppressed, key)
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.logger.Log(context.Background(), level, msg, args...)
}

// logWriter turns net/http's error log into rate-limited warnings.
type logWriter struct{ l *logLimiter }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.log(slog.LevelWarn, "http_server", "remote-write server: "+strings.TrimSpace(string(p)))
	return len(p), nil
}
