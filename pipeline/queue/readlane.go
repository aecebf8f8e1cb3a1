package queue

import (
	"context"
	"time"
)

// ReadLane returns the next record of lane, for a reader that is filling
// a request with consecutive records of one lane (see pipeline/sender).
// It does not wait past until: with until not after now it only takes a
// record that is ready. It returns nil, nil when until passes, or as soon
// as a more important lane has a record to read, even if lane has more
// (the reader should send what it has and Read again). Otherwise it behaves as Read: records older
// than MaxAge are dropped, and it returns ctx's error or ErrClosed.
func (q *Queue) ReadLane(ctx context.Context, lane Lane, until time.Time) (*Delivery, error) {
	if lane >= NumLanes {
		return nil, nil
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		for i := range lane {
			if q.lanes[i].hasUnreadLocked() {
				// More important data first.
				q.mu.Unlock()
				return nil, nil
			}
		}
		var d *Delivery
		l := &q.lanes[lane]
		if l.retryAt.IsZero() || !time.Now().Before(l.retryAt) {
			l.retryAt = time.Time{}
			d = q.nextInLaneLocked(l, q.now())
			q.scanBuf = nil
			q.advanceLocked(l)
			q.publishLocked(l)
		}
		wake := q.wake
		q.mu.Unlock()
		if d != nil {
			return d, nil
		}
		wait := time.Until(until)
		if wait <= 0 {
			return nil, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.closedCh:
			return nil, ErrClosed
		}
	}
}

// hasUnreadLocked reports whether l has a record to hand out (or a
// segment still to scan): a nacked one, or one past a read position.
func (l *laneState) hasUnreadLocked() bool {
	for i := range l.window {
		if l.window[i].state == entryUnread {
			return true
		}
	}
	for _, s := range l.segs {
		if s.unscanned || s.next < s.size {
			return true
		}
	}
	return false
}
