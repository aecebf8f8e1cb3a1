package aggregateprocessor

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// histSnap is an explicit-bucket histogram: a cumulative input point kept
// to take the next one's increase from, or an output's running sum.
type histSnap struct {
	bounds []float64
	counts []uint64 // len(bounds)+1
	sum    float64
	count  uint64
}

func histFromPoint(dp pmetric.HistogramDataPoint) *histSnap {
	return &histSnap{
		bounds: dp.ExplicitBounds().AsRaw(),
		counts: dp.BucketCounts().AsRaw(),
		sum:    dp.Sum(),
		count:  dp.Count(),
	}
}

// valid reports whether the point is well formed: one more count than
// bounds (or no buckets at all).
func (h *histSnap) valid() bool {
	return len(h.counts) == len(h.bounds)+1 || (len(h.counts) == 0 && len(h.bounds) == 0)
}

func (h *histSnap) bytes() int64 { return int64(len(h.bounds)+len(h.counts))*8 + 64 }

// increaseFrom returns h - prev, written into d (its counts reused), when
// h continues prev (same bounds, no count going down); ok is false on a
// reset.
func (h *histSnap) increaseFrom(prev, d *histSnap) (*histSnap, bool) {
	if !slices.Equal(h.bounds, prev.bounds) || h.count < prev.count || len(h.counts) != len(prev.counts) {
		return nil, false
	}
	d.bounds, d.sum, d.count = h.bounds, h.sum-prev.sum, h.count-prev.count
	d.counts = slices.Grow(d.counts[:0], len(h.counts))[:len(h.counts)]
	for i, c := range h.counts {
		if c < prev.counts[i] {
			return nil, false
		}
		d.counts[i] = c - prev.counts[i]
	}
	return d, true
}

// add adds d into h; both must have the same bounds.
func (h *histSnap) add(d *histSnap) {
	for i, c := range d.counts {
		h.counts[i] += c
	}
	h.sum += d.sum
	h.count += d.count
}

// expBuckets is one range of an exponential histogram's buckets: counts[i]
// is the bucket of index offset+i.
type expBuckets struct {
	offset int32
	counts []uint64
}

func expBucketsFrom(b pmetric.ExponentialHistogramDataPointBuckets) expBuckets {
	return expBuckets{offset: b.Offset(), counts: b.BucketCounts().AsRaw()}
}

func (b expBuckets) clone() expBuckets {
	return expBuckets{offset: b.offset, counts: slices.Clone(b.counts)}
}

// downscale merges buckets so that the scale drops by `by`: the bucket of
// index i becomes i >> by (an arithmetic shift: floor, also for negative
// indexes), as in the OpenTelemetry data model.
func (b expBuckets) downscale(by int32) expBuckets {
	if by <= 0 || len(b.counts) == 0 {
		return b
	}
	by = min(by, 63)
	first := int64(b.offset) >> by
	last := (int64(b.offset) + int64(len(b.counts)) - 1) >> by
	out := expBuckets{offset: int32(first), counts: make([]uint64, last-first+1)}
	for i, c := range b.counts {
		out.counts[((int64(b.offset)+int64(i))>>by)-first] += c
	}
	return out
}

// span returns the number of buckets b and o cover together, from the
// lowest index to the highest.
func (b expBuckets) span(o expBuckets) int64 {
	switch {
	case len(b.counts) == 0:
		return int64(len(o.counts))
	case len(o.counts) == 0:
		return int64(len(b.counts))
	}
	first := min(int64(b.offset), int64(o.offset))
	last := max(int64(b.offset)+int64(len(b.counts)), int64(o.offset)+int64(len(o.counts)))
	return last - first
}

// add returns b + o (same scale).
func (b expBuckets) add(o expBuckets) expBuckets {
	if len(o.counts) == 0 {
		return b
	}
	if len(b.counts) == 0 {
		return o.clone()
	}
	first := min(int64(b.offset), int64(o.offset))
	last := max(int64(b.offset)+int64(len(b.counts)), int64(o.offset)+int64(len(o.counts)))
	out := b
	if first != int64(b.offset) || last != int64(b.offset)+int64(len(b.counts)) {
		out = expBuckets{offset: int32(first), counts: make([]uint64, last-first)}
		copy(out.counts[int64(b.offset)-first:], b.counts)
	}
	for i, c := range o.counts {
		out.counts[int64(o.offset)+int64(i)-first] += c
	}
	return out
}

// sub returns b - o (same scale); ok is false when some bucket of o holds
// more than b's (a reset).
func (b expBuckets) sub(o expBuckets) (expBuckets, bool) {
	out := b.clone()
	for i, c := range o.counts {
		if c == 0 {
			continue
		}
		j := int64(o.offset) + int64(i) - int64(b.offset)
		if j < 0 || j >= int64(len(b.counts)) || out.counts[j] < c {
			return expBuckets{}, false
		}
		out.counts[j] -= c
	}
	return out, true
}

// expHist is an exponential histogram at one scale.
type expHist struct {
	scale         int32
	zeroCount     uint64
	zeroThreshold float64
	pos, neg      expBuckets
	sum           float64
	count         uint64
}

func expFromPoint(dp pmetric.ExponentialHistogramDataPoint) *expHist {
	return &expHist{
		scale:         dp.Scale(),
		zeroCount:     dp.ZeroCount(),
		zeroThreshold: dp.ZeroThreshold(),
		pos:           expBucketsFrom(dp.Positive()),
		neg:           expBucketsFrom(dp.Negative()),
		sum:           dp.Sum(),
		count:         dp.Count(),
	}
}

func (h *expHist) bytes() int64 { return int64(len(h.pos.counts)+len(h.neg.counts))*8 + 96 }

// atScale returns h at a scale not above s (h itself when it is already
// there).
func (h *expHist) atScale(s int32) *expHist {
	if s >= h.scale {
		return h
	}
	c := *h
	c.scale = s
	c.pos = h.pos.downscale(h.scale - s)
	c.neg = h.neg.downscale(h.scale - s)
	return &c
}

// increaseFrom returns h - prev at the coarser of their scales; ok is
// false on a reset (count or a bucket going down).
func (h *expHist) increaseFrom(prev *expHist) (*expHist, bool) {
	if h.count < prev.count || h.zeroCount < prev.zeroCount {
		return nil, false
	}
	s := min(h.scale, prev.scale)
	a, b := h.atScale(s), prev.atScale(s)
	pos, ok1 := a.pos.sub(b.pos)
	neg, ok2 := a.neg.sub(b.neg)
	if !ok1 || !ok2 {
		return nil, false
	}
	return &expHist{
		scale: s, zeroCount: a.zeroCount - b.zeroCount, zeroThreshold: max(a.zeroThreshold, b.zeroThreshold),
		pos: pos, neg: neg, sum: a.sum - b.sum, count: a.count - b.count,
	}, true
}

// maxExpBuckets bounds the buckets a merged exponential histogram keeps
// per sign (the OpenTelemetry SDK's default max_size): when two inputs
// together would span more, both are downscaled further, down to
// minExpScale.
const (
	maxExpBuckets = 160
	minExpScale   = -10
	maxExpScale   = 20 // the OpenTelemetry data model's range
)

// merge adds d into h, downscaling whichever has the finer scale, and both
// while together they would span more than maxExpBuckets buckets. It
// reports false, changing nothing, when even minExpScale cannot hold them
// (bucket indexes no real value has).
func (h *expHist) merge(d *expHist) bool {
	c := *h
	if d.scale < c.scale {
		c = *c.atScale(d.scale)
	}
	d = d.atScale(c.scale)
	for c.scale > minExpScale && (c.pos.span(d.pos) > maxExpBuckets || c.neg.span(d.neg) > maxExpBuckets) {
		c = *c.atScale(c.scale - 1)
		d = d.atScale(c.scale)
	}
	if c.pos.span(d.pos) > maxExpBuckets || c.neg.span(d.neg) > maxExpBuckets {
		return false
	}
	*h = c
	h.pos = h.pos.add(d.pos)
	h.neg = h.neg.add(d.neg)
	h.zeroCount += d.zeroCount
	h.zeroThreshold = max(h.zeroThreshold, d.zeroThreshold)
	h.sum += d.sum
	h.count += d.count
	return true
}
