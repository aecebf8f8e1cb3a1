package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// reopenAfterCut cuts the power under q (closing it) and opens the queue
// on what survived; it returns the ids delivered, all acked.
func reopenAfterCut(t *testing.T, q *Queue, cfs *crashFS, opts Options) []uint64 {
	t.Helper()
	cfs.cut()
	q.Close()
	opts.FS = cfs.survivor(rand.New(rand.NewPCG(1, 1)))
	q2, err := Open(opts)
	if err != nil {
		t.Fatalf("Open after the power cut: %v", err)
	}
	defer q2.Close()
	return drainIDs(q2)
}

// TestFault3_FailedFsyncIsNotCoveredByALaterOne: under fsync: always, record
// A's group-commit fsync fails while record B, written to the same segment
// before that fsync returned, waits for the next round. On Linux the failed
// writeback dropped both records' pages (marked clean), so the next fsync
// succeeds without writing them. The old queue ran that next round for B
// and acknowledged it: B was lost at the power cut. Now every Append whose
// record is in the failed segment fails (ErrSync), the segment is sealed,
// and later appends go to a new segment and are durable.
func TestFault3_FailedFsyncIsNotCoveredByALaterOne(t *testing.T) {
	cfs := newCrashFS(rand.New(rand.NewPCG(3, 3)))
	ffs := newFaultFS(cfs, rand.New(rand.NewPCG(3, 4)))
	durableDirs(t, cfs, "/data/q/normal") // fault 12b apart
	tel := selftelemetry.New()
	opts := Options{Dir: "/data/q", FS: ffs, Limits: Limits{MaxBytes: 1 << 20, Fsync: FsyncAlways}, Exporter: "fault3", Telemetry: tel}
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}

	// The first segment fsync (A's round) fails, after B has written.
	var syncs atomic.Int32
	wroteB := make(chan struct{}, 1)
	errB := make(chan error, 1)
	ffs.beforeSync = func() bool {
		if syncs.Add(1) != 1 {
			return false
		}
		ffs.afterWrite = func() { wroteB <- struct{}{} }
		go func() { errB <- q.Append(testRecord(LaneNormal, 2, 500)) }()
		select {
		case <-wroteB:
		case <-time.After(5 * time.Second):
			t.Error("record B was not written while A's fsync ran")
		}
		ffs.afterWrite = nil
		return true
	}
	errA := q.Append(testRecord(LaneNormal, 1, 500))
	var eB error
	select {
	case eB = <-errB:
	case <-time.After(5 * time.Second):
		t.Fatal("Append B did not return")
	}
	ffs.beforeSync = nil

	acked := map[uint64]bool{}
	failed := 0
	for id, err := range map[uint64]error{1: errA, 2: eB} {
		if err == nil {
			acked[id] = true
		} else {
			failed++
			if !errors.Is(err, ErrSync) {
				t.Errorf("Append %d: %v, want ErrSync", id, err)
			}
		}
	}
	if q.SyncError() == nil {
		t.Error("SyncError is nil after a failed fsync")
	}
	// The queue goes on: two more records, in a new segment.
	for id := uint64(3); id <= 4; id++ {
		if err := q.Append(testRecord(LaneNormal, id, 500)); err != nil {
			t.Fatalf("Append %d after the failed fsync: %v", id, err)
		}
		acked[id] = true
	}
	q.mu.Lock()
	activeSeg := q.lanes[LaneNormal].active.num
	q.mu.Unlock()
	if activeSeg == 1 {
		t.Error("appends after the failed fsync went on in the segment whose fsync failed")
	}
	if err := q.SyncError(); err != nil {
		t.Errorf("SyncError after a good fsync: %v", err)
	}
	fsyncErrors := testutil.ToFloat64(tel.QueueFsyncErrors.WithLabelValues("fault3"))

	delivered := map[uint64]bool{}
	for _, id := range reopenAfterCut(t, q, cfs, opts) {
		delivered[id] = true
	}
	lost := 0
	for id := range acked {
		if !delivered[id] {
			lost++
			t.Errorf("record %d: Append returned nil, lost at the power cut", id)
		}
	}
	t.Logf("fsync fault: %d appends acknowledged, %d failed (ErrSync), %d delivered after the power cut, %d acknowledged lost; fsync errors counted %v; appends went on in segment %d",
		len(acked), failed, len(delivered), lost, fsyncErrors, activeSeg)
	if fsyncErrors != 1 {
		t.Errorf("outpost_queue_fsync_errors_total = %v, want 1", fsyncErrors)
	}
}

// TestFault3_FailedDirectoryFsyncFailsTheNewSegmentsAppends: the fsync of
// the lane directory that makes a new segment's name durable fails: the
// appends in that segment fail too (after a power cut the file may be
// gone), and the queue goes on in another segment.
func TestFault3_FailedDirectoryFsyncFailsTheNewSegmentsAppends(t *testing.T) {
	cfs := newCrashFS(rand.New(rand.NewPCG(5, 5)))
	ffs := newFaultFS(cfs, rand.New(rand.NewPCG(5, 6)))
	opts := Options{Dir: "/data/q", FS: ffs, Limits: Limits{MaxBytes: 1 << 20, Fsync: FsyncAlways}, Exporter: "fault3dir"}
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ffs.set(faultSyncDirEIO, 1) // the lane directory's fsync fails; the segment's succeeds
	err1 := q.Append(testRecord(LaneHigh, 1, 100))
	ffs.set(0, 0)
	err2 := q.Append(testRecord(LaneHigh, 2, 100))
	delivered := reopenAfterCut(t, q, cfs, opts)
	t.Logf("directory fsync fault: append 1 %v; append 2 %v; delivered after the power cut %v", err1, err2, delivered)
	if !errors.Is(err1, ErrSync) {
		t.Errorf("Append 1 with failing fsyncs: %v, want ErrSync", err1)
	}
	if err2 != nil {
		t.Fatalf("Append 2: %v", err2)
	}
	if !bytes.Contains(idsBytes(delivered), idsBytes([]uint64{2})) {
		t.Errorf("record 2 (acknowledged) lost: delivered %v", delivered)
	}
}

// durableDirs makes dir and its parents on cfs, durable.
func durableDirs(t *testing.T, cfs *crashFS, dir string) {
	t.Helper()
	if err := cfs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if err := cfs.SyncDir(filepath.Dir(d)); err != nil {
			t.Fatal(err)
		}
	}
}

func idsBytes(ids []uint64) []byte {
	var b []byte
	for _, id := range ids {
		b = append(b, byte(id), ',')
	}
	return b
}

// TestFault3_FailedPeriodicFsyncIsCountedAndUnhealthy: under fsync:
// interval, a failed periodic fsync is counted, logged as an error, and
// reported by SyncError (hence /readyz) until an fsync succeeds; appends go
// on in a new segment.
func TestFault3_FailedPeriodicFsyncIsCountedAndUnhealthy(t *testing.T) {
	cfs := newCrashFS(rand.New(rand.NewPCG(7, 7)))
	ffs := newFaultFS(cfs, rand.New(rand.NewPCG(7, 8)))
	tel := selftelemetry.New()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	lim := Limits{MaxBytes: 1 << 20, Fsync: FsyncInterval, FsyncInterval: time.Hour}
	var reg Registry
	q, release, err := reg.Acquire(Options{Dir: "/data/q", FS: ffs, Limits: lim, Exporter: "fault3i", Telemetry: tel, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := q.Append(testRecord(LaneNormal, 1, 300)); err != nil {
		t.Fatal(err)
	}
	ffs.set(faultSyncEIO|faultSyncDirEIO, 1)
	q.periodicSync()
	ffs.set(0, 0)
	unhealthy := reg.SyncError()
	counted := testutil.ToFloat64(tel.QueueFsyncErrors.WithLabelValues("fault3i"))
	loggedError := strings.Contains(logs.String(), "level=ERROR")
	if err := q.Append(testRecord(LaneNormal, 2, 300)); err != nil {
		t.Fatal(err)
	}
	q.mu.Lock()
	seg := q.lanes[LaneNormal].active.num
	q.mu.Unlock()
	q.periodicSync()
	healthyAgain := reg.SyncError()
	t.Logf("periodic fsync fault: SyncError %v; fsync errors counted %v; logged as error %v; next append in segment %d; after a good fsync SyncError %v",
		unhealthy, counted, loggedError, seg, healthyAgain)
	if unhealthy == nil {
		t.Error("Registry.SyncError is nil after a failed periodic fsync")
	}
	if counted < 1 {
		t.Error("failed periodic fsync not counted")
	}
	if !loggedError {
		t.Errorf("failed periodic fsync not logged as an error: %q", logs.String())
	}
	if seg == 1 {
		t.Error("the append after the failed fsync went to the failed segment")
	}
	if healthyAgain != nil {
		t.Errorf("SyncError after a good fsync: %v", healthyAgain)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFault8_SplitRequestIsStoredOnce: a request split into a small high
// part and a large normal part meets a full block queue 20 times before
// room is made. AppendAll refuses it whole each time, so the high part is
// stored once (by the try that fits); appending the parts one by one, as
// the exporters did, stored the high part on every try.
func TestFault8_SplitRequestIsStoredOnce(t *testing.T) {
	for _, allAtOnce := range []bool{false, true} {
		q := openQueue(t, Options{Dir: t.TempDir(), Limits: Limits{MaxBytes: 256 << 10, Fsync: FsyncInterval, FsyncInterval: time.Hour}})
		// Fill the normal lane but for 30 KiB.
		var id uint64 = 1000
		for q.used+8<<10 < q.limits.MaxBytes-30<<10 {
			if err := q.Append(testRecord(LaneNormal, id, 8<<10)); err != nil {
				t.Fatal(err)
			}
			id++
		}
		high := testRecord(LaneHigh, 1, 200)
		normal := testRecord(LaneNormal, 2, 40<<10)
		refused := 0
		for try := range 20 {
			if try == 19 {
				// Room at last: the sender delivers the filler.
				var ds []*Delivery
				for d := tryRead(q); d != nil; d = tryRead(q) {
					ds = append(ds, d)
				}
				for _, d := range ds {
					if bodyID(d.Record.Body) >= 1000 {
						q.Ack(d)
					} else {
						q.Nack(d)
					}
				}
			}
			var err error
			if allAtOnce {
				err = q.AppendAll([]Record{high, normal})
			} else {
				err = errors.Join(q.Append(high), q.Append(normal))
			}
			if err != nil {
				if !errors.Is(err, ErrFull) {
					t.Fatalf("try %d: %v", try, err)
				}
				refused++
			}
		}
		stored := map[uint64]int{}
		for _, id := range drainIDs(q) {
			stored[id]++
		}
		t.Logf("AppendAll %v: 20 tries, %d refused (ErrFull); high part stored %d times, normal part %d times", allAtOnce, refused, stored[1], stored[2])
		if allAtOnce && (stored[1] != 1 || stored[2] != 1) {
			t.Errorf("high part stored %d times, normal part %d times; want 1 and 1", stored[1], stored[2])
		}
	}
}

// TestAppendAllBounds: AppendAll's reservation is exact (parts that need
// exactly the free bytes are stored, one byte less and none is), and parts
// that could never fit together are refused as too large.
func TestAppendAllBounds(t *testing.T) {
	const maxBytes = 128 << 10
	recs := []Record{testRecord(LaneHigh, 1, 1000), testRecord(LaneNormal, 2, 2000), testRecord(LaneNormal, 3, 3000), testRecord(LaneLow, 4, 500)}
	need := int64(3 * segHeaderSize) // a new segment in each lane
	for i := range recs {
		need += recordSize(&recs[i])
	}
	overhead := recordSize(&Record{Signal: "traces", Encoding: "proto"})
	for _, free := range []int64{need - 1, need} {
		q := openQueue(t, Options{Dir: t.TempDir(), Limits: Limits{MaxBytes: maxBytes}})
		// A filler record in the low lane leaves free bytes; it is larger
		// than a segment, so the low part needs a new segment too.
		filler := testRecord(LaneLow, 9, int(maxBytes-free-segHeaderSize-overhead))
		if err := q.Append(filler); err != nil {
			t.Fatal(err)
		}
		if got := maxBytes - q.used; got != free {
			t.Fatalf("filler leaves %d bytes free, want %d", got, free)
		}
		err := q.AppendAll(recs)
		st := q.Stats()
		t.Logf("AppendAll of %d parts needing %d bytes with %d free: %v; records per lane %d/%d/%d", len(recs), need, free, err, st[LaneHigh].Records, st[LaneNormal].Records, st[LaneLow].Records)
		switch {
		case free < need:
			if !errors.Is(err, ErrFull) {
				t.Fatalf("AppendAll with %d free of %d needed: %v, want ErrFull", free, need, err)
			}
			if st[LaneHigh].Records != 0 || st[LaneNormal].Records != 0 || st[LaneLow].Records != 1 {
				t.Fatalf("a refused AppendAll stored something: %+v", st)
			}
		default:
			if err != nil {
				t.Fatalf("AppendAll with exactly the room it needs: %v", err)
			}
			if q.used != maxBytes {
				t.Fatalf("used %d after filling the queue exactly, want %d", q.used, maxBytes)
			}
			if got := drainIDs(q); len(got) != 5 || got[0] != 1 {
				t.Fatalf("delivered %v, want the 4 parts and the filler, high first", got)
			}
		}
	}
	q := openQueue(t, Options{Dir: t.TempDir(), Limits: Limits{MaxBytes: maxBytes}})
	big := []Record{testRecord(LaneHigh, 5, 70<<10), testRecord(LaneNormal, 6, 70<<10)}
	if err := q.AppendAll(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AppendAll of parts larger than the queue together: %v, want ErrTooLarge", err)
	}
}

// TestFault12b_NewDirectoriesAreSyncedIntoTheirParent: Open creates the
// queue directory (and missing parents) and its lane directories; each
// must be fsynced into its parent, or a power cut right after the first
// acknowledged append takes the whole queue with it. crashFS loses a
// directory whose parent was not fsynced after its creation.
func TestFault12b_NewDirectoriesAreSyncedIntoTheirParent(t *testing.T) {
	var acked, delivered int
	for seed := range uint64(20) {
		cfs := newCrashFS(rand.New(rand.NewPCG(seed, 12)))
		opts := Options{Dir: "/var/lib/outpost/otlp_central", FS: cfs, Limits: Limits{MaxBytes: 1 << 20, Fsync: FsyncAlways}}
		q, err := Open(opts)
		if err != nil {
			t.Fatal(err)
		}
		n := 1 + int(seed%5)
		for id := range uint64(n) {
			if err := q.Append(testRecord(Lane(id%NumLanes), id, 300)); err != nil {
				t.Fatal(err)
			}
		}
		acked += n
		got := reopenAfterCut(t, q, cfs, opts)
		delivered += len(got)
		if len(got) != n {
			t.Errorf("seed %d: %d records acknowledged, %d delivered after a power cut", seed, n, len(got))
		}
	}
	// MkdirDurable, as cmd uses it for storage.directory.
	cfs := newCrashFS(rand.New(rand.NewPCG(1, 12)))
	if err := MkdirDurable(cfs, "/srv/outpost/storage"); err != nil {
		t.Fatal(err)
	}
	cfs.cut()
	after := cfs.survivor(rand.New(rand.NewPCG(2, 12)))
	_, statErr := after.ReadDir("/srv/outpost/storage")
	t.Logf("new directories: 20 power cuts right after the appends, %d acknowledged, %d delivered; storage directory made by MkdirDurable survives a cut: %v", acked, delivered, statErr == nil)
	if statErr != nil {
		t.Errorf("directory made by MkdirDurable lost at a power cut: %v", statErr)
	}
}

// TestMkdirDurableExisting: existing directories are left alone; a file in
// the way is an error.
func TestMkdirDurableExisting(t *testing.T) {
	dir := t.TempDir()
	if err := MkdirDurable(OSFS{}, filepath.Join(dir, "a", "b")); err != nil {
		t.Fatal(err)
	}
	if err := MkdirDurable(OSFS{}, filepath.Join(dir, "a", "b")); err != nil {
		t.Fatalf("again: %v", err)
	}
	f, err := OSFS{}.OpenFile(filepath.Join(dir, "f"), openFlagsNew, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := MkdirDurable(OSFS{}, filepath.Join(dir, "f", "x")); err == nil {
		t.Fatal("MkdirDurable under a file succeeded")
	}
}
