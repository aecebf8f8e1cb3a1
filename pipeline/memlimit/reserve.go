package memlimit

import (
	"errors"
	"fmt"
	"sync"
)

// Reservation is memory set aside for one memory queue, out of the memory
// limit, for as long as the queue exists (see ReserveQueue). Its size
// follows the queue's max_bytes across reloads (Resize). The zero of a nil
// Limiter reserves nothing. Its methods are safe for concurrent use.
type Reservation struct {
	l        *Limiter
	mu       sync.Mutex
	n        int64
	released bool
}

// ReserveQueue sets n bytes aside for a memory queue of max_bytes n. When
// the reservations would pass the memory limit it reserves nothing and
// returns an error wrapping ErrLimit that gives the real memory_limit and
// what other memory queues hold. During a reload it checks against the
// staged limit (StageLimit).
func (l *Limiter) ReserveQueue(n int64) (*Reservation, error) {
	r := &Reservation{l: l}
	if err := r.Resize(n); err != nil {
		return nil, err
	}
	return r, nil
}

// Resize makes the reservation n bytes. Growing fails, changing nothing,
// with an error wrapping ErrLimit when the reservations would pass the
// memory limit; shrinking always succeeds. Resize after Release fails.
func (r *Reservation) Resize(n int64) error {
	n = max(n, 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return errors.New("memory reservation resized after its release")
	}
	if r.l == nil {
		r.n = n
		return nil
	}
	l := r.l
	l.mu.Lock()
	if lim := l.reserveLimitLocked(); n > r.n && lim > 0 && l.reserved-r.n+n > lim {
		others := l.reserved - r.n
		l.mu.Unlock()
		return fmt.Errorf("%w: a memory queue of %d bytes does not fit in memory_limit of %d bytes (other memory queues reserve %d bytes)", ErrLimit, n, lim, others)
	}
	l.reserved += n - r.n
	l.mu.Unlock()
	r.n = n
	l.reportReserved()
	return nil
}

// Bytes returns the bytes reserved.
func (r *Reservation) Bytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Release gives the bytes back. Idempotent.
func (r *Reservation) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	r.released = true
	if r.l == nil {
		return
	}
	r.l.mu.Lock()
	r.l.reserved -= r.n
	r.l.mu.Unlock()
	r.n = 0
	r.l.reportReserved()
}

// Reserved returns the bytes that memory queues reserve.
func (l *Limiter) Reserved() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reserved
}

// Limit returns the memory limit in force; 0 means unlimited.
func (l *Limiter) Limit() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// StageLimit sets the limit that reservations are checked against until
// the next SetLimit or DiscardStagedLimit, without changing the limit that
// requests in flight are held to. A reload stages the new configuration's
// limit while it builds and starts the new graph (whose memory queues
// reserve against it), then commits it with SetLimit once the graph runs,
// or discards it when the graph fails to start: the running limit is then
// exactly as before.
func (l *Limiter) StageLimit(limit int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.staged, l.hasStaged = max(limit, 0), true
	l.mu.Unlock()
}

// DiscardStagedLimit drops the limit StageLimit set.
func (l *Limiter) DiscardStagedLimit() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.hasStaged = false
	l.mu.Unlock()
}

// reserveLimitLocked is the limit reservations are checked against.
func (l *Limiter) reserveLimitLocked() int64 {
	if l.hasStaged {
		return l.staged
	}
	return l.limit
}

// reportReserved updates the gauge after a reservation changed.
func (l *Limiter) reportReserved() {
	l.mu.Lock()
	counted := l.used + l.reserved
	l.mu.Unlock()
	l.report(counted)
}
