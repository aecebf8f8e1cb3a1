package otlpreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/pipeline"
)

// send exports p over a transport and reports any failure as an error, for
// use from goroutines.
func send(ctx context.Context, r *testReceiver, transport string, p payload) error {
	if transport == transportGRPC {
		cc, err := newClientConn(r.grpcAddr)
		if err != nil {
			return err
		}
		defer cc.Close()
		_, _, err = grpcExport(ctx, cc, p)
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.httpAddr+p.path, bytes.NewReader(p.proto))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentTypeProto)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestShutdownDrainsInFlight(t *testing.T) {
	for _, transport := range []string{transportHTTP, transportGRPC} {
		t.Run(transport, func(t *testing.T) {
			s := newSink()
			s.block = make(chan struct{})
			s.entered = make(chan struct{}, 1)
			r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
			p := payloads(t)[0]

			sent := make(chan error, 1)
			go func() { sent <- send(context.Background(), r, transport, p) }()
			select {
			case <-s.entered:
			case <-time.After(5 * time.Second):
				t.Fatal("request never reached the pipeline")
			}

			stopped := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				stopped <- r.Shutdown(ctx)
			}()
			select {
			case err := <-stopped:
				t.Fatalf("Shutdown returned (%v) while a request was in the pipeline", err)
			case <-time.After(100 * time.Millisecond):
			}
			close(s.block)

			select {
			case err := <-sent:
				if err != nil {
					t.Errorf("in-flight request failed: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("in-flight request never finished")
			}
			select {
			case err := <-stopped:
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Shutdown never returned")
			}
			if got := s.got(p.sig); got != p.items {
				t.Errorf("sink has %d, want %d", got, p.items)
			}
			// Idempotent, and the port is closed.
			if err := r.Shutdown(context.Background()); err != nil {
				t.Errorf("second Shutdown: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := send(ctx, r, transport, p); err == nil {
				t.Error("request after Shutdown succeeded")
			}
		})
	}
}

func TestShutdownHonoursDeadline(t *testing.T) {
	for _, transport := range []string{transportHTTP, transportGRPC} {
		t.Run(transport, func(t *testing.T) {
			s := newSink()
			s.block = make(chan struct{})
			s.entered = make(chan struct{}, 1)
			r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))

			sent := make(chan error, 1)
			go func() { sent <- send(context.Background(), r, transport, payloads(t)[0]) }()
			select {
			case <-s.entered:
			case <-time.After(5 * time.Second):
				t.Fatal("request never reached the pipeline")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := r.Shutdown(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want deadline exceeded", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Shutdown took %v past a 100ms deadline", d)
			}
			close(s.block)
			select {
			case <-sent: // success or a broken connection: either is fine
			case <-time.After(5 * time.Second):
				t.Fatal("client never finished")
			}
		})
	}
}

// trackingHost records the listeners it hands out.
type trackingHost struct {
	listeners pipeline.Listeners
	mu        sync.Mutex
	open      map[net.Listener]bool
}

type trackedListener struct {
	net.Listener
	h *trackingHost
}

func (l trackedListener) Close() error {
	l.h.mu.Lock()
	delete(l.h.open, l)
	l.h.mu.Unlock()
	return l.Listener.Close()
}

func (h *trackingHost) Listen(network, address string) (net.Listener, error) {
	ln, err := h.listeners.Listen(network, address)
	if err != nil {
		return nil, err
	}
	tl := trackedListener{ln, h}
	h.mu.Lock()
	if h.open == nil {
		h.open = map[net.Listener]bool{}
	}
	h.open[tl] = true
	h.mu.Unlock()
	return tl, nil
}

func (h *trackingHost) openCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.open)
}

func TestLifecycle(t *testing.T) {
	create := func(cfg *Config) *receiver {
		comp, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("otlp")}, cfg, newSink().consumers(t, allSignals...))
		if err != nil {
			t.Fatal(err)
		}
		return comp.(*receiver)
	}
	ctx := context.Background()

	t.Run("shutdown before start", func(t *testing.T) {
		r := create(bothProtocols())
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, &testHost{}); err == nil {
			t.Fatal("Start after Shutdown succeeded")
		}
	})

	t.Run("start twice", func(t *testing.T) {
		h := &trackingHost{}
		r := create(bothProtocols())
		if err := r.Start(ctx, h); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, h); err == nil {
			t.Error("second Start succeeded")
		}
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if n := h.openCount(); n != 0 {
			t.Errorf("%d listeners left open after Shutdown", n)
		}
	})

	t.Run("listen fails", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		cfg := bothProtocols()
		cfg.Protocols.HTTP.Endpoint = busy.Addr().String()
		h := &trackingHost{}
		r := create(cfg)
		if err := r.Start(ctx, h); err == nil {
			t.Fatal("Start on a busy port succeeded")
		}
		if n := h.openCount(); n != 0 {
			t.Errorf("%d listeners left open after a failed Start", n)
		}
		if err := r.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wrong config type", func(t *testing.T) {
		if _, err := NewFactory().Create(ctx, pipeline.Settings{}, nil, pipeline.Consumers{}); err == nil {
			t.Error("Create with a nil config succeeded")
		}
		if _, err := NewFactory().Create(ctx, pipeline.Settings{}, createDefaultConfig(), pipeline.Consumers{}); err == nil {
			t.Error("Create with an invalid config succeeded")
		}
	})
}

// TestReloadKeepsServing runs two receivers on one fixed endpoint, as the
// old and new graph do during a reload: stopping the old one must not stop
// the port.
func TestReloadKeepsServing(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()

	cfg := createDefaultConfig()
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.Protocols.HTTP.Endpoint = addr
	host := &testHost{}
	ctx := context.Background()
	newStarted := func(s *sink) *receiver {
		comp, err := NewFactory().Create(ctx, pipeline.Settings{ID: pipeline.MustID("otlp")}, cfg, s.consumers(t, allSignals...))
		if err != nil {
			t.Fatal(err)
		}
		r := comp.(*receiver)
		if err := r.Start(ctx, host); err != nil {
			t.Fatal(err)
		}
		return r
	}
	oldSink, curSink := newSink(), newSink()
	old := newStarted(oldSink)
	cur := newStarted(curSink)
	defer cur.Shutdown(ctx)
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	p := payloads(t)[0]
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for range 5 {
		resp, err := client.Post("http://"+addr+p.path, contentTypeProto, bytes.NewReader(p.proto))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if got := curSink.got(p.sig); got != 5*p.items {
		t.Errorf("new receiver got %d spans, want %d", got, 5*p.items)
	}
}
