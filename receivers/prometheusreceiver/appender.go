package prometheusreceiver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
)

// staleLookback is how long a stale marker refused with its scrape is kept
// to be sent with the target's next accepted scrape. Prometheus treats a
// series without a sample for 5 minutes (its default lookback delta) as
// gone anyway, so an older marker has nothing left to end.
const staleLookback = 5 * time.Minute

// sample is one appended sample, copied out of the scrape loop's buffers.
type sample struct {
	ref       storage.SeriesRef
	ls        labels.Labels
	st, t     int64 // milliseconds; st 0: unknown
	v         float64
	fh        *histogram.FloatHistogram // native histogram, nil for a float sample
	family    string                    // metric family name; "" unknown
	typ       model.MetricType          // "" unknown
	unit      string
	help      string
	exemplars []exemplar.Exemplar
}

// stale reports whether the sample is a staleness marker.
func (s *sample) stale() bool {
	if s.fh != nil {
		return value.IsStaleNaN(s.fh.Sum)
	}
	return value.IsStaleNaN(s.v)
}

// size is the sample's estimated share of the pdata it becomes, in
// bytes, for memory_limit.
func (s *sample) size() int64 {
	n := int64(96 + 48*len(s.exemplars))
	s.ls.Range(func(l labels.Label) { n += int64(len(l.Name)+len(l.Value)) + 48 })
	if s.fh != nil {
		n += int64(16 * (len(s.fh.PositiveBuckets) + len(s.fh.NegativeBuckets) + len(s.fh.CustomValues)))
	}
	return n
}

// pendingStale are the stale markers of refused scrapes, per target, to be
// sent with the target's next accepted scrape.
type pendingStale struct {
	mu      sync.Mutex
	targets map[*scrape.Target]map[storage.SeriesRef]pendingMarker
}

type pendingMarker struct {
	s     sample
	added time.Time
}

// take removes and returns target's pending markers, leaving out those
// older than staleLookback and those whose series is in fresh (it is
// exposed again).
func (p *pendingStale) take(t *scrape.Target, now time.Time, fresh map[storage.SeriesRef]bool) []sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.targets[t]
	if m == nil {
		return nil
	}
	delete(p.targets, t)
	out := make([]sample, 0, len(m))
	for ref, pm := range m {
		if fresh[ref] || now.Sub(pm.added) > staleLookback {
			continue
		}
		out = append(out, pm.s)
	}
	return out
}

// put keeps the stale markers among ss (a refused scrape's samples) for
// target's next scrape, and drops the kept markers of targets that have
// had none for staleLookback (targets gone while refused).
func (p *pendingStale) put(t *scrape.Target, ss []sample, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tt, m := range p.targets {
		expired := true
		for _, pm := range m {
			if now.Sub(pm.added) <= staleLookback {
				expired = false
				break
			}
		}
		if expired {
			delete(p.targets, tt)
		}
	}
	var m map[storage.SeriesRef]pendingMarker
	for i := range ss {
		if !ss[i].stale() {
			continue
		}
		if m == nil {
			if m = p.targets[t]; m == nil {
				m = map[storage.SeriesRef]pendingMarker{}
				if p.targets == nil {
					p.targets = map[*scrape.Target]map[storage.SeriesRef]pendingMarker{}
				}
				p.targets[t] = m
			}
		}
		if _, ok := m[ss[i].ref]; !ok {
			m[ss[i].ref] = pendingMarker{s: ss[i], added: now}
		}
	}
}

// appendable is the receiver's storage.AppendableV2: the scrape manager
// opens one appender per scrape, appends the scrape's samples, its
// staleness markers and its report series (up, scrape_*), and commits.
type appendable struct {
	r *receiver
}

// AppenderV2 implements storage.AppendableV2.
func (a appendable) AppenderV2(ctx context.Context) storage.AppenderV2 {
	ap := &appender{r: a.r, ctx: ctx}
	ap.target, _ = scrape.TargetFromContext(ctx)
	ap.meta, _ = scrape.MetricMetadataStoreFromContext(ctx)
	if a.r != nil && ap.target != nil {
		// Size the buffer as the target's last scrape: growing a slice of
		// 100k samples by doubling costs a third of the appender's time.
		if n := a.r.sizes.get(ap.target); n > 0 {
			ap.samples = make([]sample, 0, n+n/8)
		}
	}
	return ap
}

// appender collects one scrape's samples; Commit translates them to
// pmetric and hands them to the pipeline.
type appender struct {
	r       *receiver
	ctx     context.Context
	target  *scrape.Target
	meta    scrape.MetricMetadataStore
	samples []sample
	bytes   int64
	done    bool
}

var errAppenderDone = errors.New("appender already committed or rolled back")

// seriesRef is the stable reference of a label set: its hash, never 0
// (the scrape loop tracks staleness only for series with a non-zero ref).
func seriesRef(ls labels.Labels) storage.SeriesRef {
	h := ls.Hash()
	if h == 0 {
		h = 1
	}
	return storage.SeriesRef(h)
}

// Append implements storage.AppenderV2. It copies what the scrape loop
// may reuse (the family name, exemplars, histograms).
func (a *appender) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if a.done {
		return 0, errAppenderDone
	}
	if ref == 0 {
		ref = seriesRef(ls)
	}
	s := sample{ref: ref, ls: ls, st: st, t: t, v: v}
	switch {
	case fh != nil:
		s.fh = fh.Copy()
	case h != nil:
		s.fh = h.ToFloat(nil)
	}
	if opts.MetricFamilyName != "" {
		s.family = strings.Clone(opts.MetricFamilyName)
	}
	s.typ, s.unit, s.help = opts.Metadata.Type, opts.Metadata.Unit, opts.Metadata.Help
	if len(opts.Exemplars) > 0 {
		s.exemplars = append([]exemplar.Exemplar(nil), opts.Exemplars...)
	}
	a.samples = append(a.samples, s)
	a.bytes += s.size()
	return ref, nil
}

// Commit implements storage.AppenderTransaction: it translates the
// scrape, charges memory_limit for it and hands it to the pipeline. A
// refusal skips the scrape (counted by reason, logged at most every few
// seconds) and keeps its staleness markers for the target's next
// scrape; the error is not returned, since the scrape loop could only log
// it at every cycle.
func (a *appender) Commit() error {
	if a.done {
		return errAppenderDone
	}
	a.done = true
	a.r.commit(a)
	a.samples = nil
	return nil
}

// Rollback implements storage.AppenderTransaction.
func (a *appender) Rollback() error {
	a.done = true
	a.samples = nil
	return nil
}
