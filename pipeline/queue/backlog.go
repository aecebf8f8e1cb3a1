package queue

import "time"

// Backlog is what an exporter's queue holds, summed over its lanes: the
// records not yet acknowledged, their items and encoded bytes, and the
// creation time of the oldest (zero when the queue is empty).
type Backlog struct {
	Records, Items int
	Bytes          int64
	Oldest         time.Time
}

// Age is how old the oldest record is at now; 0 when the queue is empty.
func (b Backlog) Age(now time.Time) time.Duration {
	if b.Oldest.IsZero() {
		return 0
	}
	return max(now.Sub(b.Oldest), 0)
}

// Backlog returns the backlog of the open queue of the exporter with ID
// exporter (Options.Exporter of the Lease that opened it, disk or memory),
// and false when the registry holds none open for it (no such exporter,
// its queue disabled, or not started yet). It is read-only and cheap (one
// pass over the lanes under the queue's lock), so that a processor may
// poll it: the adaptive probabilistic sampler does, once per interval.
func (r *Registry) Backlog(exporter string) (Backlog, bool) {
	if exporter == "" {
		return Backlog{}, false
	}
	r.mu.Lock()
	var q *Queue
	for _, s := range r.queues {
		if s.exporter == exporter {
			q = s.q
			break
		}
	}
	r.mu.Unlock()
	if q == nil {
		return Backlog{}, false
	}
	var b Backlog
	for _, l := range q.Stats() {
		b.Records += l.Records
		b.Items += l.Items
		b.Bytes += l.Bytes
		if !l.Oldest.IsZero() && (b.Oldest.IsZero() || l.Oldest.Before(b.Oldest)) {
			b.Oldest = l.Oldest
		}
	}
	return b, true
}
