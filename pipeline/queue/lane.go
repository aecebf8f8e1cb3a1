package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// keepBad is how many set-aside (.bad) segments a lane keeps; older ones
// are deleted so that damaged data cannot fill the disk.
const keepBad = 4

// laneState is one lane: its segments and the index of its unacknowledged
// records. All fields are guarded by Queue.mu.
type laneState struct {
	lane   Lane
	dir    string
	gauges laneGauges

	segs    []*segment // oldest first; every one has live records or is active
	active  *segment   // the segment appends go to; nil: the next append creates one
	reading *segment   // the segment Read last read from; its handle stays open
	nextSeg uint64     // number of the next new segment

	// entries indexes the lane's records from the first unacknowledged one
	// (entries[0], never done between calls) to the newest. Record seq
	// (Delivery.seq) is at entries[seq-base].
	entries  []entry
	base     uint64
	readHint int // no unread entry before this index

	records, items int   // entries not done
	bytes          int64 // sum of segs' sizes

	cursorF    File
	cursorSeq  uint64
	cursorInit bool // the cursor file has a valid header
	cursorBuf  [cursorFileSize]byte

	dirDirty bool     // a segment was created since the last directory fsync
	badNums  []uint64 // set-aside segments, sorted
}

type laneGauges struct {
	bytes, records, items, age prometheus.Gauge
}

// segment is one segment file of a lane.
type segment struct {
	lane    *laneState
	num     uint64
	size    int64 // bytes of records (and header) the queue knows are there
	live    int   // entries of this segment not done
	f       File  // nil when closed: segments are opened lazily
	bad     bool  // has a corrupt region: set aside, not deleted, when retired
	dirty   bool  // written since its last fsync (in Queue.dirty)
	syncing int   // fsync rounds using f right now
	removed bool  // retired

	// syncErr is the first failed fsync of the segment or, while newEntry,
	// of its lane directory: its records since its last good fsync are not
	// known durable, and it takes no more appends. See syncLocked.
	syncErr    error
	newEntry   bool  // created since its lane directory's last good fsync
	syncedSize int64 // bytes covered by its last good fsync (appended segments only)
}

type entryState uint8

const (
	entryUnread entryState = iota
	entryInFlight
	entryDone // acknowledged, expired or dropped
)

type entry struct {
	seg   *segment
	off   int64
	meta  recordMeta
	state entryState
	d     *Delivery // while in flight
}

func (l *laneState) segPath(n uint64) string { return filepath.Join(l.dir, segName(n)) }

// entryLocked returns the entry of in-flight delivery d, or nil.
func (l *laneState) entryLocked(d *Delivery) *entry {
	if d.seq < l.base || d.seq-l.base >= uint64(len(l.entries)) {
		return nil
	}
	e := &l.entries[d.seq-l.base]
	if e.d != d {
		return nil
	}
	return e
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
		n, bad, ok := parseSegName(name)
		if !ok {
			q.warn("ignoring stray file in queue directory", "file", filepath.Join(l.dir, name))
			continue
		}
		l.nextSeg = max(l.nextSeg, n+1)
		if bad {
			l.badNums = append(l.badNums, n)
		} else {
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
		if err := q.scanSegment(l, n, start); err != nil {
			return err
		}
	}
	q.pruneBad(l)
	return nil
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

// scanSegment reads segment n, indexes its intact records from offset start
// on, cuts a damaged tail, and counts and skips damaged regions.
func (q *Queue) scanSegment(l *laneState, n uint64, start int64) error {
	path := l.segPath(n)
	f, err := q.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open queue segment %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return fmt.Errorf("open queue segment %s: %w", path, err)
	}
	buf := make([]byte, size)
	if m, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return fmt.Errorf("read queue segment %s: %w", path, err)
	} else {
		buf = buf[:m]
	}
	seg := &segment{lane: l, num: n, size: int64(len(buf)), f: f}
	if len(buf) < segHeaderSize {
		// Torn at creation: it cannot hold a record.
		f.Close()
		if err := q.fs.Remove(path); err != nil {
			q.warn("cannot delete empty queue segment", "file", path, "err", err)
		}
		return nil
	}
	switch checkSegHeader(buf) {
	case headerUnknown:
		// Another format version (a downgrade?): keep it, never guess.
		f.Close()
		q.corrupt.Inc()
		q.warn("queue segment has an unknown format version; set aside", "file", path)
		q.setAside(l, n)
		return nil
	case headerDamaged:
		q.corrupt.Inc()
		q.warn("queue segment header damaged; reading its records anyway", "file", path)
		seg.bad = true
	}

	first := len(l.entries)
	p := int(start)
	for p < len(buf) {
		if meta, ok := checkRecord(buf[p:]); ok {
			l.entries = append(l.entries, entry{seg: seg, off: int64(p), meta: meta})
			seg.live++
			l.records++
			l.items += int(meta.items)
			p += int(meta.size)
			continue
		}
		q.corrupt.Inc()
		next := findRecord(buf, p+1)
		if next < 0 {
			// A torn last write, or damage reaching the end: nothing
			// after it to keep.
			q.warn("queue segment has a torn or corrupt tail; truncated", "file", path, "offset", p, "bytes", len(buf)-p)
			if err := f.Truncate(int64(p)); err != nil {
				f.Close()
				return fmt.Errorf("truncate queue segment %s: %w", path, err)
			}
			seg.size = int64(p)
			break
		}
		q.warn("queue segment has a corrupt region; skipped", "file", path, "offset", p, "bytes", next-p)
		seg.bad = true
		p = next
	}
	if seg.live == 0 {
		seg.removed = true
		f.Close()
		q.discardFile(l, seg)
		return nil
	}
	if q.persistent {
		// The previous process may have died before fsyncing.
		if err := f.Sync(); err != nil {
			f.Close()
			l.entries = l.entries[:first]
			return fmt.Errorf("fsync queue segment %s: %w", path, err)
		}
	}
	f.Close()
	seg.f = nil
	l.segs = append(l.segs, seg)
	l.bytes += seg.size
	q.used += seg.size
	return nil
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

// finishLocked marks e done and retires its segment if that was the
// segment's last needed record. Callers then call advanceLocked.
func (q *Queue) finishLocked(l *laneState, e *entry) {
	e.state, e.d = entryDone, nil
	l.records--
	l.items -= int(e.meta.items)
	e.seg.live--
	if e.seg.live == 0 && e.seg != l.active && !e.seg.removed {
		q.retireLocked(e.seg)
	}
}

// advanceLocked drops the done prefix of l's index and persists the
// cursor: the position of the first record still needed, or the end of
// the last one done.
func (q *Queue) advanceLocked(l *laneState) {
	n := 0
	for n < len(l.entries) && l.entries[n].state == entryDone {
		n++
	}
	if n == 0 {
		return
	}
	last := l.entries[n-1]
	pos := position{seg: last.seg.num, off: last.off + last.meta.size}
	clear(l.entries[:n])
	l.entries = l.entries[n:]
	l.base += uint64(n)
	l.readHint = max(0, l.readHint-n)
	if len(l.entries) > 0 {
		pos = position{seg: l.entries[0].seg.num, off: l.entries[0].off}
	}
	q.writeCursorLocked(l, pos)
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
		for len(xl.segs) > 0 && q.used+need() > limit {
			q.dropSegmentLocked(xl, xl.segs[0])
		}
	}
	return q.used+need() <= limit, nil
}

// dropSegmentLocked drops segment seg of lane l with its records, counting
// the unread ones' items. Records in flight are not counted here: the
// sender counts them if it delivers or drops them, Nack counts them if
// not.
func (q *Queue) dropSegmentLocked(l *laneState, seg *segment) {
	if l.active == seg {
		l.active = nil
	}
	var items int
	for i := range l.entries {
		e := &l.entries[i]
		if e.seg != seg {
			if e.seg.num > seg.num {
				break
			}
			continue
		}
		switch e.state {
		case entryUnread:
			items += int(e.meta.items)
		case entryInFlight:
			e.d.state = deliveryDropped
		default:
			continue
		}
		q.finishLocked(l, e)
	}
	if !seg.removed {
		q.retireLocked(seg)
	}
	q.droppedFull[l.lane].Add(float64(items))
	q.advanceLocked(l)
	q.publishLocked(l)
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
	l.entries = append(l.entries, entry{seg: seg, off: seg.size, meta: meta})
	seg.live++
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
	seg := &segment{lane: l, num: n, size: segHeaderSize, f: f, newEntry: true}
	l.segs = append(l.segs, seg)
	l.active = seg
	l.bytes += segHeaderSize
	q.used += segHeaderSize
	l.dirDirty = true
	q.markDirtyLocked(seg)
	return nil
}

// nextLocked hands out the next readable record, or returns nil.
func (q *Queue) nextLocked() *Delivery {
	now := q.now()
	for i := range q.lanes {
		l := &q.lanes[i]
		changed := false
		var d *Delivery
		for d == nil && l.readHint < len(l.entries) {
			idx := l.readHint
			e := &l.entries[idx]
			l.readHint++
			if e.state != entryUnread {
				continue
			}
			if q.limits.MaxAge > 0 && now.Sub(unixNanos(e.meta.created)) > q.limits.MaxAge {
				q.droppedExpired[l.lane].Add(float64(e.meta.items))
				q.finishLocked(l, e)
				changed = true
				continue
			}
			rec, err := q.readRecordLocked(l, e)
			if err != nil {
				q.corrupt.Inc()
				q.warn("queue record unreadable; skipped", "lane", l.lane.String(), "segment", e.seg.num, "offset", e.off, "err", err)
				e.seg.bad = true
				q.finishLocked(l, e)
				changed = true
				continue
			}
			d = &Delivery{Record: rec, q: q, lane: l.lane, seq: l.base + uint64(idx)}
			e.state, e.d = entryInFlight, d
		}
		if changed {
			q.advanceLocked(l)
			q.publishLocked(l)
		}
		if d != nil {
			return d
		}
	}
	return nil
}

var errCorruptRecord = errors.New("record checksum mismatch")

// readRecordLocked reads and checks e's record.
func (q *Queue) readRecordLocked(l *laneState, e *entry) (Record, error) {
	if l.reading != e.seg {
		prev := l.reading
		l.reading = e.seg
		if prev != nil {
			q.releaseLocked(prev)
		}
	}
	f, err := q.fileLocked(e.seg)
	if err != nil {
		return Record{}, err
	}
	buf := make([]byte, e.meta.size)
	if n, err := f.ReadAt(buf, e.off); n < len(buf) {
		return Record{}, fmt.Errorf("read queue segment %d: %w", e.seg.num, err)
	}
	if _, ok := checkRecord(buf); !ok {
		return Record{}, errCorruptRecord
	}
	rec, err := decodePayload(buf[frameHeaderSize:])
	if err != nil {
		return Record{}, err
	}
	rec.Lane = l.lane
	return rec, nil
}
