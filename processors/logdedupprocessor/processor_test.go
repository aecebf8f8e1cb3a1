package logdedupprocessor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// TestDedupCountsAddUp sends a mix of repeated and distinct records over
// two intervals and checks every record received is accounted for exactly
// once, with the right counts and observed times.
func TestDedupCountsAddUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Interval = 10 * time.Second }, nil, nil)
		start := time.Now()
		var sent int64
		send := func(rs ...rec) {
			t.Helper()
			if err := e.p.ConsumeLogs(t.Context(), logs(rs...)); err != nil {
				t.Fatal(err)
			}
			sent += int64(len(rs))
		}
		warn := rec{"a", "disk almost full", "WARN", map[string]any{"disk": "sda", "free": int64(3)}}
		for i := range 100 {
			send(warn, rec{"a", "tick", "INFO", map[string]any{"n": int64(i % 3)}})
			time.Sleep(10 * time.Millisecond)
		}
		// Same body on another resource and another severity: distinct.
		send(rec{"b", "disk almost full", "WARN", map[string]any{"disk": "sda", "free": int64(3)}},
			rec{"a", "disk almost full", "ERROR", map[string]any{"disk": "sda", "free": int64(3)}})
		// Attribute order does not matter; types do.
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "a")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("app")
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("disk almost full")
		lr.SetSeverityText("WARN")
		lr.Attributes().PutInt("free", 3)
		lr.Attributes().PutStr("disk", "sda")
		lr = sl.LogRecords().AppendEmpty()
		lr.Body().SetStr("disk almost full")
		lr.SetSeverityText("WARN")
		lr.Attributes().PutStr("free", "3")
		lr.Attributes().PutStr("disk", "sda")
		if err := e.p.ConsumeLogs(t.Context(), ld); err != nil {
			t.Fatal(err)
		}
		sent += 2

		if len(e.sink.records(DefaultLogCountAttribute)) != 0 {
			t.Fatalf("flushed before the interval")
		}
		time.Sleep(10*time.Second - time.Since(start))
		synctest.Wait()
		got := e.sink.records(DefaultLogCountAttribute)
		attrs := func(m map[string]any) string { return fmt.Sprintf("%#v", m) }
		diskAttrs := attrs(map[string]any{"disk": "sda", "free": int64(3)})
		want := map[string]int64{
			"a disk almost full WARN " + diskAttrs:                                         101,
			"a tick INFO " + attrs(map[string]any{"n": int64(0)}):                          34,
			"a tick INFO " + attrs(map[string]any{"n": int64(1)}):                          33,
			"a tick INFO " + attrs(map[string]any{"n": int64(2)}):                          33,
			"b disk almost full WARN " + diskAttrs:                                         1,
			"a disk almost full ERROR " + diskAttrs:                                        1,
			"a disk almost full WARN " + attrs(map[string]any{"disk": "sda", "free": "3"}): 1,
		}
		if len(got) != len(want) {
			t.Fatalf("%d records at the sink, want %d: %+v", len(got), len(want), got)
		}
		for _, r := range got {
			svc := r.resource[len("map[service.name:") : len(r.resource)-1]
			k := fmt.Sprintf("%s %s %s %s", svc, r.body, r.severity, r.attrs)
			if want[k] != r.count {
				t.Errorf("%s: log_count %d, want %d", k, r.count, want[k])
			}
			if r.first == "" || r.last == "" {
				t.Errorf("%s: observed times missing", k)
			}
		}
		if n := total(got); n != sent {
			t.Errorf("records stand for %d, sent %d", n, sent)
		}
		distinct := int64(len(want))
		if m := e.metric(t, "outpost_processor_log_dedup_merged_items_total", nil); int64(m) != sent-distinct {
			t.Errorf("merged = %v, want %d", m, sent-distinct)
		}
		// The second interval starts empty.
		send(warn)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		got = e.sink.records(DefaultLogCountAttribute)
		if last := got[len(got)-1]; last.count != 1 || len(got) != len(want)+1 {
			t.Errorf("second interval: %d records, last %+v", len(got), last)
		}
		if b := e.metric(t, "outpost_processor_log_dedup_state_bytes", nil); b != 0 {
			t.Errorf("state bytes after the flush = %v", b)
		}
		e.shutdown(t)
	})
}

func TestObservedTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Interval = time.Minute; c.Timezone = "UTC" }, nil, nil)
		first := time.Now()
		r := rec{"a", "x", "INFO", nil}
		for range 3 {
			if err := e.p.ConsumeLogs(t.Context(), logs(r)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(7 * time.Second)
		}
		last := first.Add(14 * time.Second)
		e.shutdown(t)
		got := e.sink.records(DefaultLogCountAttribute)
		if len(got) != 1 || got[0].count != 3 {
			t.Fatalf("got %+v", got)
		}
		if w := first.UTC().Format(time.RFC3339); got[0].first != w {
			t.Errorf("first_observed_timestamp %q, want %q", got[0].first, w)
		}
		if w := last.UTC().Format(time.RFC3339); got[0].last != w {
			t.Errorf("last_observed_timestamp %q, want %q", got[0].last, w)
		}
		e.sink.mu.Lock()
		lr := e.sink.got[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		e.sink.mu.Unlock()
		if ts := lr.Timestamp().AsTime(); !ts.Equal(first.Add(21 * time.Second)) {
			t.Errorf("Timestamp %s, want the flush time %s", ts, first.Add(21*time.Second))
		}
	})
}

func TestExcludeFields(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.ExcludeFields = []string{"attributes.request\\.id", "body.ts", "attributes.src.port"}
			c.LogCountAttribute = "dedup_count"
		}, nil, nil)
		ld := plog.NewLogs()
		sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
		for i := range 5 {
			lr := sl.LogRecords().AppendEmpty()
			body := lr.Body().SetEmptyMap()
			body.PutStr("msg", "timeout")
			body.PutInt("ts", int64(i))
			lr.Attributes().PutStr("request.id", fmt.Sprint(i))
			src := lr.Attributes().PutEmptyMap("src")
			src.PutStr("ip", "10.0.0.1")
			src.PutInt("port", int64(40000+i))
		}
		if err := e.p.ConsumeLogs(t.Context(), ld); err != nil {
			t.Fatal(err)
		}
		e.shutdown(t)
		got := e.sink.records("dedup_count")
		if len(got) != 1 || got[0].count != 5 {
			t.Fatalf("got %+v, want one record with count 5", got)
		}
		if got[0].body != "map[msg:timeout]" || got[0].attrs != fmt.Sprintf("%#v", map[string]any{"src": map[string]any{"ip": "10.0.0.1"}}) {
			t.Errorf("excluded fields kept: body %s attrs %s", got[0].body, got[0].attrs)
		}
	})
}

// TestMaxBytesBypass: distinct records beyond max_bytes pass on at once,
// counted, and nothing is lost.
func TestMaxBytesBypass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxBytes = 2000 }, nil, nil)
		var rs []rec
		for i := range 50 {
			rs = append(rs, rec{"a", fmt.Sprintf("line %d", i%20), "INFO", nil})
		}
		if err := e.p.ConsumeLogs(t.Context(), logs(rs...)); err != nil {
			t.Fatal(err)
		}
		bypassed := e.metric(t, "outpost_processor_log_dedup_bypassed_items_total", map[string]string{"reason": "max_bytes"})
		if bypassed == 0 {
			t.Fatal("nothing bypassed with max_bytes 2000")
		}
		if n := len(e.sink.records(DefaultLogCountAttribute)); float64(n) != bypassed {
			t.Errorf("%d records passed at once, %v counted bypassed", n, bypassed)
		}
		if b := e.metric(t, "outpost_processor_log_dedup_state_bytes", nil); b > 2000 || b == 0 {
			t.Errorf("state bytes %v, want in (0, 2000]", b)
		}
		e.shutdown(t)
		got := e.sink.records(DefaultLogCountAttribute)
		merged := e.metric(t, "outpost_processor_log_dedup_merged_items_total", nil)
		if total(got) != 50 || float64(len(got))+merged != 50 {
			t.Errorf("records stand for %d (%d emitted, %v merged), want 50", total(got), len(got), merged)
		}
	})
}

// TestMemoryLimit: held records are charged to memory_limit, records that
// it refuses pass on at once, and the charge is given back on flush.
func TestMemoryLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := memlimit.New(8000, nil) // capacity 4000 bytes
		e := newEnv(t, nil, mem, nil)
		var rs []rec
		for i := range 40 {
			rs = append(rs, rec{"a", fmt.Sprintf("line %d", i), "INFO", nil})
		}
		if err := e.p.ConsumeLogs(t.Context(), logs(rs...)); err != nil {
			t.Fatal(err)
		}
		held := mem.InFlight()
		if held == 0 || held > 4000 {
			t.Fatalf("memory charged %d, want in (0, 4000]", held)
		}
		if held != int64(e.metric(t, "outpost_processor_log_dedup_state_bytes", nil)) {
			t.Errorf("charged %d, state gauge %v", held, e.metric(t, "outpost_processor_log_dedup_state_bytes", nil))
		}
		bypassed := e.metric(t, "outpost_processor_log_dedup_bypassed_items_total", map[string]string{"reason": "memory_limit"})
		if bypassed == 0 {
			t.Fatal("nothing bypassed for memory_limit")
		}
		time.Sleep(DefaultInterval)
		synctest.Wait()
		if mem.InFlight() != 0 {
			t.Errorf("memory still charged after the flush: %d", mem.InFlight())
		}
		if got := e.sink.records(DefaultLogCountAttribute); total(got) != 40 || len(got) != 40 {
			t.Errorf("sink: %d records standing for %d, want 40 and 40", len(got), total(got))
		}
		e.shutdown(t)
	})
}

// TestRefusedFlush: a retryable refusal keeps the records for the next
// flush, merged with newer identical ones; a permanent one drops them,
// counted.
func TestRefusedFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &sink{errFor: func(call int) error {
			switch call {
			case 0:
				<-release                       // in flight while more records arrive
				return errors.New("queue full") // retryable
			case 2:
				return consumererror.NewPermanent(errors.New("bad data"))
			}
			return nil
		}}
		e := newEnv(t, nil, nil, s)
		a, b := rec{"a", "A", "WARN", nil}, rec{"a", "B", "WARN", nil}
		consume := func(rs ...rec) {
			if err := e.p.ConsumeLogs(t.Context(), logs(rs...)); err != nil {
				t.Fatal(err)
			}
		}
		consume(a, a, a)
		time.Sleep(DefaultInterval) // flush 0 starts and waits
		synctest.Wait()
		consume(a, b)  // while flush 0 is in flight
		close(release) // flush 0 refused: its A×3 is merged with the new A×1
		synctest.Wait()
		if n := e.metric(t, "outpost_processor_log_dedup_refused_flushes_total", nil); n != 1 {
			t.Errorf("refused flushes = %v, want 1", n)
		}
		if b := e.metric(t, "outpost_processor_log_dedup_state_bytes", nil); b == 0 {
			t.Error("refused records no longer charged")
		}
		time.Sleep(DefaultInterval) // flush 1: delivered
		synctest.Wait()
		got := s.records(DefaultLogCountAttribute)
		if len(got) != 2 || got[0].body != "A" || got[0].count != 4 || got[1].body != "B" || got[1].count != 1 {
			t.Fatalf("after the retried flush: %+v, want A×4 then B×1", got)
		}
		if got[0].first != "2000-01-01T00:00:00Z" || got[0].last != "2000-01-01T00:00:10Z" {
			t.Errorf("merged A observed %s to %s, want the refused flush's first and the new record's last", got[0].first, got[0].last)
		}
		if b := e.metric(t, "outpost_processor_log_dedup_state_bytes", nil); b != 0 {
			t.Errorf("state bytes %v after the flush", b)
		}
		consume(a, a, b)
		time.Sleep(DefaultInterval) // flush 2: refused for good
		synctest.Wait()
		if d := e.metric(t, "outpost_processor_dropped_items_total", map[string]string{"reason": "refused", "signal": "logs"}); d != 3 {
			t.Errorf("dropped (refused) = %v, want 3", d)
		}
		if b := e.metric(t, "outpost_processor_log_dedup_state_bytes", nil); b != 0 {
			t.Errorf("state bytes %v after the drop", b)
		}
		e.shutdown(t)
	})
}

func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &sink{}
		e := newEnv(t, func(c *Config) { c.Interval = time.Hour }, nil, s)
		if err := e.p.ConsumeLogs(t.Context(), logs(rec{"a", "x", "INFO", nil}, rec{"a", "x", "INFO", nil})); err != nil {
			t.Fatal(err)
		}
		e.shutdown(t)
		if got := s.records(DefaultLogCountAttribute); len(got) != 1 || got[0].count != 2 {
			t.Fatalf("Shutdown flushed %+v", got)
		}
		err := e.p.ConsumeLogs(t.Context(), logs(rec{"a", "x", "INFO", nil}))
		if !errors.Is(err, errShutdown) || consumererror.IsPermanent(err) {
			t.Errorf("after Shutdown: %v, want the retryable errShutdown", err)
		}
		e.shutdown(t) // idempotent

		// A failed final flush is counted and returned.
		s2 := &sink{errFor: func(int) error { return errors.New("down") }}
		e2 := newEnv(t, nil, nil, s2)
		if err := e2.p.ConsumeLogs(t.Context(), logs(rec{"a", "x", "INFO", nil}, rec{"a", "y", "INFO", nil})); err != nil {
			t.Fatal(err)
		}
		if err := e2.p.Shutdown(t.Context()); err == nil {
			t.Error("Shutdown with a failing next consumer returned nil")
		}
		if d := e2.metric(t, "outpost_processor_dropped_items_total", map[string]string{"reason": "shutdown"}); d != 2 {
			t.Errorf("dropped (shutdown) = %v, want 2", d)
		}
	})
}

// TestShutdownDeadline: a flush in flight outlives Shutdown's deadline
// (its next consumer ignores cancellation): the records held are dropped
// and counted at once, and those of the flush when it fails.
func TestShutdownDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &sink{errFor: func(int) error { <-release; return errors.New("gave up") }}
		e := newEnv(t, nil, nil, s)
		if err := e.p.ConsumeLogs(t.Context(), logs(rec{"a", "x", "INFO", nil}, rec{"a", "x", "INFO", nil})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultInterval) // the flush of x×2 starts and hangs
		synctest.Wait()
		if err := e.p.ConsumeLogs(t.Context(), logs(rec{"a", "y", "INFO", nil}, rec{"a", "z", "INFO", nil}, rec{"a", "z", "INFO", nil})); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := e.p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want the deadline", err)
		}
		if d := e.metric(t, "outpost_processor_dropped_items_total", map[string]string{"reason": "shutdown"}); d != 3 {
			t.Errorf("dropped at the deadline %v, want 3 (y, z, z)", d)
		}
		close(release)
		synctest.Wait()
		if d := e.metric(t, "outpost_processor_dropped_items_total", map[string]string{"reason": "shutdown"}); d != 5 {
			t.Errorf("dropped after the flush failed %v, want 5", d)
		}
		if b := e.metric(t, "outpost_processor_log_dedup_state_bytes", nil); b != 0 {
			t.Errorf("state bytes %v", b)
		}
	})
}
