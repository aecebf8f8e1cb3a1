package queue

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// fillQueue appends records with ids [first, first+n) spread over the
// lanes (id%3), acknowledges the first acked of them in read order, and
// closes the queue.
func fillQueue(t *testing.T, dir string, first, n uint64, acked int) {
	t.Helper()
	q, err := Open(Options{Dir: dir, Limits: Limits{MaxBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for id := first; id < first+n; id++ {
		if err := q.Append(testRecord(Lane(id%3), id, 3000)); err != nil {
			t.Fatal(err)
		}
	}
	for range acked {
		q.Ack(mustRead(t, q))
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAllIDs opens dir and returns the ids of its records in read order,
// per lane.
func readAllIDs(t *testing.T, dir string) [NumLanes][]uint64 {
	t.Helper()
	q := openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: 64 << 20}})
	var out [NumLanes][]uint64
	for d := tryRead(q); d != nil; d = tryRead(q) {
		out[d.Record.Lane] = append(out[d.Record.Lane], bodyID(d.Record.Body))
		q.Ack(d)
	}
	return out
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	fillQueue(t, dir, 0, 30, 4) // 4 high records acknowledged
	info, err := Inspect(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	tot := info.Total()
	if tot.Records != 26 || info.Lanes[LaneHigh].Records != 6 || info.Lanes[LaneNormal].Records != 10 {
		t.Fatalf("inspect: %+v", info.Lanes)
	}
	if len(info.Formats) != 1 || info.Formats[0] != (Format{Signal: "traces", Encoding: "proto"}) {
		t.Fatalf("formats %v", info.Formats)
	}
	// What Open finds agrees.
	got := readAllIDs(t, dir)
	if n := len(got[0]) + len(got[1]) + len(got[2]); n != tot.Records {
		t.Fatalf("inspect counts %d records, the queue delivers %d", tot.Records, n)
	}
	if !IsQueueDir(nil, dir) || IsQueueDir(nil, t.TempDir()) {
		t.Fatal("IsQueueDir")
	}
	t.Logf("inspect: %d records, %d items, %d bytes; lanes %+v", tot.Records, tot.Items, tot.Bytes, info.Lanes)
}

// TestFault11_AdoptKeepsOrderAndLanes: the adopted records follow the
// target's own, each in its lane and in order; the source is gone.
func TestFault11_AdoptKeepsOrderAndLanes(t *testing.T) {
	from, to := filepath.Join(t.TempDir(), "exporter-otlp-gateway"), filepath.Join(t.TempDir(), "exporter-otlp-central")
	fillQueue(t, from, 100, 40, 5)
	fillQueue(t, to, 0, 9, 0)
	want := readAllIDs(t, from) // reading acknowledges: fill again
	os.RemoveAll(from)
	fillQueue(t, from, 100, 40, 5)
	targetBefore := readAllIDs(t, to)
	os.RemoveAll(to)
	fillQueue(t, to, 0, 9, 0)

	res, err := Adopt(AdoptOptions{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	got := readAllIDs(t, to)
	for l := range Lane(NumLanes) {
		exp := append(append([]uint64{}, targetBefore[l]...), want[l]...)
		if len(got[l]) != len(exp) {
			t.Fatalf("lane %s: %v, want %v", l, got[l], exp)
		}
		for i := range exp {
			if got[l][i] != exp[i] {
				t.Fatalf("lane %s: %v, want %v", l, got[l], exp)
			}
		}
	}
	if _, err := os.Stat(from); !errors.Is(err, fs.ErrNotExist) || !res.Removed {
		t.Fatalf("source still there (%v), removed %v", err, res.Removed)
	}
	tot := res.Moved.Total()
	t.Logf("adopted %d records (%d items) after the target's %d; lanes kept in order; source removed", tot.Records, tot.Items, 9)
}

func TestAdoptRefusals(t *testing.T) {
	from, to := t.TempDir(), t.TempDir()
	fillQueue(t, from, 0, 6, 0)
	// The target is open (outpost runs with it).
	q := openQueue(t, Options{Dir: to, Limits: Limits{MaxBytes: 1 << 20}})
	if _, err := Adopt(AdoptOptions{From: from, To: to}); !errors.Is(err, ErrLocked) {
		t.Fatalf("adopt into an open queue: %v, want ErrLocked", err)
	}
	q.Close()
	// The source is open.
	src := openQueue(t, Options{Dir: from, Limits: Limits{MaxBytes: 1 << 20}})
	if _, err := Adopt(AdoptOptions{From: from, To: to}); !errors.Is(err, ErrLocked) {
		t.Fatalf("adopt from an open queue: %v, want ErrLocked", err)
	}
	src.Close()
	// The check refuses.
	_, err := Adopt(AdoptOptions{From: from, To: to, Check: func(Info) error { return errors.New("wrong wire format") }})
	if err == nil || !strings.Contains(err.Error(), "wrong wire format") {
		t.Fatalf("check: %v", err)
	}
	if _, err := Adopt(AdoptOptions{From: from, To: from + "/."}); err == nil {
		t.Fatal("adopt into itself")
	}
	if _, err := Adopt(AdoptOptions{From: t.TempDir(), To: to}); err == nil {
		t.Fatal("adopt from a directory that is no queue")
	}
	ids := readAllIDs(t, from)
	if n := len(ids[0]) + len(ids[1]) + len(ids[2]); n != 6 {
		t.Fatalf("source has %d records after the refusals, want 6", n)
	}
}

// failingFS fails writes under prefix after the first n.
type failingFS struct {
	OSFS
	prefix string
	left   *atomic.Int64
}

type failingFile struct {
	File
	fs failingFS
}

func (f failingFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil || !strings.HasPrefix(name, f.prefix) {
		return file, err
	}
	return failingFile{File: file, fs: f}, nil
}

func (f failingFile) WriteAt(b []byte, off int64) (int, error) {
	if f.fs.left.Add(-1) < 0 {
		return 0, errors.New("injected write error")
	}
	return f.File.WriteAt(b, off)
}

// An adoption that fails half way (here: the target's disk fails after 10
// writes) leaves the source whole; adopting again delivers every record
// (some twice: at-least-once).
func TestAdoptFailureKeepsSource(t *testing.T) {
	from, to := t.TempDir(), t.TempDir()
	fillQueue(t, from, 0, 30, 0)
	left := &atomic.Int64{}
	left.Store(10)
	if _, err := Adopt(AdoptOptions{FS: failingFS{prefix: to, left: left}, From: from, To: to}); err == nil {
		t.Fatal("adopt with a failing target succeeded")
	}
	info, err := Inspect(nil, from)
	if err != nil || info.Total().Records != 30 {
		t.Fatalf("source after the failed adoption: %d records, %v", info.Total().Records, err)
	}
	if _, err := Adopt(AdoptOptions{From: from, To: to}); err != nil {
		t.Fatal(err)
	}
	got := readAllIDs(t, to)
	seen := map[uint64]bool{}
	n := 0
	for _, ids := range got {
		for _, id := range ids {
			seen[id] = true
			n++
		}
	}
	t.Logf("failed adoption then a second one: %d distinct of 30 records in the target, %d duplicates", len(seen), n-len(seen))
	if len(seen) != 30 {
		t.Fatalf("%d distinct records in the target, want 30", len(seen))
	}
}

// Set-aside segments are never moved, and keep the source directory.
func TestAdoptKeepsBadSegments(t *testing.T) {
	from, to := t.TempDir(), t.TempDir()
	fillQueue(t, from, 0, 6, 0)
	bad := filepath.Join(from, "normal", segName(99)+".bad")
	if err := os.WriteFile(bad, []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Adopt(AdoptOptions{From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed {
		t.Fatal("source removed with a set-aside segment in it")
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatal(err)
	}
	info, _ := Inspect(nil, from)
	if info.Total().Records != 0 || info.Unreadable != int64(len("damaged")) {
		t.Fatalf("source after adoption: %+v", info)
	}
}
