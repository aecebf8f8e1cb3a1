package selftelemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics, /healthz, /readyz, /debug/pprof/ (optional), and the status
// page: / (an HTML page embedded in the binary) and /api/v1/status (the
// JSON it polls, StatusDoc).
//
// /healthz answers 200 while the process runs; /readyz answers 200 once a
// pipeline graph is running and 503 before that, while shutting down, and
// while the check set by SetCheck returns an error.
type Server struct {
	srv   *http.Server
	ln    net.Listener
	ready atomic.Bool
	done  chan struct{}

	check atomic.Pointer[func() error]

	status *statusSource
}

// NewServer listens on address (host:port) and serves in the background;
// with pprof it also serves Go's profiles (net/http/pprof) under
// /debug/pprof/, which otherwise answers 404.
func NewServer(address string, pprofOn bool, m *Metrics, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("telemetry listen on %s: %w", address, err)
	}
	s := &Server{ln: ln, done: make(chan struct{}), status: &statusSource{m: m}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", serveStatusPage)
	mux.HandleFunc("GET /api/v1/status", s.status.serveJSON)
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if check := s.check.Load(); check != nil {
			if err := (*check)(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("telemetry server stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetReady sets what /readyz answers.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// SetCheck sets a check /readyz runs on each request: while it returns an
// error, /readyz answers 503 with the error's text (for example a disk
// queue whose fsync fails). It must be quick and safe for concurrent use.
func (s *Server) SetCheck(check func() error) { s.check.Store(&check) }

// SetTopology sets the pipeline graph the status page shows; the service
// calls it whenever a graph starts.
func (s *Server) SetTopology(t Topology) { s.status.setTopology(t) }

// SetLogRing sets where the status page takes the last errors from.
func (s *Server) SetLogRing(r *LogRing) {
	s.status.mu.Lock()
	s.status.errors = r
	s.status.mu.Unlock()
}

// Shutdown stops the server, waiting for open requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
