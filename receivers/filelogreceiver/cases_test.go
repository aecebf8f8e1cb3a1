package filelogreceiver

import (
	"compress/gzip"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"golang.org/x/text/encoding/unicode"

	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The file identity and rotation cases of the Collector's fileconsumer
// design notes: each must deliver every line exactly once.
func TestFileCases(t *testing.T) {
	cases := []struct {
		name string
		run  func(h *harness) []lineRange
	}{
		{"grow", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 25)
			h.waitLines(25)
			h.write("a.log", "a", 25, 60)
			h.waitLines(60)
			return []lineRange{{"a", 0, 60}}
		}},
		{"moved (rename, then create: logrotate create)", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			h.write("a.log", "a", 30, 40) // unread when renamed
			mustRename(h.t, h.path("a.log"), h.path("a.log.1"))
			h.write("a.log", "b", 0, 20)
			h.waitLines(60)
			return []lineRange{{"a", 0, 40}, {"b", 0, 20}}
		}},
		{"moved within the globs is followed", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			mustRename(h.t, h.path("a.log"), h.path("a.log.old"))
			h.write("a.log.old", "a", 30, 35)
			h.waitLines(35)
			return []lineRange{{"a", 0, 35}}
		}},
		{"copied (a copy is not read again)", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			copyFile(h.t, h.path("a.log"), h.path("a.log.copy"))
			h.write("a.log", "a", 30, 35)
			h.waitLines(35)
			h.settle()
			return []lineRange{{"a", 0, 35}}
		}},
		{"copied to a name taken first, in another group of max_concurrent_files", func(h *harness) []lineRange {
			h.write("b.log", "b", 0, 30)
			h.waitLines(30)
			h.rcv.pauseForTest(func() {
				copyFile(h.t, h.path("b.log"), h.path("a.log"))
				h.write("a2.log", "c", 0, 1) // a.log, a2.log | b.log: two groups
			})
			h.write("b.log", "b", 30, 35)
			h.waitLines(36)
			h.settle()
			return []lineRange{{"b", 0, 35}, {"c", 0, 1}}
		}},
		{"two files that start alike (short) are both read", func(h *harness) []lineRange {
			h.rcv.pauseForTest(func() {
				h.write("a.log", "x", 0, 1)
				h.write("b.log", "x", 0, 1)
			})
			h.waitLines(1)
			h.settle()
			// Only the one not read grows: it differs from the one read
			// only beyond the bytes they had.
			h.write("b.log", "y", 0, 10)
			h.waitLines(12)
			h.settle()
			got := map[string]int{}
			for _, l := range h.sink.snapshot() {
				got[l]++
			}
			// Identical while short, they are one file to the tailer;
			// once they differ, the other is new and read whole.
			if got["x 000000"] != 2 || len(got) != 11 || len(h.sink.snapshot()) != 12 {
				h.t.Errorf("got %v", got)
			}
			return nil
		}},
		{"copytruncate", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			h.rcv.pauseForTest(func() {
				h.write("a.log", "a", 30, 40) // unread at the copy
				copyFile(h.t, h.path("a.log"), h.path("a.log.1"))
				if err := os.Truncate(h.path("a.log"), 0); err != nil {
					h.t.Fatal(err)
				}
				h.write("a.log", "b", 0, 20)
			})
			h.waitLines(60)
			return []lineRange{{"a", 0, 40}, {"b", 0, 20}}
		}},
		{"truncated and rewritten", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			if err := os.Truncate(h.path("a.log"), 0); err != nil {
				h.t.Fatal(err)
			}
			h.settle()
			h.write("a.log", "c", 0, 5)
			h.waitLines(35)
			return []lineRange{{"a", 0, 30}, {"c", 0, 5}}
		}},
		{"deleted and recreated", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			if err := os.Remove(h.path("a.log")); err != nil {
				h.t.Fatal(err)
			}
			h.settle()
			h.write("a.log", "d", 0, 12)
			h.waitLines(42)
			return []lineRange{{"a", 0, 30}, {"d", 0, 12}}
		}},
		{"many files", func(h *harness) []lineRange {
			var want []lineRange
			for _, n := range []string{"f1", "f2", "f3", "f4", "f5"} {
				h.write(n+".log", n, 0, 23)
				want = append(want, lineRange{n, 0, 23})
			}
			h.waitLines(5 * 23)
			return want
		}},
		{"restart mid-file", func(h *harness) []lineRange {
			h.write("a.log", "a", 0, 30)
			h.waitLines(30)
			h.stop()
			h.write("a.log", "a", 30, 55)
			h.write("new.log", "n", 0, 7) // appeared while stopped
			h.start()
			h.waitLines(62)
			return []lineRange{{"a", 0, 55}, {"n", 0, 7}}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxConcurrentFiles = 2 })
			h.start()
			want := c.run(h)
			h.settle()
			if want != nil {
				h.want(want...)
			}
		})
	}
}

// TestStartAtEnd: files found at the first start are read from their end,
// files found later (and everything after a restart) from their beginning.
func TestStartAtEnd(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.StartAt = StartAtEnd })
	h.write("old.log", "old", 0, 10)
	h.start()
	h.settle()
	h.write("old.log", "old", 10, 15)
	h.write("new.log", "new", 0, 5)
	h.waitLines(10)
	h.stop()
	h.write("old.log", "old", 15, 18)
	h.start()
	h.waitLines(13)
	h.settle()
	h.want(lineRange{"old", 10, 18}, lineRange{"new", 0, 5})
}

// TestBackPressure: while the pipeline refuses, nothing advances and
// nothing is lost; when it accepts again every line arrives once.
func TestBackPressure(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	h.write("a.log", "a", 0, 20)
	h.waitLines(20)
	h.sink.failing.Store(true)
	h.write("a.log", "a", 20, 100)
	h.waitRefusals(3)
	entries, _, err := loadCheckpoint(h.storage)
	if err != nil || len(entries) != 1 {
		t.Fatalf("checkpoint %v, %v", entries, err)
	}
	if want := int64(20 * len("a 000000\n")); entries[0].Offset != want {
		t.Errorf("checkpoint offset %d under back-pressure, want %d", entries[0].Offset, want)
	}
	// Restart while refused: the checkpoint holds.
	h.stop()
	h.start()
	h.waitRefusals(3)
	h.sink.failing.Store(false)
	h.waitLines(100)
	h.settle()
	h.want(lineRange{"a", 0, 100})
}

func TestMultilineAndMaxLogSize(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Multiline.LineStartPattern = `^\d{4}-`
		c.MaxLogSize = 64
	})
	h.start()
	content := "2026-01-01 first\n  at a\n  at b\n2026-01-02 second\n" + "2026-01-03 " + strings.Repeat("x", 100) + "\n2026-01-04 last\n"
	if err := os.WriteFile(h.path("m.log"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitLines(5) // the last record waits for force_flush_period
	got := h.sink.snapshot()
	if got[0] != "2026-01-01 first\n  at a\n  at b" || got[1] != "2026-01-02 second" {
		t.Errorf("multiline records %q", got[:2])
	}
	if len(got[2]) != 64 {
		t.Errorf("record over max_log_size has %d bytes, want 64", len(got[2]))
	}
	if n := testutilCounter(h.tel.Filelog.AlteredLines.WithLabelValues("filelog", reasonSplit)); n < 1 {
		t.Errorf("split lines counted %v", n)
	}
}

func TestCompressedReadOnce(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Compression = "auto" })
	f, err := os.Create(h.path("old.log.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	for i := range 25 {
		zw.Write([]byte(lineOf("z", i)))
	}
	zw.Write([]byte("z last-unterminated"))
	zw.Close()
	f.Close()
	h.start()
	h.waitLines(26)
	h.stop()
	h.start()
	h.settle()
	got := h.sink.snapshot()
	if len(got) != 26 || got[25] != "z last-unterminated" {
		t.Errorf("got %d lines, last %q", len(got), got[len(got)-1])
	}
}

func lineOf(prefix string, i int) string { return fmt.Sprintf("%s %06d\n", prefix, i) }

func testutilCounter(c prometheus.Counter) float64 { return promtestutil.ToFloat64(c) }

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadHandOver: the receiver of a reloaded configuration (same
// storage directory) starts before the old one stops; it reads nothing
// until the old one has let go, then goes on from its checkpoint.
func TestReloadHandOver(t *testing.T) {
	h := newHarness(t, nil)
	h.start()
	h.write("a.log", "a", 0, 30)
	h.waitLines(30)
	h2 := &harness{t: t, logDir: h.logDir, storage: h.storage, cfg: h.cfg, sink: &lineSink{}, tel: h.tel}
	h2.start()
	h.write("a.log", "a", 30, 40)
	h.waitLines(40)
	h.settle()
	if n := len(h2.sink.snapshot()); n != 0 {
		t.Fatalf("the new receiver read %d lines while the old one ran", n)
	}
	h.stop()
	h.write("a.log", "a", 40, 45)
	h2.waitLines(5)
	h2.settle()
	h.want(lineRange{"a", 0, 40})
	h2.want(lineRange{"a", 40, 45})
}

func TestEncodingsAndAttributes(t *testing.T) {
	t.Run("utf-16le", func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.Encoding = "utf-16le" })
		h.start()
		enc := unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder()
		b, err := enc.Bytes([]byte("héllo\nwörld\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(h.path("u.log"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		h.waitLines(2)
		if got := h.sink.snapshot(); got[0] != "héllo" || got[1] != "wörld" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("invalid utf-8 and file attributes", func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.IncludeFilePath = true
			c.IncludeFileNameResolved = true
			c.IncludeFilePathResolved = true
		})
		if err := os.WriteFile(h.path("target.txt"), []byte("ok line\nbad \xff\xfe line\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(h.path("target.txt"), h.path("link.log")); err != nil {
			t.Fatal(err)
		}
		h.start()
		h.waitLines(2)
		h.sink.mu.Lock()
		rec := h.sink.recs[1]
		h.sink.mu.Unlock()
		if got := rec.Body().Str(); got != "bad \uFFFD line" {
			t.Errorf("body %q", got)
		}
		attrs := rec.Attributes().AsRaw()
		want := map[string]any{attrFileName: "link.log", attrFilePath: h.path("link.log"), attrFileNameResolved: "target.txt", attrFilePathResolved: h.path("target.txt")}
		if fmtRaw(attrs) != fmtRaw(want) {
			t.Errorf("attributes %v, want %v", attrs, want)
		}
		if n := testutilCounter(h.tel.Filelog.AlteredLines.WithLabelValues("filelog", reasonInvalidEncoding)); n != 1 {
			t.Errorf("invalid_encoding counted %v, want 1", n)
		}
	})
}

// TestMemoryLimit: batches are charged to memory_limit while the pipeline
// takes them; with a limit smaller than a batch, the batch is cut to fit
// and every line still arrives. The charge is given back after each batch.
func TestMemoryLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBatchSize = 1000 })
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight"})
	h.memory = memlimit.New(64<<10, inFlight)
	var peak float64
	h.sink.onConsume = func() { peak = max(peak, promtestutil.ToFloat64(inFlight)) }
	h.start()
	h.write("a.log", "a", 0, 5000) // 45 kB: more than the limit lets one batch hold
	h.waitLines(5000)
	h.settle()
	h.want(lineRange{"a", 0, 5000})
	if peak == 0 || peak > 64<<10 {
		t.Errorf("peak charge %v bytes, want within (0, %d]", peak, 64<<10)
	}
	if got := promtestutil.ToFloat64(inFlight); got != 0 {
		t.Errorf("%v bytes still charged", got)
	}
}
