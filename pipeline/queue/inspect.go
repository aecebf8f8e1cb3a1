package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// Offline access to a queue directory: Inspect reads what a queue holds
// without opening it (no lock, nothing written), for `outpost queue ls` and
// for the report of queues no exporter owns; Adopt moves one queue's
// backlog into another's. Both read the format documented in doc.go with
// the same helpers as Open.

// Info describes a queue directory as Inspect found it.
type Info struct {
	Dir   string
	Lanes [NumLanes]LaneInfo
	// Formats lists the distinct signal and encoding pairs of the queued
	// records, sorted: what a sender must speak to deliver them.
	Formats []Format
	// Unreadable is the size of the segments set aside (*.seg.bad) and of
	// segments with an unknown format version: bytes no sender will read.
	Unreadable int64
}

// LaneInfo describes one lane of a queue directory. Records and Items
// count the records not yet acknowledged (from the lane's cursor on);
// Bytes is the size of the segment files from the cursor's segment on, as
// outpost_queue_bytes would show it once the queue is open; Oldest is the
// Created time of the first record, zero when there is none; Corrupt
// counts damaged regions skipped.
type LaneInfo struct {
	Records, Items int
	Bytes          int64
	Oldest         time.Time
	Corrupt        int
}

// Format is the wire format of a record, as its producer stored it.
type Format struct {
	Signal   string
	Encoding string
}

// Total sums the lanes; its Oldest is the oldest of theirs.
func (i Info) Total() LaneInfo {
	var t LaneInfo
	for _, l := range i.Lanes {
		t.Records += l.Records
		t.Items += l.Items
		t.Bytes += l.Bytes
		t.Corrupt += l.Corrupt
		if !l.Oldest.IsZero() && (t.Oldest.IsZero() || l.Oldest.Before(t.Oldest)) {
			t.Oldest = l.Oldest
		}
	}
	return t
}

// IsQueueDir reports whether dir holds a queue: a lane directory (high,
// normal or low) or the lock file.
func IsQueueDir(fsys FS, dir string) bool {
	if fsys == nil {
		fsys = OSFS{}
	}
	for l := range Lane(NumLanes) {
		if _, err := fsys.ReadDir(filepath.Join(dir, l.String())); err == nil {
			return true
		}
	}
	return false
}

// Inspect reads the queue in dir (fsys nil: the OS's) without taking its
// lock and without changing any file, so it may run while outpost has the
// queue open (it then sees a moment's state). Damaged records are skipped
// and counted as Open would; it fails only when a file cannot be read.
func Inspect(fsys FS, dir string) (Info, error) {
	info := Info{Dir: dir}
	formats := map[Format]bool{}
	for l := range Lane(NumLanes) {
		li := &info.Lanes[l]
		bad, err := scanLane(fsys, filepath.Join(dir, l.String()), func(n uint64, size int64) {
			li.Bytes += size
		}, func(rec Record) error {
			li.Records++
			li.Items += rec.Items
			if li.Oldest.IsZero() {
				li.Oldest = rec.Created
			}
			formats[Format{Signal: rec.Signal, Encoding: rec.Encoding}] = true
			return nil
		}, &li.Corrupt)
		info.Unreadable += bad
		if err != nil {
			return info, err
		}
	}
	for f := range formats {
		info.Formats = append(info.Formats, f)
	}
	sort.Slice(info.Formats, func(i, j int) bool {
		a, b := info.Formats[i], info.Formats[j]
		return a.Signal < b.Signal || a.Signal == b.Signal && a.Encoding < b.Encoding
	})
	return info, nil
}

// scanLane calls seg for every segment file from the cursor's segment on
// (its number and size) and rec for every unacknowledged record of the
// lane in dir, in order; the Record's Body is its own. It returns the bytes
// of segments no reader would read (set aside, or of an unknown format
// version). A missing lane directory is an empty lane. An error from rec
// ends the scan and is returned.
func scanLane(fsys FS, dir string, seg func(n uint64, size int64), rec func(Record) error, corrupt *int) (unreadable int64, err error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	names, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read queue lane directory %s: %w", dir, err)
	}
	var nums []uint64
	for _, name := range names {
		n, kind, ok := parseSegName(name)
		switch {
		case !ok:
		case kind != segLive:
			if size, err := fileSize(fsys, filepath.Join(dir, name)); err == nil {
				unreadable += size
			}
		default:
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	cur, curOK, err := readCursor(fsys, filepath.Join(dir, cursorName))
	if err != nil {
		return unreadable, err
	}
	for _, n := range nums {
		start := int64(segHeaderSize)
		if curOK {
			if n < cur.seg {
				continue // acknowledged; Open deletes it
			}
			if n == cur.seg {
				start = max(start, cur.off)
			}
		}
		path := filepath.Join(dir, segName(n))
		b, err := readAll(fsys, path)
		if err != nil {
			return unreadable, err
		}
		if len(b) < segHeaderSize {
			continue // torn at creation: Open deletes it
		}
		hdr, version := checkSegHeader(b)
		if hdr == headerUnknown {
			unreadable += int64(len(b))
			*corrupt++
			continue
		}
		if hdr == headerDamaged {
			*corrupt++
		}
		seg(n, int64(len(b)))
		for p := int(start); p < len(b); {
			meta, ok := checkRecord(b[p:], version)
			if !ok {
				*corrupt++
				next := findRecord(b, p+1, version)
				if next < 0 {
					break // torn tail: Open cuts it
				}
				p = next
				continue
			}
			r, err := decodePayload(b[p+frameHeaderSize:p+int(meta.size)], version)
			if err != nil {
				return unreadable, fmt.Errorf("queue segment %s at %d: %w", path, p, err)
			}
			r.Body = slices.Clone(r.Body)
			if err := rec(r); err != nil {
				return unreadable, err
			}
			p += int(meta.size)
		}
	}
	return unreadable, nil
}

// readCursor returns the position in a lane's cursor file; ok is false
// when there is none or it cannot be decoded (Open then starts at the
// oldest segment, and so does a scan).
func readCursor(fsys FS, path string) (pos position, ok bool, err error) {
	b, err := readAll(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return position{}, false, nil
	}
	if err != nil {
		return position{}, false, err
	}
	pos, _, ok = decodeCursor(b)
	return pos, ok, nil
}

// fileSize returns the size of a file of fsys.
func fileSize(fsys FS, path string) (int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Size()
}

// readAll reads a whole file of fsys.
func readAll(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	b := make([]byte, size)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b[:n], nil
}
