package journaldreceiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sink keeps the MESSAGE of every record it takes; fail, while > 0, makes
// that many calls fail with err instead.
type sink struct {
	mu    sync.Mutex
	msgs  []string
	recs  []plog.LogRecord
	fail  int
	err   error
	calls int
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail > 0 {
		s.fail--
		return s.err
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				s.msgs = append(s.msgs, lrs.At(k).Body().AsString())
				s.recs = append(s.recs, lrs.At(k))
			}
		}
	}
	return nil
}

func (s *sink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.msgs) }

func (s *sink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

func requireJournalctl(t *testing.T) {
	if _, err := os.Stat("/usr/bin/journalctl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("journalctl not found: `make apt-deps` installs it")
		}
		t.Skip("journalctl not found")
	}
}

// entries makes n fixture entries "<prefix> <i>", of the plc.service unit,
// priorities cycling 0-7.
func entries(prefix string, from, n int) []testutil.JournalEntry {
	out := make([]testutil.JournalEntry, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, testutil.JournalEntry{
			RealtimeMicros: 1_700_000_000_000_000 + int64(i),
			Fields: []testutil.JournalField{
				{Name: "MESSAGE", Value: fmt.Appendf(nil, "%s %d", prefix, i)},
				{Name: "PRIORITY", Value: fmt.Appendf(nil, "%d", i%8)},
				{Name: "_SYSTEMD_UNIT", Value: []byte("plc.service")},
				{Name: "SYSLOG_IDENTIFIER", Value: []byte("plc")},
			},
		})
	}
	return out
}

func startReceiver(t *testing.T, cfg *Config, dir string, s consumer.Logs) (*receiver, *selftelemetry.Metrics) {
	t.Helper()
	tel := selftelemetry.New()
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("journald"), Telemetry: tel, StorageDir: dir, Logger: testLogger(t)}, cfg, pipeline.Consumers{Logs: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return c.(*receiver), tel
}

func stop(t *testing.T, r *receiver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, what, cond)
}

func checkExact(t *testing.T, got []string, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %d messages, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
	}
}

func names(prefix string, from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

// TestJournalFile: a real journal file read from the beginning, followed
// while it grows, and, after a restart, resumed after the stored cursor
// with nothing read twice and nothing lost.
func TestJournalFile(t *testing.T) {
	requireJournalctl(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fixture.journal")
	store := filepath.Join(dir, "state")
	testutil.AppendJournal(t, file, 0, entries("first", 0, 700))
	cfg := createDefaultConfig()
	cfg.Files = []string{file}
	cfg.StartAt = StartAtBeginning
	cfg.Priority = "debug"
	s := &sink{}
	r, tel := startReceiver(t, cfg, store, s)
	waitFor(t, "700 entries", func() bool { return s.count() >= 700 })
	testutil.AppendJournal(t, file, 700, entries("followed", 700, 300))
	waitFor(t, "1000 entries", func() bool { return s.count() >= 1000 })
	stop(t, r)
	if n := promtest.ToFloat64(tel.ReceiverAccepted.WithLabelValues("journald", "logs", "journalctl")); n != 1000 {
		t.Fatalf("accepted %v, want 1000", n)
	}
	checkExact(t, s.messages(), append(names("first", 0, 700), names("followed", 700, 300)...))

	// Written while outpost was down: read after a restart, from the
	// stored cursor, whatever start_at says.
	testutil.AppendJournal(t, file, 1000, entries("offline", 1000, 250))
	cfg2 := *cfg
	cfg2.StartAt = StartAtEnd
	s2 := &sink{}
	r2, _ := startReceiver(t, &cfg2, store, s2)
	waitFor(t, "250 entries after the restart", func() bool { return s2.count() >= 250 })
	time.Sleep(300 * time.Millisecond) // more than flushAfter: a duplicate would have shown
	stop(t, r2)
	checkExact(t, s2.messages(), names("offline", 1000, 250))
	t.Logf("journal file: 700 read from the beginning, 300 followed, 250 resumed after a restart; %d + %d delivered, 0 lost, 0 twice", s.count(), s2.count())
}

// TestFilters: priority and units reach journalctl.
func TestFilters(t *testing.T) {
	requireJournalctl(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fixture.journal")
	es := entries("e", 0, 80)
	for i := range es {
		if i%2 == 1 {
			es[i].Fields[2].Value = []byte("other.service")
		}
	}
	testutil.AppendJournal(t, file, 0, es)
	cfg := createDefaultConfig()
	cfg.Files = []string{file}
	cfg.StartAt = StartAtBeginning
	cfg.Priority = "warning" // 0-4
	cfg.Units = []string{"plc.service"}
	s := &sink{}
	r, _ := startReceiver(t, cfg, t.TempDir(), s)
	var want []string
	for i := 0; i < 80; i += 2 {
		if i%8 <= 4 {
			want = append(want, fmt.Sprintf("e %d", i))
		}
	}
	waitFor(t, "filtered entries", func() bool { return s.count() >= len(want) })
	time.Sleep(300 * time.Millisecond)
	stop(t, r)
	checkExact(t, s.messages(), want)
}

// TestMapping: MESSAGE, PRIORITY, the timestamp, binary and repeated
// fields, from a real journal file.
func TestMapping(t *testing.T) {
	requireJournalctl(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fixture.journal")
	testutil.AppendJournal(t, file, 0, []testutil.JournalEntry{{
		RealtimeMicros: 1_700_000_000_123_456,
		Fields: []testutil.JournalField{
			{Name: "MESSAGE", Value: []byte("line one\nline two")},
			{Name: "PRIORITY", Value: []byte("3")},
			{Name: "TAG", Value: []byte("a")},
			{Name: "TAG", Value: []byte("b")},
			{Name: "BLOB", Value: []byte{0xff, 0x00, 0x01}},
			{Name: "_SYSTEMD_UNIT", Value: []byte("plc.service")},
		},
	}})
	cfg := createDefaultConfig()
	cfg.Files = []string{file}
	cfg.StartAt = StartAtBeginning
	s := &sink{}
	r, _ := startReceiver(t, cfg, t.TempDir(), s)
	waitFor(t, "the entry", func() bool { return s.count() >= 1 })
	stop(t, r)
	lr := s.recs[0]
	attrs := lr.Attributes().AsRaw()
	if lr.Body().Str() != "line one\nline two" || lr.SeverityNumber() != plog.SeverityNumberError || lr.SeverityText() != "err" ||
		lr.Timestamp().AsTime().UnixMicro() != 1_700_000_000_123_456 || lr.ObservedTimestamp() == 0 {
		t.Fatalf("record %q %v %q %v", lr.Body().Str(), lr.SeverityNumber(), lr.SeverityText(), lr.Timestamp())
	}
	if fmt.Sprint(attrs["TAG"]) != "[a b]" || fmt.Sprint(attrs["BLOB"]) != fmt.Sprint([]byte{0xff, 0, 1}) || attrs["_SYSTEMD_UNIT"] != "plc.service" ||
		attrs["__CURSOR"] == nil || attrs["MESSAGE"] != nil || attrs["PRIORITY"] != nil || attrs["__REALTIME_TIMESTAMP"] != nil {
		t.Fatalf("attributes %v", attrs)
	}
}

// TestBackPressure: while the pipeline refuses (a full queue), the batch
// is retried, reading pauses and the cursor stays; a restart then reads
// the refused batch again; once taken, every entry arrives exactly once.
func TestBackPressure(t *testing.T) {
	requireJournalctl(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fixture.journal")
	store := filepath.Join(dir, "state")
	testutil.AppendJournal(t, file, 0, entries("bp", 0, 100))
	cfg := createDefaultConfig()
	cfg.Files = []string{file}
	cfg.StartAt = StartAtBeginning
	cfg.Priority = "debug"
	s := &sink{fail: 1 << 30, err: errors.New("queue full")}
	r, tel := startReceiver(t, cfg, store, s)
	waitFor(t, "two refused attempts", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.calls >= 2 })
	stop(t, r)
	if _, err := os.Stat(filepath.Join(store, cursorFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cursor stored while the pipeline refused: %v", err)
	}
	if n := promtest.ToFloat64(tel.ReceiverRefused.WithLabelValues("journald", "logs", "journalctl", "unavailable")); n < 200 {
		t.Fatalf("refused{unavailable} %v, want ≥ 200", n)
	}
	// Restarted: the pipeline refuses twice more, then takes everything.
	s2 := &sink{fail: 2, err: errors.New("queue full")}
	r2, _ := startReceiver(t, cfg, store, s2)
	waitFor(t, "100 entries", func() bool { return s2.count() >= 100 })
	time.Sleep(300 * time.Millisecond)
	stop(t, r2)
	checkExact(t, s2.messages(), names("bp", 0, 100))

	// A permanent refusal drops the batch (counted) and moves on.
	testutil.AppendJournal(t, file, 100, entries("perm", 100, 10))
	s3 := &sink{fail: 1, err: consumererror.NewPermanent(errors.New("bad"))}
	r3, tel3 := startReceiver(t, cfg, store, s3)
	waitFor(t, "the refused batch", func() bool { s3.mu.Lock(); defer s3.mu.Unlock(); return s3.calls >= 1 })
	testutil.AppendJournal(t, file, 110, entries("after", 110, 5))
	waitFor(t, "the entries after the refused batch", func() bool { return s3.count() >= 5 })
	stop(t, r3)
	if n := promtest.ToFloat64(tel3.ReceiverRefused.WithLabelValues("journald", "logs", "journalctl", "permanent")); n != 10 {
		t.Fatalf("refused{permanent} %v, want 10", n)
	}
	checkExact(t, s3.messages(), names("after", 110, 5))
}

// TestRestartsJournalctl: journalctl exiting (here: the first two runs
// fail at once) is run again, after the cursor.
func TestRestartsJournalctl(t *testing.T) {
	requireJournalctl(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fixture.journal")
	testutil.AppendJournal(t, file, 0, entries("r", 0, 20))
	count := filepath.Join(dir, "runs")
	script := testutil.WriteFile(t, dir, "journalctl.sh", `#!/bin/sh
echo x >> `+count+`
if [ "$(wc -l < `+count+`)" -le 2 ]; then echo "failing on purpose" >&2; exit 1; fi
exec /usr/bin/journalctl "$@"
`)
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	cfg.Files = []string{file}
	cfg.StartAt = StartAtBeginning
	cfg.Priority = "debug"
	cfg.JournalctlPath = script
	s := &sink{}
	r, _ := startReceiver(t, cfg, t.TempDir(), s)
	waitFor(t, "20 entries", func() bool { return s.count() >= 20 })
	stop(t, r)
	checkExact(t, s.messages(), names("r", 0, 20))
	b, _ := os.ReadFile(count)
	if n := strings.Count(string(b), "x"); n != 3 {
		t.Fatalf("journalctl ran %d times, want 3", n)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestMemoryLimit: a batch is charged to memory_limit before it is
// decoded; while the limit is taken nothing is handed on (and nothing
// more read), and once room is given back every entry arrives, with every
// byte charged given back.
func TestMemoryLimit(t *testing.T) {
	requireJournalctl(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "fixture.journal")
	testutil.AppendJournal(t, file, 0, entries("m", 0, 50))
	mem := memlimit.New(8<<20, nil)
	hold, err := mem.Admit(mem.Capacity())
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	cfg.Files = []string{file}
	cfg.StartAt = StartAtBeginning
	cfg.Priority = "debug"
	s := &sink{}
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("journald"), StorageDir: t.TempDir(), Memory: mem}, cfg, pipeline.Consumers{Logs: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	r := c.(*receiver)
	// journalctl has printed the entries and the batch waits for room: the
	// sink has nothing as long as the limit is held.
	time.Sleep(1500 * time.Millisecond)
	if n := s.count(); n != 0 {
		t.Fatalf("%d entries handed on while memory_limit was taken", n)
	}
	hold.Release()
	waitFor(t, "50 entries once room is given back", func() bool { return s.count() >= 50 })
	stop(t, r)
	checkExact(t, s.messages(), names("m", 0, 50))
	if n := mem.InFlight(); n != 0 {
		t.Fatalf("%d bytes still charged", n)
	}
}
