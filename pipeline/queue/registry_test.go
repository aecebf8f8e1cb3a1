package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
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
	if lim := q1.Limits(); lim.MaxBytes != 1<<20 || lim.FullPolicy != FullBlock {
		t.Fatalf("limits of the second Acquire applied before Commit: %+v", lim)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if lim := q1.Limits(); lim.MaxBytes != 2<<20 || lim.FullPolicy != FullDropOldest {
		t.Fatalf("limits of the second Acquire not applied by Commit: %+v", lim)
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

	// Memory queues of no exporter are never shared.
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
	t.Log("registry: shared disk queue, limits staged then committed, closed on last release; anonymous memory queues separate")
}

// TestFault2_FailedReloadKeepsQueueLimits: a second lease (the graph a
// reload builds) only stages its limits; when that graph fails to start,
// its lease is released (or Discard is called) and the running queue keeps
// its capacity, policies and records: filling it past the rejected
// max_bytes drops nothing.
func TestFault2_FailedReloadKeepsQueueLimits(t *testing.T) {
	tel := selftelemetry.New()
	dir := t.TempDir()
	running := Limits{MaxBytes: 1 << 20, FullPolicy: FullBlock, Fsync: FsyncAlways}
	rejected := Limits{MaxBytes: 256 << 10, FullPolicy: FullDropOldest, Fsync: FsyncInterval, FsyncInterval: time.Second, MaxAge: time.Minute}
	for _, how := range []string{"release", "discard"} {
		t.Run(how, func(t *testing.T) {
			var r Registry
			old, err := r.Lease(Options{Dir: dir, Limits: running, Exporter: "otlp/" + how, Telemetry: tel}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Release()
			q := old.Queue()
			next, err := r.Lease(Options{Dir: dir, Limits: rejected, Exporter: "otlp/" + how, Telemetry: tel}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if how == "release" {
				if err := next.Release(); err != nil { // Graph.Start failed: the new exporter is shut down
					t.Fatal(err)
				}
			} else {
				r.Discard()
				defer next.Release()
			}
			if err := r.Commit(); err != nil { // nothing left to commit
				t.Fatal(err)
			}
			if got := q.Limits(); got != running {
				t.Fatalf("limits after the failed reload %+v, want %+v", got, running)
			}
			// 600 KiB: past the rejected 256 KiB, within the running 1 MiB.
			items := 0
			for i := range 60 {
				rec := testRecord(LaneLow, uint64(i), 10<<10)
				if err := q.Append(rec); err != nil {
					t.Fatalf("append %d: %v", i, err)
				}
				items += rec.Items
			}
			var queued int
			for _, st := range q.Stats() {
				queued += st.Items
			}
			dropped := counterValue(t, tel, "dropped", "otlp/"+how, "low", "queue_full")
			capacity := counterValue(t, tel, "capacity", "otlp/"+how)
			t.Logf("%s: capacity %.0f bytes, policy %s, fsync %s; %d items appended, %d queued, %.0f dropped",
				how, capacity, q.Limits().FullPolicy, q.Limits().Fsync, items, queued, dropped)
			if dropped != 0 || queued != items || capacity != 1<<20 {
				t.Fatalf("capacity %v, %d of %d items queued, %v dropped: the rejected limits took effect", capacity, queued, items, dropped)
			}
			drainIDs(q)
		})
	}
}

// fakeReservation is a Reservation over a shared pool of limit bytes.
type fakeReservation struct {
	pool *fakePool
	n    int64
}

type fakePool struct{ limit, reserved int64 }

func (p *fakePool) reserve(n int64) (Reservation, error) {
	r := &fakeReservation{pool: p}
	if err := r.Resize(n); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *fakeReservation) Resize(n int64) error {
	if n > r.n && r.pool.reserved-r.n+n > r.pool.limit {
		return errors.New("does not fit")
	}
	r.pool.reserved += n - r.n
	r.n = n
	return nil
}
func (r *fakeReservation) Bytes() int64 { return r.n }
func (r *fakeReservation) Release()     { r.pool.reserved -= r.n; r.n = 0 }

// A memory queue is shared by exporter ID, with its records and its one
// reservation: a queue of 60% of the limit is leased twice without a
// second reservation; a bigger max_bytes grows the reservation only when
// committed, and a discarded one gives the growth back.
func TestRegistryMemoryHandover(t *testing.T) {
	pool := &fakePool{limit: 1000 << 10}
	var r Registry
	opts := func(max int64) Options {
		return Options{Kind: KindMemory, Exporter: "otlp/mem", Limits: Limits{MaxBytes: max}}
	}
	old, err := r.Lease(opts(600<<10), pool.reserve)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Queue().Append(testRecord(LaneNormal, 1, 100)); err != nil {
		t.Fatal(err)
	}
	next, err := r.Lease(opts(600<<10), pool.reserve)
	if err != nil {
		t.Fatalf("second lease of a memory queue of 60%% of the limit: %v", err)
	}
	if next.Queue() != old.Queue() || !old.Shared() || pool.reserved != 600<<10 {
		t.Fatalf("not handed over: same queue %v, shared %v, reserved %d", next.Queue() == old.Queue(), old.Shared(), pool.reserved)
	}
	if err := old.Release(); err != nil {
		t.Fatal(err)
	}
	if got := drainIDs(next.Queue()); len(got) != 1 || next.Shared() {
		t.Fatalf("records after the handover %v, shared %v", got, next.Shared())
	}

	// Growth: staged, then discarded.
	grow, err := r.Lease(opts(900<<10), pool.reserve)
	if err != nil {
		t.Fatal(err)
	}
	if pool.reserved != 900<<10 || next.Queue().Limits().MaxBytes != 600<<10 {
		t.Fatalf("staged growth: reserved %d, max_bytes %d", pool.reserved, next.Queue().Limits().MaxBytes)
	}
	grow.Release()
	if pool.reserved != 600<<10 {
		t.Fatalf("reserved %d after the staging lease was released, want %d", pool.reserved, 600<<10)
	}
	// More than the limit: refused, nothing changes.
	if _, err := r.Lease(opts(1100<<10), pool.reserve); err == nil {
		t.Fatal("a lease past the limit succeeded")
	}
	// Shrink, committed.
	shrink, err := r.Lease(opts(300<<10), pool.reserve)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	if pool.reserved != 300<<10 || shrink.Queue().Limits().MaxBytes != 300<<10 {
		t.Fatalf("after commit: reserved %d, max_bytes %d", pool.reserved, shrink.Queue().Limits().MaxBytes)
	}
	next.Release()
	shrink.Release()
	if pool.reserved != 0 {
		t.Fatalf("reserved %d after the last release", pool.reserved)
	}
	// Another exporter ID gets its own queue.
	a, _ := r.Lease(opts(100), pool.reserve)
	b, err := r.Lease(Options{Kind: KindMemory, Exporter: "otlp/other", Limits: Limits{MaxBytes: 100}}, pool.reserve)
	if err != nil || a.Queue() == b.Queue() {
		t.Fatalf("two exporters share a memory queue (err %v)", err)
	}
	a.Release()
	b.Release()
	t.Logf("memory queue handed over with 1 record, reservation 600 KiB held once; pool left %d", pool.reserved)
}
