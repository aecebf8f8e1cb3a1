package queue

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// ioFaultFS wraps an FS and makes the first open, or the first ReadAt, of
// each existing segment file fail with a transient I/O error while armed.
// Later attempts on the same file work: the data is intact.
type ioFaultFS struct {
	FS
	mu      sync.Mutex
	armed   bool
	openErr syscall.Errno // 0: opens do not fail
	readErr syscall.Errno // 0: reads do not fail
	opened  map[string]bool
	read    map[string]bool
	faults  int
}

func newIOFaultFS(inner FS, openErr, readErr syscall.Errno) *ioFaultFS {
	return &ioFaultFS{FS: inner, openErr: openErr, readErr: readErr, opened: map[string]bool{}, read: map[string]bool{}}
}

func (f *ioFaultFS) arm() {
	f.mu.Lock()
	f.armed = true
	f.mu.Unlock()
}

func (f *ioFaultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	seg := strings.HasSuffix(name, segSuffix) && flag&os.O_CREATE == 0
	if seg {
		f.mu.Lock()
		fail := f.armed && f.openErr != 0 && !f.opened[name]
		if fail {
			f.opened[name] = true
			f.faults++
		}
		f.mu.Unlock()
		if fail {
			return nil, &fs.PathError{Op: "open", Path: name, Err: f.openErr}
		}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil || !seg {
		return file, err
	}
	return &ioFaultFile{File: file, fs: f, name: name}, nil
}

type ioFaultFile struct {
	File
	fs   *ioFaultFS
	name string
}

func (f *ioFaultFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	fail := f.fs.armed && f.fs.readErr != 0 && !f.fs.read[f.name]
	if fail {
		f.fs.read[f.name] = true
		f.fs.faults++
	}
	f.fs.mu.Unlock()
	if fail {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: f.fs.readErr}
	}
	return f.File.ReadAt(p, off)
}

// TestFault1_TransientIOErrorIsNotCorruption: 40 acknowledged records in
// several segments; then opening, or reading, each existing segment file
// fails once with EMFILE or EIO, either during Open or after it (while
// Read works through the backlog). Every record must be delivered, the I/O
// errors counted as such, nothing counted as corrupt, no segment set aside.
func TestFault1_TransientIOErrorIsNotCorruption(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		openErr, readErr syscall.Errno
		armBeforeOpen    bool
	}{
		{"EMFILE on open during Open", syscall.EMFILE, 0, true},
		{"EMFILE on open during Read", syscall.EMFILE, 0, false},
		{"EIO on ReadAt during Open", 0, syscall.EIO, true},
		{"EIO on ReadAt during Read", 0, syscall.EIO, false},
		{"ENFILE and EIO during Read", syscall.ENFILE, syscall.EIO, false},
	}
	const n = 40
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			lim := Limits{MaxBytes: 1 << 20} // 64 KiB segments
			q, err := Open(Options{Dir: dir, Limits: lim})
			if err != nil {
				t.Fatal(err)
			}
			for id := range uint64(n) {
				if err := q.Append(testRecord(LaneNormal, id, 7000)); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			segs := segmentFiles(t, dir, LaneNormal)

			ffs := newIOFaultFS(OSFS{}, c.openErr, c.readErr)
			if c.armBeforeOpen {
				ffs.arm()
			}
			tel := selftelemetry.New()
			q, err = Open(Options{Dir: dir, FS: ffs, Limits: lim, Exporter: "ioerr", Telemetry: tel})
			if err != nil {
				t.Fatalf("Open with transient I/O errors: %v", err)
			}
			ffs.arm()
			got := map[uint64]int{}
			var order []uint64
			for range n {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				d, err := q.Read(ctx)
				cancel()
				if err != nil {
					t.Logf("delivered %d of %d before Read failed", len(got), n)
					t.Fatalf("Read: %v", err)
				}
				id := bodyID(d.Record.Body)
				got[id]++
				order = append(order, id)
				q.Ack(d)
			}
			for i, id := range order {
				if id != uint64(i) {
					t.Fatalf("delivery order %v", order)
				}
			}
			st := q.Stats()[LaneNormal]
			ioErrs := ioErrorCount(tel, "ioerr")
			corrupt := counterValue(t, tel, "corrupt", "ioerr")
			droppedCorrupt := counterValue(t, tel, "dropped", "ioerr", "normal", "corrupt")
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			bad, _ := filepath.Glob(filepath.Join(dir, "normal", "*"+badSuffix))
			t.Logf("%s: %d segments, %d faults injected; delivered %d of %d acknowledged records, lost %d; io errors counted %v, corrupt %v, dropped(corrupt) %v, .bad files %d",
				c.name, segs, ffs.faults, len(got), n, n-len(got), ioErrs, corrupt, droppedCorrupt, len(bad))
			if len(got) != n || st.Records != 0 {
				t.Errorf("delivered %d distinct records, %d still queued; want all %d delivered", len(got), st.Records, n)
			}
			if ffs.faults == 0 || ioErrs < float64(ffs.faults) {
				t.Errorf("%d faults injected, %v io errors counted", ffs.faults, ioErrs)
			}
			if corrupt != 0 || droppedCorrupt != 0 || len(bad) != 0 {
				t.Errorf("transient I/O errors treated as corruption: corrupt %v, dropped %v, .bad files %d", corrupt, droppedCorrupt, len(bad))
			}
			// Everything was acknowledged: nothing comes back.
			q = openQueue(t, Options{Dir: dir, Limits: lim})
			if ids := drainIDs(q); len(ids) != 0 {
				t.Errorf("%d records came back after all were acknowledged", len(ids))
			}
		})
	}
}

// TestFault1_IOErrorBacksOff: a segment that stays unreadable is retried
// with backoff, not in a hot loop, and Read still honours its context.
// Records of other lanes are delivered meanwhile.
func TestFault1_IOErrorBacksOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lim := Limits{MaxBytes: 1 << 20}
	q, err := Open(Options{Dir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	for id := range uint64(5) {
		if err := q.Append(testRecord(LaneHigh, id, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	sfs := &stuckFS{FS: OSFS{}, stuck: "high"}
	tel := selftelemetry.New()
	q = openQueue(t, Options{Dir: dir, FS: sfs, Limits: lim, Exporter: "stuck", Telemetry: tel})
	if err := q.Append(testRecord(LaneLow, 100, 100)); err != nil {
		t.Fatal(err)
	}
	// The high lane cannot be read: the low record comes first.
	d := mustRead(t, q)
	if id := bodyID(d.Record.Body); id != 100 {
		t.Fatalf("got record %d, want the low lane's 100", id)
	}
	q.Ack(d)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = q.Read(ctx)
	cancel()
	if err != context.DeadlineExceeded {
		t.Fatalf("Read on an unreadable lane: %v, want the context's deadline", err)
	}
	attempts := sfs.attempts()
	ioErrs := ioErrorCount(tel, "stuck")
	// 300 ms of backoff starting at 10 ms and doubling: a handful of
	// attempts, not thousands.
	if attempts > 20 || ioErrs != float64(attempts) {
		t.Errorf("%d attempts to open the unreadable segment in 300 ms, %v io errors counted", attempts, ioErrs)
	}
	// Its segment is kept as it is (its records are counted once it can
	// be read).
	if n, bad := segmentFiles(t, dir, LaneHigh), badFiles(t, dir, LaneHigh); n != 1 || bad != 0 {
		t.Errorf("high lane: %d segment files, %d .bad files; want the 1 segment kept", n, bad)
	}
	sfs.heal()
	ids := map[uint64]bool{}
	for range 5 {
		d := mustRead(t, q)
		ids[bodyID(d.Record.Body)] = true
		q.Ack(d)
	}
	t.Logf("unreadable lane: %d open attempts in 300 ms (io errors counted %v); after healing delivered %d of 5", attempts, ioErrs, len(ids))
	if len(ids) != 5 {
		t.Errorf("delivered %d of 5", len(ids))
	}
}

func badFiles(t testing.TB, dir string, lane Lane) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, lane.String(), "*"+badSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// ioErrorCount sums outpost_queue_io_errors_total over its ops.
func ioErrorCount(tel *selftelemetry.Metrics, exporter string) float64 {
	var n float64
	for _, op := range ioOpNames {
		n += testutil.ToFloat64(tel.QueueIOErrors.WithLabelValues(exporter, op))
	}
	return n
}

// stuckFS fails every open of the segments of one lane with EIO until
// healed.
type stuckFS struct {
	FS
	stuck  string
	mu     sync.Mutex
	n      int
	healed bool
}

func (f *stuckFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if strings.HasSuffix(name, segSuffix) && filepath.Base(filepath.Dir(name)) == f.stuck {
		f.mu.Lock()
		fail := !f.healed
		if fail {
			f.n++
		}
		f.mu.Unlock()
		if fail {
			return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EIO}
		}
	}
	return f.FS.OpenFile(name, flag, perm)
}

func (f *stuckFS) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *stuckFS) heal() {
	f.mu.Lock()
	f.healed = true
	f.mu.Unlock()
}

// TestFault1_DropOldestKeepsUnreadableSegments: under drop_oldest a full
// queue never deletes a segment it could not scan (I/O error): its items
// are unknown, so deleting it would lose acknowledged records without a
// count. It drops the next segments that can be counted instead; once the
// segment can be read, its records are delivered. Every acknowledged
// item is delivered or counted as dropped.
func TestFault1_DropOldestKeepsUnreadableSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lim := Limits{MaxBytes: 256 << 10, FullPolicy: FullDropOldest} // 64 KiB segments
	q := openQueue(t, Options{Dir: dir, Limits: lim})
	items := map[uint64]int{}
	for id := range uint64(20) {
		rec := testRecord(LaneLow, id, 7000)
		if err := q.Append(rec); err != nil {
			t.Fatal(err)
		}
		items[id] = rec.Items
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	lowSegs := segmentFiles(t, dir, LaneLow)

	// The low lane's segments cannot be opened: Open leaves them
	// unscanned. The high lane overflows the queue.
	sfs := &stuckFS{FS: OSFS{}, stuck: "low"}
	tel := selftelemetry.New()
	q = openQueue(t, Options{Dir: dir, FS: sfs, Limits: lim, Exporter: "dropio", Telemetry: tel})
	for id := uint64(100); id < 160; id++ {
		rec := testRecord(LaneHigh, id, 7000)
		if err := q.Append(rec); err != nil {
			t.Fatal(err)
		}
		items[id] = rec.Items
	}
	if n := segmentFiles(t, dir, LaneLow); n != lowSegs {
		t.Errorf("low lane: %d segment files after the queue filled up, want its %d unreadable ones kept", n, lowSegs)
	}
	sfs.heal()
	got := map[uint64]bool{}
	for {
		// Read, not tryRead: the low lane is in its I/O error backoff.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		d, err := q.Read(ctx)
		cancel()
		if err != nil {
			break
		}
		got[bodyID(d.Record.Body)] = true
		q.Ack(d)
	}
	var lost, lostLow int
	for id, n := range items {
		if !got[id] {
			lost += n
			if id < 100 {
				lostLow++
			}
		}
	}
	droppedHigh := counterValue(t, tel, "dropped", "dropio", "high", "queue_full")
	droppedLow := counterValue(t, tel, "dropped", "dropio", "low", "queue_full")
	t.Logf("%d unreadable low segments; %d of 80 records delivered; items not delivered %d, dropped (queue_full) high %v, low %v", lowSegs, len(got), lost, droppedHigh, droppedLow)
	if lostLow != 0 {
		t.Errorf("%d records of the unreadable low segments lost", lostLow)
	}
	if float64(lost) != droppedHigh+droppedLow {
		t.Errorf("%d items not delivered, %v counted as dropped", lost, droppedHigh+droppedLow)
	}
	if droppedHigh == 0 {
		t.Errorf("nothing dropped: the test did not fill the queue")
	}
}
