package throttleprocessor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

type sink struct {
	mu    sync.Mutex
	calls int
	got   map[string]int // records by stream/severity text
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.got == nil {
		s.got = map[string]int{}
	}
	for _, rl := range ld.ResourceLogs().All() {
		svc, _ := rl.Resource().Attributes().Get("service.name")
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				s.got[svc.Str()+"/"+lr.SeverityText()]++
			}
		}
	}
	return nil
}

func (s *sink) count(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[k]
}

type env struct {
	p    *processor
	sink *sink
	tel  *selftelemetry.Metrics
}

func newEnv(t *testing.T, edit func(*Config)) env {
	t.Helper()
	cfg := createDefaultConfig()
	if edit != nil {
		edit(cfg)
	}
	tel := selftelemetry.New()
	s := &sink{}
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("throttle/test"), Telemetry: tel}, cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	return env{p: p, sink: s, tel: tel}
}

func (e env) dropped(t *testing.T, reason string) int {
	t.Helper()
	mfs, err := e.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "outpost_processor_dropped_items_total" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" && l.GetValue() == reason {
						return int(m.GetCounter().GetValue())
					}
				}
			}
		}
	}
	return 0
}

func (e env) streams(t *testing.T) int {
	t.Helper()
	mfs, _ := e.tel.Registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "outpost_processor_throttle_streams" {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	return -1
}

// batch makes n records for a service, with a severity text, and, set
// per record, a severity number.
func batch(svc, sevText string, num plog.SeverityNumber, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", svc)
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetSeverityText(sevText)
		lr.SetSeverityNumber(num)
		lr.Body().SetStr(fmt.Sprint("line ", i))
	}
	return ld
}

// TestCountsAddUp: every record is either passed or dropped with a
// reason; errors are always kept; the bucket refills at threshold/window.
func TestCountsAddUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Threshold = 100; c.Window = 10 * time.Second })
		consume := func(ld plog.Logs) {
			t.Helper()
			if err := e.p.ConsumeLogs(t.Context(), ld); err != nil {
				t.Fatal(err)
			}
		}
		consume(batch("a", "INFO", plog.SeverityNumberInfo, 250))
		consume(batch("a", "ERROR", plog.SeverityNumberError, 40))      // always kept
		consume(batch("a", "FATAL", plog.SeverityNumberUnspecified, 5)) // by text
		consume(batch("b", "INFO", plog.SeverityNumberInfo, 30))        // its own bucket
		if got := e.sink.count("a/INFO"); got != 100 {
			t.Errorf("a/INFO passed %d, want 100 (threshold)", got)
		}
		if got := e.sink.count("a/ERROR") + e.sink.count("a/FATAL"); got != 45 {
			t.Errorf("errors passed %d, want all 45", got)
		}
		if got := e.sink.count("b/INFO"); got != 30 {
			t.Errorf("b passed %d, want 30", got)
		}
		time.Sleep(2500 * time.Millisecond) // refills 25 tokens
		consume(batch("a", "WARN", plog.SeverityNumberWarn, 40))
		if got := e.sink.count("a/WARN"); got != 25 {
			t.Errorf("after 2.5s a/WARN passed %d, want 25", got)
		}
		time.Sleep(time.Hour) // full again, not more
		consume(batch("a", "DEBUG", plog.SeverityNumberDebug, 150))
		if got := e.sink.count("a/DEBUG"); got != 100 {
			t.Errorf("after an hour a/DEBUG passed %d, want 100 (burst caps the refill)", got)
		}
		sent := 250 + 40 + 5 + 30 + 40 + 150
		passed := 0
		for _, n := range e.sink.got {
			passed += n
		}
		if d := e.dropped(t, "throttled"); passed+d != sent || d != 150+15+50 {
			t.Errorf("passed %d + dropped %d != sent %d (want 215 dropped)", passed, d, sent)
		}
		// A request whose records are all dropped is not handed on.
		calls := e.sink.calls
		consume(batch("a", "INFO", plog.SeverityNumberInfo, 3))
		if e.sink.calls != calls {
			t.Error("an empty request was handed on")
		}
	})
}

func TestKeepSeverityOff(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Threshold = 1; c.KeepSeverity = "" })
	if err := e.p.ConsumeLogs(t.Context(), batch("a", "FATAL", plog.SeverityNumberFatal, 3)); err != nil {
		t.Fatal(err)
	}
	if got := e.sink.count("a/FATAL"); got != 1 {
		t.Errorf("with keep_severity \"\" FATAL passed %d, want 1", got)
	}
}

// TestKeyFields: streams keyed by a resource and a record attribute.
func TestKeyFields(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Threshold = 2
		c.Window = time.Hour
		c.KeyFields = []string{"resource.service.name", "attributes.node"}
	})
	ld := batch("a", "INFO", plog.SeverityNumberInfo, 9)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		lrs.At(i).Attributes().PutStr("node", fmt.Sprint(i%3)) // 3 streams of 3
	}
	if err := e.p.ConsumeLogs(t.Context(), ld); err != nil {
		t.Fatal(err)
	}
	if got := e.sink.count("a/INFO"); got != 6 {
		t.Errorf("passed %d, want 2 per stream × 3", got)
	}
	if n := e.streams(t); n != 3 {
		t.Errorf("streams gauge %d, want 3", n)
	}
}

// TestMaxStreams: beyond max_streams new streams share the overflow
// bucket (drops counted as stream_limit) until buckets refill and are
// forgotten.
func TestMaxStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Threshold = 5; c.Window = time.Second; c.MaxStreams = 2 })
		for _, svc := range []string{"a", "b"} {
			if err := e.p.ConsumeLogs(t.Context(), batch(svc, "INFO", 0, 5)); err != nil {
				t.Fatal(err)
			}
		}
		// c and d share the overflow bucket: 5 pass in all.
		for _, svc := range []string{"c", "d"} {
			if err := e.p.ConsumeLogs(t.Context(), batch(svc, "INFO", 0, 4)); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.sink.count("c/INFO") + e.sink.count("d/INFO"); got != 5 {
			t.Errorf("c and d passed %d, want 5 (one shared bucket)", got)
		}
		if d := e.dropped(t, "stream_limit"); d != 3 {
			t.Errorf("stream_limit drops %d, want 3", d)
		}
		if n := e.streams(t); n != 2 {
			t.Errorf("streams %d, want 2", n)
		}
		// After a window a and b have refilled: they are forgotten and e
		// gets a bucket of its own.
		time.Sleep(time.Second)
		if err := e.p.ConsumeLogs(t.Context(), batch("e", "INFO", 0, 7)); err != nil {
			t.Fatal(err)
		}
		if got := e.sink.count("e/INFO"); got != 5 {
			t.Errorf("e passed %d, want 5", got)
		}
		if d := e.dropped(t, "throttled"); d != 2 {
			t.Errorf("throttled %d, want 2", d)
		}
		if n := e.streams(t); n != 1 {
			t.Errorf("streams %d, want 1 after the sweep", n)
		}
	})
}

func TestSeverityOf(t *testing.T) {
	for _, tc := range []struct {
		num  plog.SeverityNumber
		text string
		want plog.SeverityNumber
	}{
		{plog.SeverityNumberWarn3, "whatever", plog.SeverityNumberWarn3},
		{0, "error", plog.SeverityNumberError},
		{0, "ERROR", plog.SeverityNumberError},
		{0, "Warning", plog.SeverityNumberWarn},
		{0, "ERROR2", plog.SeverityNumberError},
		{0, "crit", plog.SeverityNumberFatal},
		{0, "emerg", plog.SeverityNumberFatal3},
		{0, "verbose", 0},
		{0, "", 0},
	} {
		lr := plog.NewLogRecord()
		lr.SetSeverityNumber(tc.num)
		lr.SetSeverityText(tc.text)
		if got := severityOf(lr); got != tc.want {
			t.Errorf("severityOf(%d, %q) = %d, want %d", tc.num, tc.text, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "no key fields", edit: func(c *Config) { c.KeyFields = nil }},
		{name: "lower-case severity", edit: func(c *Config) { c.KeepSeverity = "warn" }},
		{name: "zero threshold", edit: func(c *Config) { c.Threshold = 0 }, want: []string{"threshold: must be ≥ 1"}},
		{name: "zero window", edit: func(c *Config) { c.Window = 0 }, want: []string{"window: must be > 0"}},
		{name: "bad key", edit: func(c *Config) { c.KeyFields = []string{"body"} }, want: []string{`key_fields[0]: "body": want`}},
		{name: "bad root", edit: func(c *Config) { c.KeyFields = []string{"scope.name"} }, want: []string{`key_fields[0]: "scope.name"`}},
		{name: "bad severity", edit: func(c *Config) { c.KeepSeverity = "LOUD" }, want: []string{`keep_severity: "LOUD"`}},
		{name: "no streams", edit: func(c *Config) { c.MaxStreams = 0 }, want: []string{"max_streams: must be ≥ 1"}},
		{name: "every problem", edit: func(c *Config) { *c = Config{KeepSeverity: "x"} },
			want: []string{"threshold:", "window:", "keep_severity:", "max_streams:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig()
			tc.edit(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("nil, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d errors, want %d: %v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}
