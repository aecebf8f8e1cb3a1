package queue

import (
	"errors"
	"testing"
)

func TestRegistry(t *testing.T) {
	var r Registry
	dir := t.TempDir()
	q1, rel1, err := r.Acquire(Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	q2, rel2, err := r.Acquire(Options{Dir: dir + "/.", Limits: Limits{MaxBytes: 2 << 20, FullPolicy: FullDropOldest}})
	if err != nil {
		t.Fatal(err)
	}
	if q1 != q2 {
		t.Fatal("two Acquires of one directory returned different queues")
	}
	q1.mu.Lock()
	lim := q1.limits
	q1.mu.Unlock()
	if lim.MaxBytes != 2<<20 || lim.FullPolicy != FullDropOldest {
		t.Fatalf("limits of the second Acquire not applied: %+v", lim)
	}
	if err := q1.Append(testRecord(LaneHigh, 1, 10)); err != nil {
		t.Fatal(err)
	}
	if err := rel1(); err != nil {
		t.Fatal(err)
	}
	if err := rel1(); err != nil { // a second release of the same reference does nothing
		t.Fatal(err)
	}
	if err := q2.Append(testRecord(LaneHigh, 2, 10)); err != nil {
		t.Fatalf("queue closed before the last release: %v", err)
	}
	if err := rel2(); err != nil {
		t.Fatal(err)
	}
	if err := q2.Append(testRecord(LaneHigh, 3, 10)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after the last release: %v, want ErrClosed", err)
	}
	// The directory is free again, and its records are there.
	q3, rel3, err := r.Acquire(Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer rel3()
	if q3 == q1 {
		t.Fatal("a closed queue was handed out again")
	}
	if got := drainIDs(q3); len(got) != 2 {
		t.Fatalf("reopened queue has %v, want 2 records", got)
	}

	// Memory queues are never shared.
	m1, mrel1, err := r.Acquire(Options{Kind: KindMemory, Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer mrel1()
	m2, mrel2, err := r.Acquire(Options{Kind: KindMemory, Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer mrel2()
	if m1 == m2 {
		t.Fatal("memory queues shared")
	}
	t.Log("registry: shared disk queue, limits reconfigured, closed on last release; memory queues separate")
}
