package filelogreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// lineSink collects the bodies of the records it accepts; while failing
// is set it refuses every batch with a retryable error.
type lineSink struct {
	mu      sync.Mutex
	lines   []string
	recs    []plog.LogRecord
	failing atomic.Bool
	refused atomic.Int64
	// onConsume, when set, is called for each batch accepted.
	onConsume func()
}

func (s *lineSink) consume(_ context.Context, ld plog.Logs) error {
	if s.failing.Load() {
		s.refused.Add(1)
		return errors.New("queue full")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onConsume != nil {
		s.onConsume()
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				s.lines = append(s.lines, lrs.At(k).Body().AsString())
				s.recs = append(s.recs, lrs.At(k))
			}
		}
	}
	return nil
}

func (s *lineSink) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// harness runs one receiver on a directory of files, with its storage in
// a directory of its own that outlives restarts.
type harness struct {
	t       *testing.T
	logDir  string
	storage string
	cfg     *Config
	sink    *lineSink
	tel     *selftelemetry.Metrics
	memory  *memlimit.Limiter
	rcv     *receiver
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, logDir: t.TempDir(), storage: t.TempDir(), sink: &lineSink{}, tel: selftelemetry.New()}
	cfg := createDefaultConfig()
	cfg.Include = []string{filepath.Join(h.logDir, "*.log*")}
	cfg.StartAt = StartAtBeginning
	cfg.PollInterval = 10 * time.Millisecond
	cfg.FingerprintSize = 32
	cfg.MaxBatchSize = 10
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	return h
}

func (h *harness) start() {
	h.t.Helper()
	next, err := consumer.NewLogs(h.sink.consume)
	if err != nil {
		h.t.Fatal(err)
	}
	set := pipeline.Settings{ID: pipeline.MustID("filelog"), Telemetry: h.tel, StorageDir: h.storage, Memory: h.memory}
	c, err := NewFactory().Create(context.Background(), set, h.cfg, pipeline.Consumers{Logs: next})
	if err != nil {
		h.t.Fatal(err)
	}
	h.rcv = c.(*receiver)
	if err := h.rcv.Start(context.Background(), nil); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.rcv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.rcv.Shutdown(ctx); err != nil {
		h.t.Error(err)
	}
	h.rcv = nil
}

func (h *harness) path(name string) string { return filepath.Join(h.logDir, name) }

// write appends lines "<prefix> <i>" for i in [from, to) to the file.
func (h *harness) write(name, prefix string, from, to int) {
	h.t.Helper()
	f, err := os.OpenFile(h.path(name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(f, "%s %06d\n", prefix, i); err != nil {
			h.t.Fatal(err)
		}
	}
}

// waitLines waits until the sink holds n lines.
func (h *harness) waitLines(n int) {
	h.t.Helper()
	testutil.Eventually(h.t, 10*time.Second, fmt.Sprintf("%d lines at the sink", n), func() bool {
		return len(h.sink.snapshot()) >= n
	})
}

// settle waits until the receiver has polled at least twice more, so that
// a test can check that nothing else arrives.
func (h *harness) settle() {
	h.t.Helper()
	n := h.rcv.polls.Load()
	testutil.Eventually(h.t, 10*time.Second, "three more polls", func() bool { return h.rcv.polls.Load() >= n+3 })
}

// want checks the sink got exactly the lines "<prefix> <i>" for i in
// [from, to) of each range, each once, in any order across files.
func (h *harness) want(ranges ...lineRange) {
	h.t.Helper()
	got := map[string]int{}
	for _, l := range h.sink.snapshot() {
		got[l]++
	}
	want := map[string]bool{}
	for _, r := range ranges {
		for i := r.from; i < r.to; i++ {
			want[fmt.Sprintf("%s %06d", r.prefix, i)] = true
		}
	}
	for l := range want {
		if got[l] == 0 {
			h.t.Errorf("line %q missing", l)
		}
	}
	for l, n := range got {
		if !want[l] {
			h.t.Errorf("unexpected line %q", l)
		} else if n > 1 {
			h.t.Errorf("line %q delivered %d times", l, n)
		}
	}
}

type lineRange struct {
	prefix   string
	from, to int
}

// waitRefusals waits until the sink refused n more batches.
func (h *harness) waitRefusals(n int64) {
	h.t.Helper()
	start := h.sink.refused.Load()
	testutil.Eventually(h.t, 10*time.Second, "refused batches", func() bool { return h.sink.refused.Load() >= start+n })
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
