package memlimit

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFault9_InFlightGaugeCountsMemoryQueues: a memory queue's reservation
// is counted in outpost_memory_in_flight_bytes, as docs/metrics.md says
// (before, the gauge showed requests in flight only); a reservation grows
// only within the limit, and a refusal names the real memory_limit (fault
// 7: it printed the requests' capacity instead).
func TestFault9_InFlightGaugeCountsMemoryQueues(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	l := New(1000, g)
	r, err := l.ReserveQueue(600)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(50); err != nil {
		t.Fatal(err)
	}
	v := testutil.ToFloat64(g)
	t.Logf("memory_limit 1000 bytes, a memory queue of 600, a request of 50: in-flight gauge %.0f", v)
	if v != 650 {
		t.Fatalf("gauge %v, want 650 (600 reserved + 50 in flight)", v)
	}
	l.Release(50)
	_, refusal := l.ReserveQueue(600)
	if !errors.Is(refusal, ErrLimit) || !strings.Contains(refusal.Error(), "memory_limit of 1000 bytes") || !strings.Contains(refusal.Error(), "reserve 600 bytes") {
		t.Fatalf("second reservation: %v", refusal)
	}
	if err := r.Resize(1001); !errors.Is(err, ErrLimit) || r.Bytes() != 600 {
		t.Fatalf("grow past the limit: %v, %d bytes", err, r.Bytes())
	}
	if err := r.Resize(900); err != nil || l.Reserved() != 900 {
		t.Fatalf("grow: %v, reserved %d", err, l.Reserved())
	}
	if err := r.Resize(100); err != nil || l.Reserved() != 100 || l.Capacity() != 450 {
		t.Fatalf("shrink: %v, reserved %d, capacity %d", err, l.Reserved(), l.Capacity())
	}
	r.Release()
	r.Release()
	if l.Reserved() != 0 || testutil.ToFloat64(g) != 0 {
		t.Fatalf("after release: reserved %d, gauge %v", l.Reserved(), testutil.ToFloat64(g))
	}
	if err := r.Resize(10); err == nil {
		t.Fatal("resize after release")
	}
	var nl *Limiter
	nr, err := nl.ReserveQueue(1 << 40)
	if err != nil {
		t.Fatal(err)
	}
	nr.Release()
	t.Logf("a second queue of 600: %v", refusal)
}

// A staged limit is what reservations check against, while requests in
// flight keep the running limit; discarding it restores everything.
func TestStageLimit(t *testing.T) {
	l := New(1000, nil)
	l.StageLimit(2000)
	r, err := l.ReserveQueue(1500)
	if err != nil {
		t.Fatalf("reservation against the staged limit: %v", err)
	}
	if l.Limit() != 1000 {
		t.Fatalf("running limit %d changed by StageLimit", l.Limit())
	}
	r.Release()
	l.DiscardStagedLimit()
	if _, err := l.ReserveQueue(1500); err == nil {
		t.Fatal("the discarded staged limit still applies")
	}
	l.StageLimit(2000)
	l.SetLimit(2000)
	l.StageLimit(10)
	l.SetLimit(2000) // commits, clearing the stage
	if _, err := l.ReserveQueue(1500); err != nil {
		t.Fatal(err)
	}
}
