package uplink

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// ErrClosed is returned by Wait when the client is closed before or while
// it waits.
var ErrClosed = errors.New("uplink: client closed")

// MinDefaultBurst is the smallest burst a Config with Burst 0 gets.
const MinDefaultBurst = 64 << 10

// Config is the uplink budget: a token bucket in bytes.
type Config struct {
	// BytesPerSecond is the long-run rate of bytes all exporters together
	// may put on the wire. 0 (or less) means unlimited.
	BytesPerSecond int64
	// Burst is the bucket's size in bytes: what may go at once after a
	// quiet spell. 0 (or less) means one second of BytesPerSecond, but at
	// least MinDefaultBurst, so that a typical request body is not held
	// back at low rates.
	Burst int64
}

// effective returns the rate and burst the bucket runs with; both are 0
// when the budget is unlimited.
func (c Config) effective() (rate, burst float64) {
	if c.BytesPerSecond <= 0 {
		return 0, 0
	}
	b := c.Burst
	if b <= 0 {
		b = max(c.BytesPerSecond, MinDefaultBurst)
	}
	return float64(c.BytesPerSecond), float64(b)
}

// Budget is one token bucket shared by every exporter's senders. It is
// safe for concurrent use.
type Budget struct {
	tel *selftelemetry.Metrics

	mu sync.Mutex
	// rate is in bytes per second, 0 when unlimited; burst is the bucket
	// size.
	rate, burst float64
	// tokens is the bucket's content at last; it is negative while a
	// request larger than the bucket is being paid off.
	tokens float64
	last   time.Time
	// vtime is the global virtual time of the fair queue: the virtual
	// start of the latest grant. A client that starts waiting begins no
	// earlier than vtime, so idleness earns no credit.
	vtime   float64
	clients []*Client // registered and not closed
	waiting int       // waiters of all clients, including closed ones
	seq     uint64    // arrival order of waiters, for ties
}

// New returns a budget with cfg's rate and burst, and a full bucket. Its
// metrics go to tel (a private set when nil).
func New(cfg Config, tel *selftelemetry.Metrics) *Budget {
	if tel == nil {
		tel = selftelemetry.New()
	}
	b := &Budget{tel: tel}
	b.rate, b.burst = cfg.effective()
	b.tokens = b.burst
	b.last = time.Now()
	b.setGauges()
	return b
}

func (b *Budget) setGauges() {
	b.tel.UplinkRate.Set(b.rate)
	b.tel.UplinkBurst.Set(b.burst)
}

// Reconfigure changes the rate and burst in place, for a configuration
// reload. Bytes already granted stay counted: the bucket keeps its content
// (cut to the new burst), or starts full when the budget was unlimited
// until now. Waiters keep their places and are re-timed at the new rate.
func (b *Budget) Reconfigure(cfg Config) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.refillLocked(now)
	wasUnlimited := b.rate == 0
	b.rate, b.burst = cfg.effective()
	if wasUnlimited {
		b.tokens = b.burst
	}
	b.tokens = min(b.tokens, b.burst)
	b.setGauges()
	// Every waiter looks again: all of them may go if the budget is now
	// unlimited, and the head's timer is stale otherwise.
	for _, c := range b.clients {
		for _, w := range c.waiters {
			w.signal()
		}
	}
}

// refillLocked adds the tokens earned since b.last.
func (b *Budget) refillLocked(now time.Time) {
	if el := now.Sub(b.last); el > 0 && b.rate > 0 {
		b.tokens = min(b.burst, b.tokens+b.rate*el.Seconds())
	}
	b.last = now
}

// Client is one exporter's share of the budget. It is safe for concurrent
// use by the exporter's senders.
type Client struct {
	b      *Budget
	weight float64
	bytes  prometheus.Counter
	wait   prometheus.Counter

	// Guarded by b.mu.
	vfinish float64   // virtual finish time of the latest grant
	waiters []*waiter // in arrival order; the first competes for the bucket
	closed  bool
}

// Client registers an exporter with a weight. While several clients wait,
// each is granted bytes in proportion to its weight; weights of 0 or less
// (or NaN) count as 1. The exporter's name labels the UplinkBytes and
// UplinkWait counters; two clients may share one.
func (b *Budget) Client(exporter string, weight float64) *Client {
	if !(weight > 0) || math.IsInf(weight, 0) {
		weight = 1
	}
	c := &Client{
		b:      b,
		weight: weight,
		bytes:  b.tel.UplinkBytes.WithLabelValues(exporter),
		wait:   b.tel.UplinkWait.WithLabelValues(exporter),
	}
	b.mu.Lock()
	c.vfinish = b.vtime
	b.clients = append(b.clients, c)
	b.mu.Unlock()
	return c
}

// waiter is one blocked Wait call.
type waiter struct {
	c    *Client
	n    int
	seq  uint64
	wake chan struct{} // capacity 1: a pending wake-up is never lost
}

func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Wait blocks until n bytes may go on the wire and takes them from the
// bucket; it does not count them (Sent does, once they went out). It
// returns ctx's error if ctx ends first, or ErrClosed if the
// client is closed; either way nothing is taken from the budget. n larger
// than the burst is granted once the bucket is full, leaving it in debt
// that later requests pay off, so the long-run rate holds. With an
// unlimited budget Wait returns at once. n ≤ 0 returns at once.
//
// Among clients with waiters, the next grant goes to the one whose
// virtual finish time (weighted fair queueing, by bytes) is smallest;
// a client's own waiters are served in arrival order.
func (c *Client) Wait(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := c.b
	b.mu.Lock()
	if c.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.rate == 0 {
		b.mu.Unlock()
		return nil
	}
	start := time.Now()
	b.refillLocked(start)
	c.joinLocked()
	if b.waiting == 0 && b.tokens >= min(float64(n), b.burst) {
		// Nobody queues: take the tokens without joining the queue.
		c.grantLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{c: c, n: n, seq: b.seq, wake: make(chan struct{}, 1)}
	b.seq++
	c.waiters = append(c.waiters, w)
	b.waiting++
	err := c.waitLocked(ctx, w)
	b.mu.Unlock()
	c.wait.Add(time.Since(start).Seconds())
	return err
}

// waitLocked runs the wait loop of w, which is queued; b.mu is held on
// entry and on return, and w is no longer queued on return.
func (c *Client) waitLocked(ctx context.Context, w *waiter) error {
	b := c.b
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if c.closed {
			b.leaveLocked(w)
			return ErrClosed
		}
		var timeout <-chan time.Time
		if b.rate == 0 {
			b.leaveLocked(w)
			return nil
		}
		if b.headLocked() == w {
			b.refillLocked(time.Now())
			need := min(float64(w.n), b.burst)
			// The small tolerance absorbs float rounding of the refill, so
			// that a waiter woken on time is not sent back for 1ns.
			if b.tokens+1e-6 >= need {
				b.removeLocked(w)
				c.grantLocked(w.n)
				b.wakeHeadLocked()
				return nil
			}
			d := time.Duration(math.Ceil((need - b.tokens) / b.rate * 1e9))
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			timeout = timer.C
		}
		b.mu.Unlock()
		select {
		case <-w.wake:
		case <-timeout:
		case <-ctx.Done():
			b.mu.Lock()
			b.leaveLocked(w)
			return ctx.Err()
		}
		b.mu.Lock()
	}
}

// joinLocked is called when a Wait starts. A client that had no waiters
// starts its virtual time no earlier than the global one: time spent idle
// earns no credit. A backlogged client keeps its virtual time, which only
// its own grants advance; recomputing it from the global time while it
// waits would let a busier client push it back for ever.
func (c *Client) joinLocked() {
	if len(c.waiters) == 0 {
		c.vfinish = max(c.vfinish, c.b.vtime)
	}
}

// grantLocked takes n bytes from the bucket and advances c's virtual time
// by n/weight. The global virtual time follows the virtual start of the
// latest grant.
func (c *Client) grantLocked(n int) {
	b := c.b
	b.tokens -= float64(n)
	b.vtime = max(b.vtime, c.vfinish)
	c.vfinish += float64(n) / c.weight
}

// Sent counts n bytes that went on the wire in UplinkBytes: the bytes the
// transport actually wrote, so that an attempt refused before sending (a
// connection refused, a DNS or TLS failure) counts nothing although it was
// granted. n ≤ 0 counts nothing. It does not touch the bucket: Adjust
// corrects a grant that differed from the bytes sent.
func (c *Client) Sent(n int) {
	if n > 0 {
		c.bytes.Add(float64(n))
	}
}

// headLocked returns the waiter that may take tokens next: the first
// waiter of the open client whose virtual finish time would be smallest.
func (b *Budget) headLocked() *waiter {
	var (
		head *waiter
		best float64
	)
	for _, c := range b.clients {
		if len(c.waiters) == 0 {
			continue
		}
		w := c.waiters[0]
		f := c.vfinish + float64(w.n)/c.weight
		if head == nil || f < best || (f == best && w.seq < head.seq) {
			head, best = w, f
		}
	}
	return head
}

// leaveLocked removes w from its client's queue and wakes the new head,
// which may have changed.
func (b *Budget) leaveLocked(w *waiter) {
	b.removeLocked(w)
	b.wakeHeadLocked()
}

// removeLocked removes w from its client's queue.
func (b *Budget) removeLocked(w *waiter) {
	ws := w.c.waiters
	for i, x := range ws {
		if x == w {
			copy(ws[i:], ws[i+1:])
			ws[len(ws)-1] = nil
			w.c.waiters = ws[:len(ws)-1]
			b.waiting--
			return
		}
	}
}

// wakeHeadLocked wakes the head waiter, if any, to look at the bucket
// again. Call it after every change that may make another waiter the head
// or let the head go sooner; a needless wake-up costs one loop.
func (b *Budget) wakeHeadLocked() {
	if h := b.headLocked(); h != nil {
		h.signal()
	}
}

// Adjust corrects the latest grants when the bytes that went on the wire
// differ from those waited for: it takes delta more bytes from the bucket
// (gives -delta back when negative, up to the burst; an attempt that sent
// nothing gives its whole grant back). The client's fair share is charged
// or credited the same way. It counts nothing (Sent does).
func (c *Client) Adjust(delta int) {
	if delta == 0 {
		return
	}
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate > 0 {
		b.refillLocked(time.Now())
		b.tokens = min(b.burst, b.tokens-float64(delta))
		c.vfinish += float64(delta) / c.weight
		b.wakeHeadLocked()
	}
}

// Close unregisters the client. Its pending Waits return ErrClosed, as do
// later ones. Close is idempotent.
func (c *Client) Close() {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for i, x := range b.clients {
		if x == c {
			b.clients = slices.Delete(b.clients, i, i+1)
			break
		}
	}
	for _, w := range c.waiters {
		w.signal()
	}
	// The head may have been one of c's waiters.
	b.wakeHeadLocked()
}
