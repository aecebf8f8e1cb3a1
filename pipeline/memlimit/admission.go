package memlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrTooLarge is the cause of a refused charge that could not be admitted
// even with nothing else in flight: the request is too large for the memory
// limit, and sending it again will not help. Receivers answer it as they
// answer a request over their size cap (HTTP 413, gRPC RESOURCE_EXHAUSTED
// without RetryInfo).
var ErrTooLarge = errors.New("request too large for the memory limit")

// Charge is one request's hold on a Limiter: the bytes it is charged for,
// grown as the request is read and decoded and given back, all at once,
// by Release once the pipeline has answered. A Charge of a nil or
// unlimited Limiter charges nothing and never refuses.
//
// A Charge is used by the goroutine that serves its request; it is not
// safe for concurrent use (Release may be called more than once).
type Charge struct {
	l    *Limiter // nil: unlimited
	held int64
	done bool
}

// Admit opens a charge of n bytes (n ≥ 0; 0 opens an empty charge to grow
// as the request is read). It refuses, charging nothing, with an error
// wrapping ErrLimit when the bytes in flight would pass the capacity, and
// with one wrapping ErrTooLarge when n alone is more than the capacity.
//
// Unlike Acquire, a charge larger than the capacity is never let through:
// every receiver reads and decodes requests through Charges, so that the
// bytes in flight never pass the capacity (see the package documentation).
func (l *Limiter) Admit(n int64) (*Charge, error) {
	c := &Charge{l: l}
	if err := c.Grow(n); err != nil {
		return nil, err
	}
	return c, nil
}

// AdmitWait is Admit that waits, while the refusal wraps ErrLimit, for
// bytes to be given back, until ctx ends; it then returns the last refusal
// (wrapping ErrLimit). Use it for a charge taken before any of the request
// is read (no bytes are held while waiting), with a ctx bounded by the
// client's deadline or a short wait.
func (l *Limiter) AdmitWait(ctx context.Context, n int64) (*Charge, error) {
	for {
		c := &Charge{l: l}
		wake, err := c.grow(n, true)
		if err == nil {
			return c, nil
		}
		if wake == nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (waited until %w)", err, context.Cause(ctx))
		case <-wake:
		}
	}
}

// Grow adds n bytes to the charge (n ≤ 0: nothing), or refuses, adding
// nothing, as Admit does: ErrTooLarge when the charge alone would pass the
// capacity, ErrLimit when it would only with what else is in flight.
func (c *Charge) Grow(n int64) error {
	_, err := c.grow(n, false)
	return err
}

// grow adds n bytes; on an ErrLimit refusal with wait set it also returns
// a channel closed at the next release.
func (c *Charge) grow(n int64, wait bool) (<-chan struct{}, error) {
	if c == nil || c.l == nil || n <= 0 {
		return nil, nil
	}
	if c.done {
		return nil, errors.New("memlimit: Grow after Release")
	}
	l := c.l
	l.mu.Lock()
	capacity := l.capacityLocked()
	room := capacity - l.used
	if l.waiter != nil && l.waiter != c {
		room -= l.waitNeed // kept for the waiting reader
	}
	switch {
	case capacity > 0 && c.held+n > capacity:
		l.mu.Unlock()
		return nil, fmt.Errorf("%w: %d bytes, more than the %d that all requests in flight may hold", ErrTooLarge, c.held+n, capacity)
	case capacity > 0 && n > room:
		used := l.used
		var wake chan struct{}
		if wait {
			if l.wake == nil {
				l.wake = make(chan struct{})
			}
			wake = l.wake
		}
		l.mu.Unlock()
		return wake, fmt.Errorf("%w: %d bytes in flight, %d more would pass the limit of %d", ErrLimit, used, n, capacity)
	}
	l.used += n
	counted := l.used + l.reserved
	l.mu.Unlock()
	c.held += n
	l.report(counted)
	return nil, nil
}

// Resize sets the charge to n bytes: down always succeeds (the rest is
// given back at once), up is Grow.
func (c *Charge) Resize(n int64) error {
	if c == nil || c.l == nil || c.done {
		return nil
	}
	n = max(n, 0)
	if n > c.held {
		return c.Grow(n - c.held)
	}
	c.l.give(c.held - n)
	c.held = n
	return nil
}

// Held returns the bytes charged.
func (c *Charge) Held() int64 {
	if c == nil {
		return 0
	}
	return c.held
}

// Release gives every byte of the charge back. It is idempotent and safe
// on a nil Charge, so that it can be deferred as soon as a charge exists.
func (c *Charge) Release() {
	if c == nil || c.done {
		return
	}
	c.done = true
	if c.l != nil {
		c.l.stopWaiting(c)
		c.l.give(c.held)
	}
	c.held = 0
}

// waitGrow is Grow for a reader in the middle of a body: when the limit is
// taken it waits for room, until ctx ends, if no other reader waits (one
// that does is refused at once, giving its bytes back). The room the
// waiting reader needs is kept from every other charge, so that it gets it
// as soon as enough is given back, and it stays the waiting reader until
// its body ends (stopWaiting), so that one large body makes progress
// however many small ones arrive meanwhile.
func (c *Charge) waitGrow(ctx context.Context, n int64) error {
	for {
		wake, err := c.grow(n, true)
		if err == nil {
			c.l.setNeed(c, 0)
			return nil
		}
		if wake == nil || !c.l.setNeed(c, n) {
			return err
		}
		select {
		case <-ctx.Done():
			c.l.setNeed(c, 0)
			return fmt.Errorf("%w (waited until %w)", err, context.Cause(ctx))
		case <-wake:
		}
	}
}

// setNeed makes c the waiting reader, needing n more bytes, unless another
// reader is; it reports whether c is the waiting reader.
func (l *Limiter) setNeed(c *Charge, n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiter != nil && l.waiter != c {
		return false
	}
	l.waiter, l.waitNeed = c, n
	return true
}

// stopWaiting ends c's turn as the waiting reader, if it has it.
func (l *Limiter) stopWaiting(c *Charge) {
	l.mu.Lock()
	if l.waiter == c {
		if l.waitNeed > 0 {
			l.wakeLocked() // the room kept for c is free again
		}
		l.waiter, l.waitNeed = nil, 0
	}
	l.mu.Unlock()
}

// give returns n bytes to the limiter and wakes AdmitWait callers.
func (l *Limiter) give(n int64) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	l.used -= n
	counted := l.used + l.reserved
	l.wakeLocked()
	l.mu.Unlock()
	l.report(counted)
}

// wakeLocked wakes every AdmitWait caller; l.mu is held.
func (l *Limiter) wakeLocked() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// MaxRequestSize returns the largest request, in uncompressed protobuf
// bytes, that the limiter can ever admit at Expansion bytes per byte, and
// no more than configured (a receiver's own cap, such as
// max_request_body_size). With an unlimited limiter it is configured.
// Receivers refuse larger requests as too large (and say that
// memory_limit, not their own cap, is the reason when the result is below
// configured).
func (l *Limiter) MaxRequestSize(configured int64) int64 {
	capacity := l.Capacity()
	if capacity == 0 {
		return configured
	}
	return max(min(configured, capacity/Expansion), 1)
}

// chunkMin and chunkMax bound the step, in bytes read, by which Reader
// grows its charge: a step is an eighth of what was read so far, so that a
// large body takes few steps, and overcharges by at most an eighth plus
// chunkMin.
const (
	chunkMin = 32 << 10
	chunkMax = 1 << 20
)

// ReaderOptions configures Charge.Reader.
type ReaderOptions struct {
	// PerByte is the charge for each byte read (Expansion for an encoded
	// request); ≤ 0 charges nothing.
	PerByte int64
	// Limit is the most bytes charged for; ≤ 0: no cap. The caller caps
	// what it reads at Limit-1 bytes and answers a longer body as too
	// large.
	Limit int64
	// MaxWait bounds each wait for room (see Reader); 0 never waits.
	MaxWait time.Duration
	// Paid is how many bytes the charge already covers at PerByte each
	// (say, a declared length charged on admission); the rest of what it
	// holds is for something else (say, a decoder's window).
	Paid int64
}

// Reader returns a reader of r that charges o.PerByte bytes for every
// byte before it reads it, growing the charge in steps, so that a body
// (say a decompressing reader) is charged as it arrives rather than once
// it is whole; the first o.Paid bytes are not charged again. When the limit is taken, the first reader to find it so
// waits for room, at most o.MaxWait each time and never past ctx, and the
// room it waits for is kept from other charges until its body ends; any
// other reader is refused at once. A refused step makes Read return an
// error wrapping ErrLimit or ErrTooLarge; the charge keeps what it held.
func (c *Charge) Reader(ctx context.Context, r io.Reader, o ReaderOptions) io.Reader {
	if c == nil || c.l == nil || o.PerByte <= 0 {
		return r
	}
	return &chargedReader{ctx: ctx, r: r, c: c, o: o, paid: max(o.Paid, 0)}
}

type chargedReader struct {
	ctx  context.Context
	r    io.Reader
	c    *Charge
	o    ReaderOptions
	paid int64 // bytes charged for
	read int64 // bytes read
	err  error // a refusal or the end of r, returned for good
}

func (r *chargedReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return r.r.Read(p)
	}
	if r.read == r.paid {
		step := min(max(r.read/8, chunkMin), chunkMax)
		if r.o.Limit > 0 {
			step = min(step, r.o.Limit-r.paid)
		}
		if step <= 0 {
			return 0, r.fail(fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.o.Limit))
		}
		if err := r.grow(step * r.o.PerByte); err != nil {
			// A body that has ended is not refused for the step that
			// would have followed it: a one-byte read (not charged, and
			// dropped with the body if it is data) tells.
			var one [1]byte
			if n, rerr := r.r.Read(one[:]); n == 0 && rerr == io.EOF {
				return 0, r.fail(io.EOF)
			}
			return 0, r.fail(err)
		}
		r.paid += step
	}
	if room := r.paid - r.read; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := r.r.Read(p)
	r.read += int64(n)
	if err != nil {
		r.fail(err)
	}
	return n, err
}

// grow takes n more bytes, waiting for room as Reader describes.
func (r *chargedReader) grow(n int64) error {
	if r.o.MaxWait <= 0 {
		return r.c.Grow(n)
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.o.MaxWait)
	defer cancel()
	return r.c.waitGrow(ctx, n)
}

// fail ends the body (its end, a read error or a refusal): the reader
// stops being the waiting one, and err is returned from now on.
func (r *chargedReader) fail(err error) error {
	r.err = err
	r.c.l.stopWaiting(r.c)
	return err
}
