package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

func diskOpts(dir string) Options {
	return Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}, Exporter: "test"}
}

func TestLaneNames(t *testing.T) {
	for l := range Lane(NumLanes) {
		got, err := ParseLane(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLane(%q) = %v, %v", l.String(), got, err)
		}
	}
	if _, err := ParseLane("urgent"); err == nil {
		t.Error("ParseLane(urgent) succeeded")
	}
}

func TestFIFOAndPriority(t *testing.T) {
	for _, kind := range []Kind{KindDisk, KindMemory} {
		t.Run(string(kind), func(t *testing.T) {
			opts := diskOpts(t.TempDir())
			opts.Kind = kind
			q := openQueue(t, opts)
			// Interleave lanes; reads must come high first, FIFO within.
			var want []uint64
			id := uint64(0)
			for _, lane := range []Lane{LaneLow, LaneNormal, LaneHigh, LaneLow, LaneHigh, LaneNormal, LaneHigh} {
				id++
				if err := q.Append(testRecord(lane, id, 100)); err != nil {
					t.Fatal(err)
				}
			}
			want = []uint64{3, 5, 7, 2, 6, 1, 4}
			var got []uint64
			for range want {
				d := mustRead(t, q)
				got = append(got, bodyID(d.Record.Body))
				want := testRecord(d.Record.Lane, bodyID(d.Record.Body), 100)
				if !d.Record.Created.Equal(want.Created) || d.Record.Items != want.Items ||
					d.Record.Signal != "traces" || d.Record.Encoding != "proto" || !bytes.Equal(d.Record.Body, want.Body) {
					t.Errorf("record %d came back as %+v", bodyID(d.Record.Body), d.Record)
				}
				q.Ack(d)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("read order %v, want %v", got, want)
			}
			t.Logf("%s: read order %v", kind, got)
		})
	}
}

func TestOutOfOrderAckAndReopen(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(diskOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(10) {
		if err := q.Append(testRecord(LaneNormal, i, 200)); err != nil {
			t.Fatal(err)
		}
	}
	ds := make([]*Delivery, 6)
	for i := range ds {
		ds[i] = mustRead(t, q)
	}
	// Ack 1, 2, 4, 5 (not 0, not 3): the cursor must stay before 0.
	for _, i := range []int{1, 2, 4, 5} {
		q.Ack(ds[i])
	}
	st := q.Stats()[LaneNormal]
	if st.Records != 6 { // 0, 3 in flight; 6..9 unread
		t.Fatalf("Records = %d, want 6", st.Records)
	}
	q.Ack(ds[0]) // cursor moves over 0, 1, 2 and stops at 3
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// 3 was read but not acked: delivered again, then 6..9. 4 and 5 were
	// acked after the cursor: at-least-once re-delivers them.
	q = openQueue(t, diskOpts(dir))
	got := drainIDs(q)
	want := []uint64{3, 4, 5, 6, 7, 8, 9}
	if !slices.Equal(got, want) {
		t.Fatalf("after reopen got %v, want %v", got, want)
	}
	t.Logf("after out-of-order acks and reopen: %v (4, 5 re-delivered: acked beyond the cursor)", got)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openQueue(t, diskOpts(dir))
	if got := drainIDs(q); len(got) != 0 {
		t.Fatalf("after full ack and reopen got %v, want nothing", got)
	}
	if n := segmentFiles(t, dir, LaneNormal); n > 1 {
		t.Errorf("%d segment files left after everything was acked", n)
	}
}

func segmentFiles(t testing.TB, dir string, lane Lane) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, lane.String(), "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

func TestNackOrder(t *testing.T) {
	q := openQueue(t, diskOpts(t.TempDir()))
	for i := range uint64(5) {
		if err := q.Append(testRecord(LaneNormal, i, 50)); err != nil {
			t.Fatal(err)
		}
	}
	d0, d1, d2 := mustRead(t, q), mustRead(t, q), mustRead(t, q)
	q.Nack(d2)
	q.Nack(d0)
	q.Ack(d1)
	var got []uint64
	for d := tryRead(q); d != nil; d = tryRead(q) {
		got = append(got, bodyID(d.Record.Body))
		q.Ack(d)
	}
	if want := []uint64{0, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("after nacks got %v, want %v", got, want)
	}
	// Nack after Ack, double Ack: no effect.
	q.Nack(d1)
	q.Ack(d1)
	if s := q.Stats()[LaneNormal]; s.Records != 0 {
		t.Fatalf("Records = %d after all acked", s.Records)
	}
}

func TestRedeliveryAfterReopen(t *testing.T) {
	dir := t.TempDir()
	opts := diskOpts(dir)
	opts.Limits.MaxBytes = 64 << 10 * 4 // segments of 64 KiB
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	for i := range uint64(n) {
		if err := q.Append(testRecord(Lane(i%NumLanes), i, 3000)); err != nil {
			t.Fatal(err)
		}
	}
	// Read half; ack all but every fourth read record, which stays in
	// flight. Per lane, the cursor stops at the first record not acked, so
	// after a restart everything from there on comes again.
	acked := map[uint64]bool{}
	for range n / 2 {
		d := mustRead(t, q)
		if id := bodyID(d.Record.Body); id%4 != 0 {
			q.Ack(d)
			acked[id] = true
		}
	}
	var want []uint64 // lanes high, normal, low; FIFO in each
	for lane := range uint64(NumLanes) {
		blocked := false
		for i := lane; i < n; i += NumLanes {
			blocked = blocked || !acked[i]
			if blocked {
				want = append(want, i)
			}
		}
	}
	// No Close: simulate kill -9 by dropping the queue's state. The files
	// (and the lock) must be given up, so close only the descriptors.
	q.mu.Lock()
	q.closeFiles()
	q.mu.Unlock()
	q.lock.Close()
	close(q.stop)
	<-q.done

	q = openQueue(t, opts)
	got := drainIDs(q)
	if !slices.Equal(got, want) {
		t.Fatalf("after restart got %v, want %v", got, want)
	}
	redelivered := 0
	for _, id := range got {
		if acked[id] {
			redelivered++
		}
	}
	t.Logf("appended %d, acked %d, delivered after restart %d (of which %d acked behind an unacked one: at-least-once), lost 0", n, len(acked), len(got), redelivered)
}

func TestLockAndClose(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, diskOpts(dir))
	if _, err := Open(diskOpts(dir)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := q.Read(ctx); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not end on Close")
	}
	if err := q.Append(testRecord(LaneHigh, 1, 10)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	q2 := openQueue(t, diskOpts(dir)) // the lock was released
	q2.Close()
}

func TestReadContext(t *testing.T) {
	q := openQueue(t, diskOpts(t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := q.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read on empty queue: %v", err)
	}
	// A waiting Read wakes up on Append.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	got := make(chan *Delivery, 1)
	go func() {
		d, _ := q.Read(ctx2)
		got <- d
	}()
	time.Sleep(10 * time.Millisecond)
	if err := q.Append(testRecord(LaneLow, 42, 10)); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d == nil || bodyID(d.Record.Body) != 42 {
			t.Fatalf("woken Read got %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read not woken by Append")
	}
}

func TestConcurrent(t *testing.T) {
	for _, fsync := range []FsyncPolicy{FsyncAlways, FsyncInterval} {
		t.Run(string(fsync), func(t *testing.T) {
			opts := diskOpts(t.TempDir())
			opts.Limits = Limits{MaxBytes: 1 << 20, Fsync: fsync, FsyncInterval: 5 * time.Millisecond}
			q := openQueue(t, opts)
			const writers, perWriter, readers = 4, 150, 3
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var mu sync.Mutex
			seen := map[uint64]int{}
			nacked := map[uint64]bool{}
			var rg sync.WaitGroup
			for range readers {
				rg.Go(func() {
					for {
						d, err := q.Read(ctx)
						if err != nil {
							return
						}
						id := bodyID(d.Record.Body)
						if !bytes.Equal(d.Record.Body, testBody(id, len(d.Record.Body))) {
							t.Errorf("record %d: body damaged", id)
						}
						mu.Lock()
						if id%5 == 0 && !nacked[id] {
							nacked[id] = true // Nack once
							mu.Unlock()
							q.Nack(d)
							continue
						}
						seen[id]++
						done := len(seen) == writers*perWriter
						mu.Unlock()
						q.Ack(d)
						if done {
							cancel()
						}
					}
				})
			}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						id := uint64(w*perWriter + i)
						for {
							err := q.Append(testRecord(Lane(id%NumLanes), id, 1000))
							if errors.Is(err, ErrFull) {
								time.Sleep(time.Millisecond)
								continue
							}
							if err != nil {
								t.Error(err)
							}
							break
						}
					}
				})
			}
			wg.Wait()
			rg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != writers*perWriter {
				t.Fatalf("delivered %d distinct records, want %d", len(seen), writers*perWriter)
			}
			t.Logf("%s: %d writers × %d records, %d readers: all %d delivered", fsync, writers, perWriter, readers, len(seen))
		})
	}
}

func TestMetricsAndStats(t *testing.T) {
	tel := selftelemetry.New()
	var now = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	opts := diskOpts(t.TempDir())
	opts.Telemetry = tel
	opts.Now = func() time.Time { return now }
	q := openQueue(t, opts)
	if got := counterValue(t, tel, "capacity", "test"); got != 1<<20 {
		t.Fatalf("capacity gauge %v", got)
	}
	r := testRecord(LaneHigh, 1, 500)
	r.Created = now.Add(-3 * time.Second)
	if err := q.Append(r); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()[LaneHigh]
	if st.Records != 1 || st.Items != r.Items || st.Bytes != segHeaderSize+recordSize(&r) || !st.Oldest.Equal(r.Created) {
		t.Fatalf("Stats = %+v", st)
	}
	if got := counterValue(t, tel, "bytes", "test", "high"); got != float64(st.Bytes) {
		t.Fatalf("bytes gauge %v, want %d", got, st.Bytes)
	}
	if got := counterValue(t, tel, "items", "test", "high"); got != float64(r.Items) {
		t.Fatalf("items gauge %v", got)
	}
	q.publishAges()
	if got := counterValue(t, tel, "age", "test", "high"); got != 3 {
		t.Fatalf("age gauge %v, want 3", got)
	}
	q.Ack(mustRead(t, q))
	if got := counterValue(t, tel, "records", "test", "high"); got != 0 {
		t.Fatalf("records gauge %v after ack", got)
	}
	q.Close()
	for _, m := range []string{"bytes", "records", "items", "age"} {
		if got := counterValue(t, tel, m, "test", "high"); got != 0 {
			t.Errorf("%s gauge %v after Close", m, got)
		}
	}
	if got := counterValue(t, tel, "capacity", "test"); got != 0 {
		t.Errorf("capacity gauge %v after Close", got)
	}
}

func TestOpenToleratesStrayFiles(t *testing.T) {
	dir := t.TempDir()
	q, err := Open(diskOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(3) {
		if err := q.Append(testRecord(LaneNormal, i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	nd := filepath.Join(dir, "normal")
	for name, content := range map[string]string{
		"README":                   "hello",
		"00000000000000000099.seg": "",    // empty segment
		"00000000000000000098.seg": "OPQ", // torn at creation
		"cursor":                   "garbage garbage garbage garbage garbage garbage garbage garbage garbage",
		"x.seg":                    "not a segment name",
	} {
		if err := os.WriteFile(filepath.Join(nd, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "high", "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	q = openQueue(t, diskOpts(dir))
	if got := drainIDs(q); !slices.Equal(got, []uint64{0, 1, 2}) {
		t.Fatalf("got %v", got)
	}
}
