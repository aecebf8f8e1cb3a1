package cardinalitylimitprocessor

import (
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// maxExpBuckets caps the buckets per range of an overflow exponential
// histogram, as the OpenTelemetry SDK's default max_size (160): beyond it
// the scale is lowered.
const maxExpBuckets = 160

// expBuckets is one range (positive or negative) of an exponential
// histogram: counts[i] is the bucket of index offset+i.
type expBuckets struct {
	offset int32
	counts []uint64
}

// expPoint is an exponential histogram point's distribution.
type expPoint struct {
	scale         int32
	zeroCount     uint64
	zeroThreshold float64
	pos, neg      expBuckets
	count         uint64
	sum           float64
}

func expFromPoint(dp pmetric.ExponentialHistogramDataPoint) *expPoint {
	return &expPoint{
		scale:         dp.Scale(),
		zeroCount:     dp.ZeroCount(),
		zeroThreshold: dp.ZeroThreshold(),
		pos:           expBuckets{offset: dp.Positive().Offset(), counts: dp.Positive().BucketCounts().AsRaw()},
		neg:           expBuckets{offset: dp.Negative().Offset(), counts: dp.Negative().BucketCounts().AsRaw()},
		count:         dp.Count(),
		sum:           dp.Sum(),
	}
}

// downscale lowers the resolution by `by` scale steps: bucket index i
// becomes i >> by (floor division, also for negative indexes).
func (b expBuckets) downscale(by int32) expBuckets {
	if by <= 0 || len(b.counts) == 0 {
		return b
	}
	first := b.offset >> by
	last := (b.offset + int32(len(b.counts)) - 1) >> by
	out := make([]uint64, last-first+1)
	for i, c := range b.counts {
		out[((b.offset+int32(i))>>by)-first] += c
	}
	return expBuckets{offset: first, counts: out}
}

// add adds o (same scale) into b, widening b as needed.
func (b *expBuckets) add(o expBuckets) {
	if len(o.counts) == 0 {
		return
	}
	if len(b.counts) == 0 {
		b.offset, b.counts = o.offset, append([]uint64(nil), o.counts...)
		return
	}
	lo := min(b.offset, o.offset)
	hi := max(b.offset+int32(len(b.counts)), o.offset+int32(len(o.counts)))
	if lo != b.offset || hi != b.offset+int32(len(b.counts)) {
		wide := make([]uint64, hi-lo)
		copy(wide[b.offset-lo:], b.counts)
		b.offset, b.counts = lo, wide
	}
	for i, c := range o.counts {
		b.counts[o.offset-b.offset+int32(i)] += c
	}
}

// sub returns b − o (same scale), or false if some count of o is not in b.
func (b expBuckets) sub(o expBuckets) (expBuckets, bool) {
	out := expBuckets{offset: b.offset, counts: append([]uint64(nil), b.counts...)}
	for i, c := range o.counts {
		if c == 0 {
			continue
		}
		j := o.offset + int32(i) - b.offset
		if j < 0 || int(j) >= len(out.counts) || out.counts[j] < c {
			return expBuckets{}, false
		}
		out.counts[j] -= c
	}
	return out, true
}

// at returns the point at a scale no higher than its own.
func (p *expPoint) at(scale int32) *expPoint {
	if scale >= p.scale {
		return p
	}
	q := *p
	q.pos, q.neg = p.pos.downscale(p.scale-scale), p.neg.downscale(p.scale-scale)
	q.scale = scale
	return &q
}

// delta returns cur − prev, or false when cur is not a continuation of
// prev (a counter reset).
func expDelta(cur, prev *expPoint) (*expPoint, bool) {
	if cur.count < prev.count || cur.zeroCount < prev.zeroCount {
		return nil, false
	}
	s := min(cur.scale, prev.scale)
	c, p := cur.at(s), prev.at(s)
	pos, ok1 := c.pos.sub(p.pos)
	neg, ok2 := c.neg.sub(p.neg)
	if !ok1 || !ok2 {
		return nil, false
	}
	return &expPoint{scale: s, zeroCount: c.zeroCount - p.zeroCount, zeroThreshold: c.zeroThreshold,
		pos: pos, neg: neg, count: c.count - p.count, sum: c.sum - p.sum}, true
}

// merge adds d into the accumulation p, at the lower of their scales, and
// lowers the scale further while a range has more than maxExpBuckets
// buckets. The zero threshold becomes the larger of the two (buckets of
// the other below it are not moved into the zero bucket).
func (p *expPoint) merge(d *expPoint) {
	s := min(p.scale, d.scale)
	*p = *p.at(s)
	d = d.at(s)
	p.pos.add(d.pos)
	p.neg.add(d.neg)
	p.zeroCount += d.zeroCount
	p.zeroThreshold = max(p.zeroThreshold, d.zeroThreshold)
	p.count += d.count
	p.sum += d.sum
	for len(p.pos.counts) > maxExpBuckets || len(p.neg.counts) > maxExpBuckets {
		*p = *p.at(p.scale - 1)
	}
}

func (o *overflow) foldExp(k kind, s *series, dp pmetric.ExponentialHistogramDataPoint) {
	if dp.Flags().NoRecordedValue() {
		return
	}
	o.begin(k, dp.StartTimestamp(), dp.Timestamp())
	if !dp.HasSum() {
		o.noSum = true
	}
	cur := expFromPoint(dp)
	d := cur
	if k == kindCumExp {
		switch src := s.src; {
		case src == nil:
			s.src = &source{start: dp.StartTimestamp(), exp: cur}
			if !o.firstContribution(dp.StartTimestamp()) {
				d = nil // a baseline
			}
		case dp.StartTimestamp() != src.start:
			src.start, src.exp = dp.StartTimestamp(), cur
		default:
			if dd, ok := expDelta(cur, src.exp); ok {
				d = dd
			}
			src.exp = cur
		}
	} else if dp.HasMin() && dp.HasMax() {
		if !o.hasMinMax || dp.Min() < o.min {
			o.min = dp.Min()
		}
		if !o.hasMinMax || dp.Max() > o.max {
			o.max = dp.Max()
		}
		o.hasMinMax = true
	}
	if d == nil {
		return
	}
	if o.exp == nil {
		o.exp = &expPoint{scale: d.scale}
	}
	o.exp.merge(d)
}

func (o *overflow) emitExp(k kind, dp pmetric.ExponentialHistogramDataPoint) {
	dp.Attributes().PutBool(AttrOverflow, true)
	dp.SetStartTimestamp(o.start)
	dp.SetTimestamp(o.time)
	if e := o.exp; e != nil {
		dp.SetScale(e.scale)
		dp.SetZeroCount(e.zeroCount)
		dp.SetZeroThreshold(e.zeroThreshold)
		dp.Positive().SetOffset(e.pos.offset)
		dp.Positive().BucketCounts().FromRaw(e.pos.counts)
		dp.Negative().SetOffset(e.neg.offset)
		dp.Negative().BucketCounts().FromRaw(e.neg.counts)
		dp.SetCount(e.count)
		if !o.noSum {
			dp.SetSum(e.sum)
		}
	}
	if o.hasMinMax {
		dp.SetMin(o.min)
		dp.SetMax(o.max)
	}
	o.reset(k)
}
