package queue

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// keepBad is how many set-aside (.bad) segments a lane keeps; older ones
// are deleted so that damaged data cannot fill the disk.
const keepBad = 4

// laneState is one lane: its segments and the index of its unacknowledged
// records. All fields are guarded by Queue.mu.
//
// The index is sparse: a segment keeps counts of its records, and only
// the records Read handed out and that are not yet done (the window) have
// an entry each. Every record of a segment before its read position
// (segment.next) that is not in the window is done; every record from the
// read position on is unread. So the index costs a few hundred bytes per
// segment plus one entry per record in flight, whatever the backlog.
type laneState struct {
	lane   Lane
	dir    string
	gauges laneGauges

	segs    []*segment // oldest first; every one has live records, is active, or is not scanned yet
	active  *segment   // the segment appends go to; nil: the next append creates one
	reading *segment   // the segment Read last read from; its handle stays open
	nextSeg uint64     // number of the next new segment

	// window holds the records Read handed out that are not done yet: in
	// flight, or nacked (read again before any new record), oldest first,
	// with ascending seq.
	window  []entry
	readSeq uint64 // seq of the next record taken into the window

	records, items int   // records (and their items) not done: unread or in the window
	bytes          int64 // sum of segs' sizes

	// After an I/O error reading the lane, Read leaves it alone until
	// retryAt (wall clock), backing off with each consecutive failure.
	retryAt time.Time
	ioFails int

	cursorF    File
	cursorSeq  uint64
	cursorInit bool // the cursor file has a valid header
	cursorBuf  [cursorFileSize]byte
	cursorPos  position // last position written (or read at Open)
	cursorOK   bool     // cursorPos is set

	dirDirty     bool     // a segment was created since the last directory fsync
	badNums      []uint64 // set-aside segments, sorted
	unknownBytes int64    // bytes of segments kept aside for their unknown format version
}

type laneGauges struct {
	bytes, records, items, age, unreadable prometheus.Gauge
}

// segment is one segment file of a lane.
type segment struct {
	lane    *laneState
	num     uint64
	size    int64 // bytes of records (and header) the queue knows are there
	live    int   // records of this segment not done: unread ones and those in the window
	f       File  // nil when closed: segments are opened lazily
	bad     bool  // has a corrupt region: set aside, not deleted, when retired
	dirty   bool  // written since its last fsync (in Queue.dirty)
	syncing int   // fsync rounds using f right now
	removed bool  // retired
	// version is the format version of its records (from its header once
	// scanned).
	version uint16

	// unscanned is set while Open (or a later retry) could not read the
	// segment because of an I/O error: its records are not counted yet
	// (nor its bytes) and Read scans it before reading from it.
	unscanned bool
	// next is the read position: the offset of the first record Read has
	// not taken yet (== size when it took them all). Damaged regions
	// found by the scan (skips) are jumped over.
	next int64
	// head is what is known of the record at next without reading it
	// again (size 0: unknown; Read then reads its frame header first).
	head  recordMeta
	skips []region // damaged regions at or after next, in order
	// unread and unreadItems count the intact records (and their items)
	// from next on, as counted by the scan and by appends.
	unread, unreadItems int
	// syncErr is the first failed fsync of the segment or, while newEntry,
	// of its lane directory: its records since its last good fsync are not
	// known durable, and it takes no more appends. See syncLocked.
	syncErr    error
	newEntry   bool  // created since its lane directory's last good fsync
	syncedSize int64 // bytes covered by its last good fsync (appended segments only)
}

// region is a damaged byte range [from, to) of a segment.
type region struct{ from, to int64 }

type entryState uint8

const (
	entryUnread   entryState = iota // nacked: to be read again
	entryInFlight                   // handed out by Read
)

// entry is a record in a lane's window.
type entry struct {
	seq   uint64
	seg   *segment
	off   int64
	meta  recordMeta
	state entryState
	d     *Delivery // while in flight
}

func (l *laneState) segPath(n uint64) string { return filepath.Join(l.dir, segName(n)) }

// windowIndexLocked returns the index in l's window of in-flight delivery
// d, or -1.
func (l *laneState) windowIndexLocked(d *Delivery) int {
	i, ok := slices.BinarySearchFunc(l.window, d.seq, func(e entry, seq uint64) int {
		return cmp.Compare(e.seq, seq)
	})
	if !ok || l.window[i].d != d {
		return -1
	}
	return i
}

// openLane recovers a lane from its directory: see "Recovery" in doc.go.
func (q *Queue) openLane(l *laneState) error {
	names, err := q.fs.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("read queue lane directory %s: %w", l.dir, err)
	}
	var nums []uint64
	l.nextSeg = 1
	for _, name := range names {
		if name == cursorName {
			continue
		}
		n, kind, ok := parseSegName(name)
		if !ok {
			q.warn("ignoring stray file in queue directory", "file", filepath.Join(l.dir, name))
			continue
		}
		l.nextSeg = max(l.nextSeg, n+1)
		switch kind {
		case segBad:
			l.badNums = append(l.badNums, n)
		case segUnknown:
			l.unknownBytes += q.unknownSize(filepath.Join(l.dir, name))
		default:
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	slices.Sort(l.badNums)

	cur, curOK, err := q.openCursor(l)
	if err != nil {
		return err
	}
	if curOK {
		l.nextSeg = max(l.nextSeg, cur.seg+1)
		l.cursorPos, l.cursorOK = cur, true
	}
	for _, n := range nums {
		start := int64(segHeaderSize)
		if curOK {
			if n < cur.seg {
				// Fully acknowledged; its deletion did not survive.
				if err := q.fs.Remove(l.segPath(n)); err != nil {
					q.warn("cannot delete acknowledged queue segment", "file", l.segPath(n), "err", err)
				}
				continue
			}
			if n == cur.seg {
				start = max(start, cur.off)
			}
		}
		seg := &segment{lane: l, num: n, version: formatVersion, next: start, unscanned: true}
		l.segs = append(l.segs, seg)
		if err := q.scanLocked(seg); err != nil {
			// Not corruption: the segment stays, unscanned, and Read
			// scans it when it gets there (retrying with backoff).
			q.ioErrorLocked(l, err)
		}
	}
	q.pruneBad(l)
	return nil
}

// unknownSize returns the size of a kept unknown-version segment file, or
// 0 (logged, counted) if it cannot be read now.
func (q *Queue) unknownSize(path string) int64 {
	f, err := q.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		q.ioErrors[ioOpOpen].Inc()
		q.warn("cannot read the size of a queue segment of unknown format version", "file", path, "err", err)
		return 0
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		q.ioErrors[ioOpRead].Inc()
		q.warn("cannot read the size of a queue segment of unknown format version", "file", path, "err", err)
		return 0
	}
	return size
}

// openCursor opens l's cursor file and returns the position it holds.
func (q *Queue) openCursor(l *laneState) (position, bool, error) {
	path := filepath.Join(l.dir, cursorName)
	f, err := q.fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return position{}, false, fmt.Errorf("open queue cursor %s: %w", path, err)
	}
	l.cursorF = f
	size, err := f.Size()
	if err != nil {
		return position{}, false, fmt.Errorf("open queue cursor %s: %w", path, err)
	}
	b := l.cursorBuf[:min(size, cursorFileSize)]
	if n, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return position{}, false, fmt.Errorf("read queue cursor %s: %w", path, err)
	} else {
		b = b[:n]
	}
	pos, seq, ok := decodeCursor(b)
	l.cursorInit = len(b) == cursorFileSize && checkCursorHeader(b)
	if !ok {
		if size > 0 {
			q.warn("queue cursor unreadable; re-delivering the lane from its oldest segment", "file", path)
		}
		return position{}, false, nil
	}
	l.cursorSeq = seq
	return pos, true, nil
}

// discardFile deletes a retired segment's file, or sets it aside if it
// held corruption.
func (q *Queue) discardFile(l *laneState, seg *segment) {
	if seg.bad {
		q.setAside(l, seg.num)
		return
	}
	if err := q.fs.Remove(l.segPath(seg.num)); err != nil {
		q.warn("cannot delete consumed queue segment", "file", l.segPath(seg.num), "err", err)
	}
}

// setAside renames segment n to *.bad and deletes the oldest .bad files
// beyond keepBad.
func (q *Queue) setAside(l *laneState, n uint64) {
	path := l.segPath(n)
	if err := q.fs.Rename(path, path+".bad"); err != nil {
		q.warn("cannot set aside damaged queue segment; deleting it", "file", path, "err", err)
		_ = q.fs.Remove(path)
		return
	}
	i, _ := slices.BinarySearch(l.badNums, n)
	l.badNums = slices.Insert(l.badNums, i, n)
	q.pruneBad(l)
}

func (q *Queue) pruneBad(l *laneState) {
	for len(l.badNums) > keepBad {
		path := l.segPath(l.badNums[0]) + ".bad"
		if err := q.fs.Remove(path); err != nil {
			q.warn("cannot delete old set-aside queue segment", "file", path, "err", err)
		}
		l.badNums = l.badNums[1:]
	}
}

// fileLocked returns seg's handle, opening it if needed.
func (q *Queue) fileLocked(seg *segment) (File, error) {
	if seg.f == nil {
		f, err := q.fs.OpenFile(seg.lane.segPath(seg.num), os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open queue segment %d of lane %s: %w", seg.num, seg.lane.lane, err)
		}
		seg.f = f
	}
	return seg.f, nil
}

// releaseLocked closes seg's handle unless it is needed: for appends, for
// the next reads, or for an fsync still to come. Keeping only those open
// bounds the descriptors a queue holds whatever its size.
func (q *Queue) releaseLocked(seg *segment) {
	l := seg.lane
	if seg.f == nil || seg == l.active || seg == l.reading || seg.dirty || seg.syncing > 0 {
		return
	}
	seg.f.Close()
	seg.f = nil
}

func (q *Queue) markDirtyLocked(seg *segment) {
	if q.persistent && !seg.dirty {
		seg.dirty = true
		q.dirty = append(q.dirty, seg)
	}
}

// retireLocked deletes (or sets aside) a segment none of whose records is
// still needed.
func (q *Queue) retireLocked(seg *segment) {
	l := seg.lane
	seg.removed = true
	if i := slices.Index(l.segs, seg); i >= 0 {
		l.segs = slices.Delete(l.segs, i, i+1)
	}
	if l.active == seg {
		l.active = nil
	}
	if l.reading == seg {
		l.reading = nil
	}
	if seg.f != nil {
		// An fsync round may be using the handle; it ignores the error
		// this causes because seg.removed is set.
		seg.f.Close()
		seg.f = nil
	}
	q.used -= seg.size
	l.bytes -= seg.size
	q.discardFile(l, seg)
}

// writeCursorLocked writes pos into the cursor slot after the current one.
// It does not fsync: a lost cursor only re-delivers; but the write reaches
// the OS before the call returns, so a kill -9 loses nothing.
func (q *Queue) writeCursorLocked(l *laneState, pos position) {
	l.cursorSeq++
	slot := putCursorSlot(l.cursorBuf[cursorSlotOffset(l.cursorSeq):][:cursorSlotSize], l.cursorSeq, pos)
	var err error
	if l.cursorInit {
		_, err = l.cursorF.WriteAt(slot, cursorSlotOffset(l.cursorSeq))
	} else {
		// New or damaged file: write it whole. The other slot is
		// whatever the buffer holds; its CRC decides if it counts.
		putCursorHeader(l.cursorBuf[:cursorHeaderSize])
		if _, err = l.cursorF.WriteAt(l.cursorBuf[:], 0); err == nil {
			l.cursorInit = true
		}
	}
	if err != nil {
		q.warn("cannot write queue cursor; records may be delivered again after a restart", "lane", l.lane.String(), "err", err)
	}
}

// rotateNeeded reports whether a record of size bytes needs a new segment.
func (q *Queue) rotateNeeded(l *laneState, size int64) bool {
	a := l.active
	return a == nil || (a.size > segHeaderSize && a.size+size > q.segSize)
}

// makeRoomLocked makes room for a record of size bytes in lane l. It
// returns false (and no error) when the record must be dropped instead.
func (q *Queue) makeRoomLocked(l *laneState, size int64) (bool, error) {
	limit := q.limits.MaxBytes
	need := func() int64 {
		if q.rotateNeeded(l, size) {
			return segHeaderSize + size
		}
		return size
	}
	if q.used+need() <= limit {
		return true, nil
	}
	// Active segments whose records are all done free space without
	// losing anything. (They are kept otherwise: deleting them at once
	// would create a file per record when the consumer keeps up.)
	for i := range q.lanes {
		if a := q.lanes[i].active; a != nil && a.live == 0 {
			q.retireLocked(a)
			q.publishLocked(&q.lanes[i])
		}
	}
	if q.used+need() <= limit {
		return true, nil
	}
	if q.limits.FullPolicy != FullDropOldest {
		return false, fmt.Errorf("%w: %d of %d bytes used, the record needs %d", ErrFull, q.used, limit, need())
	}
	// Only lanes as important as l or less may give way.
	var lower, own int64
	for x := int(l.lane); x < NumLanes; x++ {
		for _, s := range q.lanes[x].segs {
			if x == int(l.lane) {
				own += s.size
			} else {
				lower += s.size
			}
		}
	}
	if q.used-lower+need() > limit && q.used-lower-own+segHeaderSize+size > limit {
		return false, nil
	}
	for x := NumLanes - 1; x >= int(l.lane); x-- {
		xl := &q.lanes[x]
		for q.used+need() > limit {
			seg := droppableLocked(xl)
			if seg == nil {
				break
			}
			q.dropSegmentLocked(xl, seg)
		}
	}
	return q.used+need() <= limit, nil
}

// droppableLocked returns the oldest segment of l that drop_oldest may
// drop, or nil. Segments not scanned yet (I/O error) are passed over:
// their bytes are not counted in q.used, so dropping one frees no room,
// and if it still cannot be read its items cannot be counted — deleting it
// would lose acknowledged records without a trace. Read scans it later.
func droppableLocked(l *laneState) *segment {
	for _, s := range l.segs {
		if !s.unscanned {
			return s
		}
	}
	return nil
}

// writeLocked appends frame to lane l, returning the append's sequence
// number for syncTo.
func (q *Queue) writeLocked(l *laneState, frame []byte, meta recordMeta) (uint64, error) {
	if q.rotateNeeded(l, meta.size) && l.active != nil {
		q.sealLocked(l)
	}
	if l.active == nil {
		if err := q.newSegmentLocked(l); err != nil {
			return 0, err
		}
	}
	seg := l.active
	f, err := q.fileLocked(seg)
	if err != nil {
		return 0, err
	}
	if n, err := f.WriteAt(frame, seg.size); err != nil {
		if n > 0 {
			// Keep the segment a clean run of records; failing that,
			// stop appending to it (Open will cut the remains).
			if terr := f.Truncate(seg.size); terr != nil {
				q.sealLocked(l)
			}
		}
		return 0, fmt.Errorf("write queue segment %d of lane %s: %w", seg.num, l.lane, err)
	}
	seg.appendedLocked(meta)
	seg.size += meta.size
	q.used += meta.size
	l.bytes += meta.size
	l.records++
	l.items += int(meta.items)
	q.markDirtyLocked(seg)
	q.writeSeq++
	q.publishLocked(l)
	q.wakeLocked()
	return q.writeSeq, nil
}

// sealLocked ends appends to l's active segment.
func (q *Queue) sealLocked(l *laneState) {
	a := l.active
	l.active = nil
	if a.live == 0 {
		q.retireLocked(a)
	} else {
		q.releaseLocked(a)
	}
}

func (q *Queue) newSegmentLocked(l *laneState) error {
	n := l.nextSeg
	l.nextSeg++
	path := l.segPath(n)
	f, err := q.fs.OpenFile(path, openFlagsNew, 0o644)
	if err != nil {
		return fmt.Errorf("create queue segment %s: %w", path, err)
	}
	if _, err := f.WriteAt(encodeSegHeader(l.lane), 0); err != nil {
		f.Close()
		_ = q.fs.Remove(path)
		return fmt.Errorf("write queue segment header %s: %w", path, err)
	}
	seg := &segment{lane: l, num: n, version: formatVersion, size: segHeaderSize, next: segHeaderSize, f: f, newEntry: true}
	l.segs = append(l.segs, seg)
	l.active = seg
	l.bytes += segHeaderSize
	q.used += segHeaderSize
	l.dirDirty = true
	q.markDirtyLocked(seg)
	return nil
}
