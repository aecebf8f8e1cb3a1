package memlimit

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Expansion is the factor from a request's uncompressed protobuf size to the
// memory its decoded form holds while it is in flight (the decoded pdata,
// plus the raw bytes until they are released).
const Expansion = 6

// ErrLimit is the cause of a refused Acquire.
var ErrLimit = errors.New("memory limit reached")

// Limiter counts bytes in flight against a capacity derived from the
// memory limit. A nil *Limiter is unlimited. It is safe for concurrent use.
type Limiter struct {
	mu       sync.Mutex
	limit    int64 // memory_limit; 0: unlimited
	reserved int64 // memory queues' max_bytes
	used     int64
	inFlight prometheus.Gauge // nil: not exported

	// staged, while hasStaged, is the limit a reload's new graph reserves
	// its memory queues against (see StageLimit).
	staged    int64
	hasStaged bool
	wake      chan struct{} // closed at the next release; nil: nobody waits
	waiter    *Charge       // the reader that waits for room (Charge.Reader); nil: none
	waitNeed  int64         // bytes kept from other charges for waiter
}

// New returns a Limiter for a process memory limit of limit bytes (0 or
// less: unlimited) that reports the bytes in flight on inFlight (may be
// nil).
func New(limit int64, inFlight prometheus.Gauge) *Limiter {
	return &Limiter{limit: max(limit, 0), inFlight: inFlight}
}

// SetLimit changes the memory limit (configuration reload); bytes already
// held stay held.
func (l *Limiter) SetLimit(limit int64) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.limit = max(limit, 0)
	l.hasStaged = false
	l.mu.Unlock()
}

// Reserve sets n bytes aside for a memory queue, for as long as it exists;
// the returned function gives them back. It reports false, and reserves
// nothing, when the reservations would pass the memory limit.
func (l *Limiter) Reserve(n int64) (release func(), ok bool) {
	if l == nil || n <= 0 {
		return func() {}, true
	}
	l.mu.Lock()
	if lim := l.reserveLimitLocked(); lim > 0 && l.reserved+n > lim {
		l.mu.Unlock()
		return nil, false
	}
	l.reserved += n
	l.mu.Unlock()
	l.reportReserved()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			l.reserved -= n
			l.mu.Unlock()
			l.reportReserved()
		})
	}, true
}

// Capacity returns the bytes that requests in flight may hold: half of the
// memory limit left after the reservations. 0 means unlimited.
func (l *Limiter) Capacity() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.capacityLocked()
}

func (l *Limiter) capacityLocked() int64 {
	if l.limit == 0 {
		return 0
	}
	return max((l.limit-l.reserved)/2, 1)
}

// Acquire takes n bytes, or refuses with an error wrapping ErrLimit when
// they would take the bytes in flight past the capacity. A request larger
// than the whole capacity is let through when nothing else is in flight, so
// that one large request cannot be refused for ever; the receivers' own
// request size caps bound it. Every successful Acquire must be matched by a
// Release of the same n.
func (l *Limiter) Acquire(n int64) error {
	if l == nil || n <= 0 {
		return nil
	}
	l.mu.Lock()
	if capacity := l.capacityLocked(); capacity > 0 && l.used+n > capacity && l.used > 0 {
		used := l.used
		l.mu.Unlock()
		return fmt.Errorf("%w: %d bytes in flight, %d more would pass the limit of %d", ErrLimit, used, n, capacity)
	}
	l.used += n
	used := l.used + l.reserved
	l.mu.Unlock()
	l.report(used)
	return nil
}

// Release gives back n bytes taken by Acquire.
func (l *Limiter) Release(n int64) {
	if l == nil || n <= 0 {
		return
	}
	l.mu.Lock()
	l.used -= n
	used := l.used + l.reserved
	l.wakeLocked()
	l.mu.Unlock()
	l.report(used)
}

// InFlight returns the bytes held.
func (l *Limiter) InFlight() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// report sets the in-flight gauge to counted, the bytes counted against
// the limit: requests in flight plus memory queues' reservations.
func (l *Limiter) report(counted int64) {
	if l.inFlight != nil {
		l.inFlight.Set(float64(counted))
	}
}
