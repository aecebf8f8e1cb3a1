package queue

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// The read side of a lane: scanning segments, the sparse index, reading
// records, and telling I/O errors (retried) from corruption (skipped and
// counted). See "Recovery at Open" and "Reading" in doc.go.

// ioOp is the operation an I/O error on the queue's own files happened
// in; it is the `op` label of QueueIOErrors.
type ioOp uint8

const (
	ioOpOpen ioOp = iota
	ioOpRead
	ioOpSync
	numIOOps
)

var ioOpNames = [numIOOps]string{"open", "read", "fsync"}

// segIOError is an I/O error (not corruption) reading a segment: the data
// may be intact and is read again later.
type segIOError struct {
	op  ioOp
	err error
}

func (e *segIOError) Error() string { return e.err.Error() }
func (e *segIOError) Unwrap() error { return e.err }

// errCorruptRecord reports bytes that are not an intact record where one
// was expected: a checksum or format mismatch, or bytes missing (a short
// read inside the size the queue knows).
var errCorruptRecord = errors.New("record checksum mismatch")

// I/O error backoff of a lane: from ioBackoffMin, doubling, to ioBackoffMax.
const (
	ioBackoffMin = 10 * time.Millisecond
	ioBackoffMax = 5 * time.Second
)

// readAtLocked reads len(b) bytes of seg at off: a short read is
// corruption (the bytes the queue knows of are not there), any other
// failure an I/O error.
func (q *Queue) readAtLocked(seg *segment, b []byte, off int64) error {
	f, err := q.fileLocked(seg)
	if err != nil {
		return &segIOError{ioOpOpen, err}
	}
	n, err := f.ReadAt(b, off)
	switch {
	case n == len(b):
		return nil
	case err == nil || errors.Is(err, io.EOF):
		return fmt.Errorf("%w: segment %d of lane %s ends at %d, before %d", errCorruptRecord, seg.num, seg.lane.lane, off+int64(n), off+int64(len(b)))
	default:
		return &segIOError{ioOpRead, fmt.Errorf("read queue segment %d of lane %s: %w", seg.num, seg.lane.lane, err)}
	}
}

// ioErrorLocked counts and logs an I/O error reading lane l and makes
// Read leave the lane alone for a backoff that grows with each
// consecutive failure.
func (q *Queue) ioErrorLocked(l *laneState, err error) {
	op := ioOpRead
	var se *segIOError
	if errors.As(err, &se) {
		op = se.op
	}
	q.ioErrors[op].Inc()
	backoff := ioBackoffMin << min(l.ioFails, 10)
	backoff = min(backoff, ioBackoffMax)
	l.ioFails++
	l.retryAt = time.Now().Add(backoff)
	q.warn("I/O error reading the queue; its records stay queued and are read again later", "lane", l.lane.String(), "op", ioOpNames[op], "retry_in", backoff, "err", err)
}

// ioOKLocked ends l's I/O error backoff.
func (l *laneState) ioOKLocked() {
	l.ioFails = 0
	l.retryAt = time.Time{}
}

// retryWaitLocked returns how long until a lane in I/O error backoff may
// be read again (at least 1ms), or 0 if none is.
func (q *Queue) retryWaitLocked() time.Duration {
	var wait time.Duration
	now := time.Now()
	for i := range q.lanes {
		if at := q.lanes[i].retryAt; !at.IsZero() {
			w := max(at.Sub(now), time.Millisecond)
			if wait == 0 || w < wait {
				wait = w
			}
		}
	}
	return wait
}

// scanBuffer returns a buffer of n bytes, reused between the segments
// Open scans (and dropped after Open).
func (q *Queue) scanBuffer(n int64) []byte {
	if int64(cap(q.scanBuf)) < n {
		q.scanBuf = make([]byte, n)
	}
	return q.scanBuf[:n]
}

// scanLocked reads segment seg (in l.segs, unscanned) from seg.next on:
// it counts its intact records, cuts a torn tail, and counts and notes the
// damaged regions so that Read jumps over them. A segment with nothing
// left to read is deleted (or set aside, if damaged) and leaves l.segs; so
// does one of an unknown format version, kept under unknownSuffix.
//
// It returns an error only for an I/O error (a *segIOError): nothing is
// counted or changed then, and the segment stays, unscanned.
func (q *Queue) scanLocked(seg *segment) error {
	l := seg.lane
	path := l.segPath(seg.num)
	f, err := q.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return &segIOError{ioOpOpen, fmt.Errorf("open queue segment %s: %w", path, err)}
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return &segIOError{ioOpRead, fmt.Errorf("open queue segment %s: %w", path, err)}
	}
	buf := q.scanBuffer(size)
	if m, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return &segIOError{ioOpRead, fmt.Errorf("read queue segment %s: %w", path, err)}
	} else {
		buf = buf[:m]
	}
	if len(buf) < segHeaderSize {
		// Torn at creation: it cannot hold a record.
		f.Close()
		q.forgetLocked(seg)
		if err := q.fs.Remove(path); err != nil {
			q.warn("cannot delete empty queue segment", "file", path, "err", err)
		}
		return nil
	}
	hdr, version := checkSegHeader(buf)
	if hdr == headerUnknown {
		// Another format version (a rollback after an upgrade): keep it,
		// never guess, never delete.
		f.Close()
		q.corrupt.Inc()
		q.forgetLocked(seg)
		q.keepUnknown(l, seg.num, int64(len(buf)))
		return nil
	}
	seg.version = version

	// Count first, change nothing until the fsync below has succeeded:
	// an I/O error must leave the segment as it was, to be scanned again.
	var (
		unread, items int
		head          recordMeta
		skips         []region
		lostItems     int
		torn          bool
	)
	end := len(buf)
	p := min(max(int(seg.next), segHeaderSize), len(buf))
	for p < len(buf) {
		if meta, ok := checkRecord(buf[p:], version); ok {
			if unread == 0 {
				head = meta
			}
			unread++
			items += int(meta.items)
			p += int(meta.size)
			continue
		}
		next := findRecord(buf, p+1, version)
		if next < 0 {
			// A torn last write, or damage reaching the end: nothing
			// after it to keep.
			torn, end = true, p
			break
		}
		if n, ok := headerItems(buf[p:]); ok {
			lostItems += int(n)
		}
		skips = append(skips, region{int64(p), int64(next)})
		p = next
	}
	if unread > 0 && q.persistent {
		// The previous process may have died before fsyncing.
		if err := f.Sync(); err != nil {
			f.Close()
			return &segIOError{ioOpSync, fmt.Errorf("fsync queue segment %s: %w", path, err)}
		}
	}

	if hdr == headerDamaged {
		q.corrupt.Inc()
		q.warn("queue segment header damaged; reading its records anyway", "file", path)
		seg.bad = true
	}
	for _, r := range skips {
		q.corrupt.Inc()
		q.warn("queue segment has a corrupt region; skipped", "file", path, "offset", r.from, "bytes", r.to-r.from)
		seg.bad = true
	}
	q.droppedCorrupt[l.lane].Add(float64(lostItems))
	if torn {
		q.corrupt.Inc()
		q.warn("queue segment has a torn or corrupt tail; truncated", "file", path, "offset", end, "bytes", len(buf)-end)
		if unread > 0 {
			if err := f.Truncate(int64(end)); err != nil {
				// Appends never go to this segment again and reads stop
				// at end: the garbage stays until the file is deleted.
				q.warn("cannot truncate queue segment", "file", path, "err", err)
			}
		}
	}
	f.Close()
	seg.unscanned = false
	if unread == 0 {
		q.forgetLocked(seg)
		seg.removed = true
		q.discardFile(l, seg)
		return nil
	}
	seg.size = int64(end)
	seg.head = head
	seg.skips = skips
	seg.unread, seg.unreadItems = unread, items
	seg.live += unread
	seg.skipDamageLocked()
	l.bytes += seg.size
	q.used += seg.size
	l.records += unread
	l.items += items
	return nil
}

// forgetLocked takes seg out of its lane's list (it never held counted
// records or bytes).
func (q *Queue) forgetLocked(seg *segment) {
	l := seg.lane
	if i := slices.Index(l.segs, seg); i >= 0 {
		l.segs = slices.Delete(l.segs, i, i+1)
	}
}

// keepUnknown renames segment n, of an unknown format version, to
// *.seg.unknown, where no pruning ever deletes it, and adds its size to
// the lane's unreadable bytes. If the rename fails the file stays as it
// is (Open finds it again).
func (q *Queue) keepUnknown(l *laneState, n uint64, size int64) {
	path := l.segPath(n)
	q.warn("queue segment has an unknown format version (written by a newer outpost?); kept aside, never deleted", "file", path, "bytes", size)
	if err := q.fs.Rename(path, path+".unknown"); err != nil {
		q.warn("cannot rename queue segment of unknown format version; leaving it in place", "file", path, "err", err)
	}
	l.unknownBytes += size
}

// skipDamageLocked moves seg's read position past a damaged region that
// starts (or lies) at it.
func (s *segment) skipDamageLocked() {
	for len(s.skips) > 0 && s.skips[0].from <= s.next {
		if s.next < s.skips[0].to {
			s.next = s.skips[0].to
			s.head = recordMeta{}
		}
		s.skips = s.skips[1:]
	}
	if len(s.skips) == 0 {
		s.skips = nil
	}
}

// appendedLocked indexes a record of meta appended at the end of s (before
// s.size grows).
func (s *segment) appendedLocked(meta recordMeta) {
	if s.unread == 0 && s.next == s.size {
		s.head = meta
	}
	s.unread++
	s.unreadItems += int(meta.items)
	s.live++
}

// takeLocked moves the record at s.next (of meta) out of the unread ones:
// into the window, or done.
func (s *segment) takeLocked(meta recordMeta) {
	s.next += meta.size
	s.unread = max(0, s.unread-1)
	s.unreadItems = max(0, s.unreadItems-int(meta.items))
	s.head = recordMeta{}
	s.skipDamageLocked()
}

// doneRecordLocked marks one record of seg (with items) done and retires
// seg if it was its last one.
func (q *Queue) doneRecordLocked(seg *segment, items uint32) {
	l := seg.lane
	l.records--
	l.items -= int(items)
	seg.live--
	q.maybeRetireLocked(seg)
}

// maybeRetireLocked retires seg if none of its records is needed any more.
func (q *Queue) maybeRetireLocked(seg *segment) {
	if seg.live <= 0 && !seg.unscanned && !seg.removed && seg != seg.lane.active {
		q.retireLocked(seg)
	}
}

// doneLocked removes entry i from l's window, done.
func (q *Queue) doneLocked(l *laneState, i int) {
	e := l.window[i]
	l.window = slices.Delete(l.window, i, i+1)
	q.doneRecordLocked(e.seg, e.meta.items)
}

// lostLocked accounts for the unread records of seg that a read-time
// corruption made unreachable, once its read position is at its end.
func (q *Queue) lostLocked(seg *segment) {
	if seg.unread == 0 {
		return
	}
	l := seg.lane
	q.droppedCorrupt[l.lane].Add(float64(seg.unreadItems))
	l.records -= seg.unread
	l.items -= seg.unreadItems
	seg.live -= seg.unread
	seg.unread, seg.unreadItems = 0, 0
	q.maybeRetireLocked(seg)
}

// readSegLocked returns the first segment of l with something left to
// read (or to scan), or nil.
func (q *Queue) readSegLocked(l *laneState) *segment {
	for i := 0; i < len(l.segs); {
		seg := l.segs[i]
		if seg.unscanned || seg.next < seg.size {
			return seg
		}
		q.lostLocked(seg)
		if i < len(l.segs) && l.segs[i] == seg {
			i++
		}
	}
	return nil
}

// nextLocked hands out the next readable record, or returns nil. A lane
// whose files fail with an I/O error is left alone until its backoff ends
// (see retryWaitLocked); lanes after it are still read.
func (q *Queue) nextLocked() *Delivery {
	now := q.now()
	wall := time.Now()
	for i := range q.lanes {
		l := &q.lanes[i]
		if !l.retryAt.IsZero() && wall.Before(l.retryAt) {
			continue
		}
		// Set again (further out) if this attempt fails too; ioFails
		// keeps growing the backoff until a read succeeds.
		l.retryAt = time.Time{}
		d := q.nextInLaneLocked(l, now)
		q.scanBuf = nil
		q.advanceLocked(l)
		q.publishLocked(l)
		if d != nil {
			return d
		}
	}
	return nil
}

func (q *Queue) expired(created int64, now time.Time) bool {
	return q.limits.MaxAge > 0 && now.Sub(unixNanos(created)) > q.limits.MaxAge
}

// nextInLaneLocked hands out l's next record: a nacked one first, else the
// one at the read position.
func (q *Queue) nextInLaneLocked(l *laneState, now time.Time) *Delivery {
	for i := 0; i < len(l.window); {
		e := &l.window[i]
		if e.state != entryUnread {
			i++
			continue
		}
		if q.expired(e.meta.created, now) {
			q.droppedExpired[l.lane].Add(float64(e.meta.items))
			q.doneLocked(l, i)
			continue
		}
		rec, err := q.readRecordLocked(e.seg, e.off, e.meta.size)
		if errors.Is(err, errCorruptRecord) {
			// Damaged since it was first read: its size and items are
			// known.
			q.corrupt.Inc()
			q.droppedCorrupt[l.lane].Add(float64(e.meta.items))
			q.warn("queue record unreadable; skipped", "lane", l.lane.String(), "segment", e.seg.num, "offset", e.off, "err", err)
			e.seg.bad = true
			q.doneLocked(l, i)
			continue
		}
		if err != nil {
			q.ioErrorLocked(l, err)
			return nil
		}
		l.ioOKLocked()
		d := &Delivery{Record: rec, q: q, lane: l.lane, seq: e.seq}
		e.state, e.d = entryInFlight, d
		return d
	}
	for {
		seg := q.readSegLocked(l)
		if seg == nil {
			return nil
		}
		if seg.unscanned {
			if err := q.scanLocked(seg); err != nil {
				q.ioErrorLocked(l, err)
				return nil
			}
			continue
		}
		off := seg.next
		rec, meta, nextHead, err := q.readNextLocked(seg)
		if errors.Is(err, errCorruptRecord) {
			if err := q.skipCorruptLocked(seg, err); err != nil {
				q.ioErrorLocked(l, err)
				return nil
			}
			continue
		}
		if err != nil {
			q.ioErrorLocked(l, err)
			return nil
		}
		l.ioOKLocked()
		seg.takeLocked(meta)
		if seg.next == off+meta.size && nextHead.size > 0 && nextHead.size <= seg.size-seg.next {
			seg.head = nextHead
		}
		if q.expired(meta.created, now) {
			q.droppedExpired[l.lane].Add(float64(meta.items))
			q.doneRecordLocked(seg, meta.items)
			continue
		}
		d := &Delivery{Record: rec, q: q, lane: l.lane, seq: l.readSeq}
		l.window = append(l.window, entry{seq: l.readSeq, seg: seg, off: off, meta: meta, state: entryInFlight, d: d})
		l.readSeq++
		return d
	}
}

// frameHeadPeek is how much of the next record's frame Read reads along
// with a record: enough for its size, created time and items.
const frameHeadPeek = frameHeaderSize + 12

// readNextLocked reads and checks the record at seg's read position. It
// does not move the read position. Along with the record it reads the
// head of the next one (next; size 0 if there is none or it is not
// plausible), so that the next call knows its size.
func (q *Queue) readNextLocked(seg *segment) (rec Record, meta, next recordMeta, err error) {
	l := seg.lane
	q.useForReadingLocked(seg)
	if seg.head.size == 0 {
		b := make([]byte, min(frameHeadPeek, seg.size-seg.next))
		if err := q.readAtLocked(seg, b, seg.next); err != nil {
			return Record{}, recordMeta{}, recordMeta{}, err
		}
		head, ok := peekFrame(b)
		if !ok || head.size > seg.size-seg.next {
			return Record{}, recordMeta{}, recordMeta{}, errCorruptRecord
		}
		seg.head = head
	}
	size := seg.head.size
	peek := min(frameHeadPeek, seg.size-seg.next-size)
	buf := make([]byte, size+peek)
	if err := q.readAtLocked(seg, buf, seg.next); err != nil {
		return Record{}, recordMeta{}, recordMeta{}, err
	}
	meta, ok := checkRecord(buf[:size], seg.version)
	if !ok || meta.size != size {
		return Record{}, recordMeta{}, recordMeta{}, errCorruptRecord
	}
	rec, err = decodePayload(buf[frameHeaderSize:size:size], seg.version)
	if err != nil {
		return Record{}, recordMeta{}, recordMeta{}, fmt.Errorf("%w: %w", errCorruptRecord, err)
	}
	rec.Lane = l.lane
	next, _ = peekFrame(buf[size:])
	return rec, meta, next, nil
}

// useForReadingLocked makes seg the segment whose handle stays open for
// reading, releasing the previous one.
func (q *Queue) useForReadingLocked(seg *segment) {
	l := seg.lane
	if l.reading != seg {
		prev := l.reading
		l.reading = seg
		if prev != nil {
			q.releaseLocked(prev)
		}
	}
}

// readRecordLocked reads and checks the record of size bytes at off in seg
// (one read before, now read again after a Nack).
func (q *Queue) readRecordLocked(seg *segment, off, size int64) (Record, error) {
	q.useForReadingLocked(seg)
	buf := make([]byte, size)
	if err := q.readAtLocked(seg, buf, off); err != nil {
		return Record{}, err
	}
	if _, ok := checkRecord(buf, seg.version); !ok {
		return Record{}, errCorruptRecord
	}
	rec, err := decodePayload(buf[frameHeaderSize:], seg.version)
	if err != nil {
		return Record{}, fmt.Errorf("%w: %w", errCorruptRecord, err)
	}
	rec.Lane = seg.lane.lane
	return rec, nil
}

// skipCorruptLocked handles a record found damaged at seg's read position
// after the scan: it counts the damaged region and moves the read position
// to the next intact record (or the end). The unread records the region
// swallowed are counted as dropped, exactly, once the read position
// reaches the end of the segment (lostLocked): the scan or the appends
// counted them. It returns an I/O error if the rest of the segment cannot
// be read (nothing is changed then).
func (q *Queue) skipCorruptLocked(seg *segment, cause error) error {
	l := seg.lane
	rest := make([]byte, seg.size-seg.next)
	if err := q.readAtLocked(seg, rest, seg.next); err != nil && !errors.Is(err, errCorruptRecord) {
		return err
	}
	next := findRecord(rest, 1, seg.version)
	q.corrupt.Inc()
	q.warn("queue record unreadable; skipped to the next intact record", "lane", l.lane.String(), "segment", seg.num, "offset", seg.next, "err", cause)
	seg.bad = true
	if next < 0 {
		seg.next = seg.size
	} else {
		seg.next += int64(next)
	}
	seg.head = recordMeta{}
	seg.skipDamageLocked()
	return nil
}

// advanceLocked persists l's cursor if it moved: the position of the
// first record still needed, or the end of the lane.
func (q *Queue) advanceLocked(l *laneState) {
	pos := l.cursorPositionLocked()
	if l.cursorOK && pos == l.cursorPos {
		return
	}
	l.cursorPos, l.cursorOK = pos, true
	q.writeCursorLocked(l, pos)
}

// cursorPositionLocked is the position of l's first record not done: the
// oldest in the window, else the read position (an unscanned segment
// stops it), else the end of the last segment, else the start of the next
// segment to be created.
func (l *laneState) cursorPositionLocked() position {
	if len(l.window) > 0 {
		return position{seg: l.window[0].seg.num, off: l.window[0].off}
	}
	for _, s := range l.segs {
		if s.unscanned || s.next < s.size {
			return position{seg: s.num, off: s.next}
		}
	}
	if n := len(l.segs); n > 0 {
		return position{seg: l.segs[n-1].num, off: l.segs[n-1].size}
	}
	return position{seg: l.nextSeg, off: 0}
}

// oldestLocked returns the created time (unix nanoseconds) of l's first
// record not done, if known.
func (l *laneState) oldestLocked() (int64, bool) {
	if len(l.window) > 0 {
		return l.window[0].meta.created, true
	}
	for _, s := range l.segs {
		if !s.unscanned && s.unread > 0 && s.head.size > 0 {
			return s.head.created, true
		}
	}
	return 0, false
}

// dropSegmentLocked drops segment seg of lane l with its records, counting
// the unread ones' items. Records in flight are not counted here: the
// sender counts them if it delivers or drops them, Nack counts them if
// not. seg must have been scanned (see droppableLocked): the items of a
// segment that cannot be read are unknown, so it is never dropped; if
// called with one, dropSegmentLocked leaves it in place.
func (q *Queue) dropSegmentLocked(l *laneState, seg *segment) {
	if seg.unscanned {
		return
	}
	if l.active == seg {
		l.active = nil
	}
	items := seg.unreadItems
	l.window = slices.DeleteFunc(l.window, func(e entry) bool {
		if e.seg != seg {
			return false
		}
		if e.state == entryUnread {
			items += int(e.meta.items)
		} else {
			e.d.state = deliveryDropped
		}
		l.records--
		l.items -= int(e.meta.items)
		return true
	})
	l.records -= seg.unread
	l.items -= seg.unreadItems
	seg.unread, seg.unreadItems, seg.live = 0, 0, 0
	seg.next, seg.skips = seg.size, nil
	if !seg.removed {
		q.retireLocked(seg)
	}
	q.droppedFull[l.lane].Add(float64(items))
	q.advanceLocked(l)
	q.publishLocked(l)
}
