package uplink

import (
	"math"
	"time"
)

// Delay is the uplink budget's current wait: how long a request that
// joined the queue now would wait for the requests already waiting (of
// every exporter) to be granted, that is the bytes they wait for, less the
// tokens in the bucket, at the budget's rate. It is 0 when the budget is
// unlimited or the waiters fit in the bucket. It is a snapshot, read-only,
// and cheap enough to poll (the adaptive probabilistic sampler reads it
// once per interval).
func (b *Budget) Delay() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == 0 || b.waiting == 0 {
		return 0
	}
	b.refillLocked(time.Now())
	var want float64
	for _, c := range b.clients {
		for _, w := range c.waiters {
			want += float64(w.n)
		}
	}
	if want <= b.tokens {
		return 0
	}
	return time.Duration(math.Ceil((want - b.tokens) / b.rate * 1e9))
}
