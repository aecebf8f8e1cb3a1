package syslogreceiver

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testHost struct{ listeners pipeline.Listeners }

func (h *testHost) Listen(network, address string) (net.Listener, error) {
	return h.listeners.Listen(network, address)
}

// sink is a logs consumer that keeps what it takes; while refuse is set
// it answers every batch with err instead.
type sink struct {
	mu      sync.Mutex
	records []plog.LogRecord
	batches int
	refuse  error
	refused int
	changed chan struct{} // signalled (non-blocking) on every call
	discard bool          // count records, keep none (benchmarks)
	n       int
}

func newSink() *sink { return &sink{changed: make(chan struct{}, 1)} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}()
	if s.refuse != nil {
		s.refused++
		return s.refuse
	}
	s.batches++
	if s.discard {
		s.n += ld.LogRecordCount()
		return nil
	}
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				c := plog.NewLogRecord()
				lr.CopyTo(c)
				s.records = append(s.records, c)
			}
		}
	}
	return nil
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) setRefuse(err error) {
	s.mu.Lock()
	s.refuse = err
	s.mu.Unlock()
}

func (s *sink) snapshot() []plog.LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]plog.LogRecord(nil), s.records...)
}

func (s *sink) counts() (records, batches, refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records), s.batches, s.refused
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type running struct {
	r    *receiver
	tel  *selftelemetry.Metrics
	tcp  string
	udp  string
	sink *sink
	// shutDown is set by a test that shuts the receiver down itself.
	shutDown bool
}

// start runs a receiver on free 127.0.0.1 ports with cfg (TCP and UDP
// addresses replaced by port 0) and stops it at the end of the test.
func start(t testing.TB, cfg *Config, mem *memlimit.Limiter) *running {
	t.Helper()
	if cfg.TCP != nil {
		cfg.TCP.ListenAddress = "127.0.0.1:0"
	}
	if cfg.UDP != nil {
		cfg.UDP.ListenAddress = "127.0.0.1:0"
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	s := newSink()
	id := pipeline.ID{Type: Type}
	r, err := newReceiver(pipeline.Settings{ID: id, Telemetry: tel, Memory: mem}, cfg, pipeline.Consumers{Logs: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	st := &running{r: r, tel: tel, sink: s}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil && !st.shutDown {
			t.Errorf("shutdown: %v", err)
		}
	})
	tcp, udp := r.addrs()
	if tcp != nil {
		st.tcp = tcp.String()
	}
	if udp != nil {
		st.udp = udp.String()
	}
	return st
}

func (s *running) accepted(transport string) float64 {
	return testutil.ToFloat64(s.tel.ReceiverAccepted.WithLabelValues(Type, "logs", transport))
}

func (s *running) refusedN(transport, reason string) float64 {
	return testutil.ToFloat64(s.tel.ReceiverRefused.WithLabelValues(Type, "logs", transport, reason))
}

func (s *running) badN(transport, reason string) float64 {
	return testutil.ToFloat64(s.tel.ReceiverBadRequests.WithLabelValues(Type, "logs", transport, reason))
}

func tcpConfig(mutate func(*Config)) *Config {
	c := createDefaultConfig()
	c.TCP = &TCPConfig{}
	c.TCP.SetDefaults()
	c.Batch.Timeout = 20 * time.Millisecond
	if mutate != nil {
		mutate(c)
	}
	return c
}

func ptr[T any](v T) *T { return &v }
