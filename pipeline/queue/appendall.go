package queue

import (
	"fmt"
)

// AppendAll stores recs, the parts of one client request (typically one
// per lane), as one unit of capacity. It returns as Append does, once
// every record is written (under FsyncAlways fsynced).
//
// Under block, room for all of recs is reserved before any is written:
// either all are appended, or none is and AppendAll returns ErrFull. So a
// client that retries a refused request does not get the parts that would
// have fitted stored once more on every try. When recs together could not
// fit even in an empty queue, AppendAll returns ErrTooLarge (permanent),
// as Append does for one record larger than MaxBytes.
//
// Under drop_oldest nothing is refused for lack of room: each record in
// turn makes room or is dropped (counted), exactly as Append says. Records
// are written in the order given; callers pass the most important lane
// first, so that a part never displaces an earlier, more important part of
// the same request.
//
// Capacity is all-or-nothing; I/O is not: if writing or fsyncing one
// record fails, AppendAll returns the error and the records written before
// it stay queued (a retry by the client then stores them again:
// at-least-once). See Append for the errors.
func (q *Queue) AppendAll(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if err := checkRecordFields(&recs[i]); err != nil {
			return err
		}
	}
	now := int64(0)
	bufp := framePool.Get().(*[]byte)
	buf := (*bufp)[:0]
	var partsArr [NumLanes]pendingRecord
	parts := partsArr[:0]
	for i := range recs {
		rec := &recs[i]
		created := rec.Created.UnixNano()
		if rec.Created.IsZero() {
			if now == 0 {
				now = q.now().UnixNano()
			}
			created = now
		}
		start := len(buf)
		buf = appendRecord(buf, rec, created)
		parts = append(parts, pendingRecord{
			lane:  rec.Lane,
			start: start,
			meta:  recordMeta{size: int64(len(buf) - start), created: created, items: uint32(rec.Items)},
		})
	}
	defer func() {
		if cap(buf) <= maxPooledFrame {
			*bufp = buf
			framePool.Put(bufp)
		}
	}()

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	for _, p := range parts {
		if segHeaderSize+p.meta.size > q.limits.MaxBytes {
			q.mu.Unlock()
			return fmt.Errorf("%w: %d bytes with its segment header, max_bytes is %d", ErrTooLarge, segHeaderSize+p.meta.size, q.limits.MaxBytes)
		}
	}
	dropOldest := q.limits.FullPolicy == FullDropOldest
	if !dropOldest {
		if err := q.reserveAllLocked(parts); err != nil {
			q.mu.Unlock()
			return err
		}
	}
	var writtenArr [NumLanes]segWrite // where the records went, for syncTo
	written := writtenArr[:0]
	var seq uint64
	for _, p := range parts {
		l := &q.lanes[p.lane]
		if dropOldest {
			fits, err := q.makeRoomLocked(l, p.meta.size)
			if err != nil {
				q.mu.Unlock()
				return err
			}
			if !fits {
				q.droppedFull[p.lane].Add(float64(p.meta.items))
				continue
			}
		}
		s, err := q.writeLocked(l, buf[p.start:p.start+int(p.meta.size)], p.meta)
		if err != nil {
			q.mu.Unlock()
			return err
		}
		seq = s
		written = addWrite(written, segWrite{seg: l.active, end: l.active.size})
	}
	syncNow := q.persistent && q.limits.Fsync == FsyncAlways
	q.mu.Unlock()
	if !syncNow || seq == 0 {
		return nil
	}
	return q.syncTo(seq, written)
}

// pendingRecord is one encoded record of an AppendAll: its frame is
// buf[start:start+meta.size].
type pendingRecord struct {
	lane  Lane
	start int
	meta  recordMeta
}

// addWrite records w in ws: a later write to the same segment ends
// further.
func addWrite(ws []segWrite, w segWrite) []segWrite {
	for i := range ws {
		if ws[i].seg == w.seg {
			ws[i].end = w.end
			return ws
		}
	}
	return append(ws, w)
}

// reserveAllLocked checks that parts fit together under MaxBytes (full
// policy block), freeing the active segments that hold no live record if
// that helps. It returns ErrFull if they do not fit now, ErrTooLarge if
// they never could.
func (q *Queue) reserveAllLocked(parts []pendingRecord) error {
	limit := q.limits.MaxBytes
	if q.used+q.needLocked(parts, false) <= limit {
		return nil
	}
	// As in makeRoomLocked: empty active segments free space without
	// losing anything.
	for i := range q.lanes {
		if a := q.lanes[i].active; a != nil && a.live == 0 {
			q.retireLocked(a)
			q.publishLocked(&q.lanes[i])
		}
	}
	need := q.needLocked(parts, false)
	if q.used+need <= limit {
		return nil
	}
	if empty := q.needLocked(parts, true); empty > limit {
		return fmt.Errorf("%w: the %d records of one request need %d bytes together, max_bytes is %d", ErrTooLarge, len(parts), empty, limit)
	}
	return fmt.Errorf("%w: %d of %d bytes used, the request's %d records need %d", ErrFull, q.used, limit, len(parts), need)
}

// needLocked returns the bytes writing parts in order would add to
// q.used: each record's frame, plus a segment header wherever writeLocked
// would start a new segment (rotateNeeded). With empty, it assumes no lane
// has an active segment (the need in an empty queue).
func (q *Queue) needLocked(parts []pendingRecord, empty bool) int64 {
	var active [NumLanes]int64 // size of each lane's active segment; 0: none
	if !empty {
		for i := range q.lanes {
			if a := q.lanes[i].active; a != nil {
				active[i] = a.size
			}
		}
	}
	var need int64
	for _, p := range parts {
		cur := &active[p.lane]
		if *cur == 0 || (*cur > segHeaderSize && *cur+p.meta.size > q.segSize) {
			need += segHeaderSize + p.meta.size
			*cur = segHeaderSize + p.meta.size
			continue
		}
		need += p.meta.size
		*cur += p.meta.size
	}
	return need
}
