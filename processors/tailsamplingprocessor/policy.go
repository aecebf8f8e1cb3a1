package tailsamplingprocessor

import (
	"hash/fnv"
	"math"
	"math/big"
	"regexp"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// decision is what one policy says of a trace. The inverted decisions are
// those of invert_match, combined as the Collector combines them: an
// invertNotSampled vetoes every sampled; an invertSampled samples only
// when no policy said notSampled.
type decision uint8

const (
	notSampled decision = iota
	sampled
	invertSampled
	invertNotSampled
)

// evaluator decides on a trace. Evaluators are shared by every shard and
// are safe for concurrent use.
type evaluator interface {
	evaluate(t *trace) decision
}

// combine gives the final decision of the top-level policies' decisions.
func combine(ds []decision) bool {
	var has [4]bool
	for _, d := range ds {
		has[d] = true
	}
	switch {
	case has[invertNotSampled]:
		return false
	case has[sampled]:
		return true
	default:
		return has[invertSampled] && !has[notSampled]
	}
}

var statusCodes = map[string]ptrace.StatusCode{
	"OK": ptrace.StatusCodeOk, "ERROR": ptrace.StatusCodeError, "UNSET": ptrace.StatusCodeUnset,
}

// newEvaluator builds the evaluator of a validated policy.
func newEvaluator(p *PolicyConfig) evaluator {
	switch p.Type {
	case AlwaysSample:
		return alwaysSample{}
	case Probabilistic:
		return newProbabilistic(p.Probabilistic)
	case StatusCode:
		s := statusCode{}
		for _, c := range p.StatusCode.StatusCodes {
			s[statusCodes[c]] = true
		}
		return s
	case Latency:
		return latency{lo: p.Latency.ThresholdMs, hi: p.Latency.UpperThresholdMs}
	case StringAttribute:
		return newStringAttribute(p.StringAttribute)
	case NumericAttribute:
		n := p.NumericAttribute
		e := numericAttribute{key: n.Key, lo: math.Inf(-1), hi: math.Inf(1), invert: n.InvertMatch}
		if n.MinValue != nil {
			e.lo = *n.MinValue
		}
		if n.MaxValue != nil {
			e.hi = *n.MaxValue
		}
		return e
	case BooleanAttribute:
		b := p.BooleanAttribute
		return booleanAttribute{key: b.Key, value: b.Value, invert: b.InvertMatch}
	case SpanCount:
		return spanCount{lo: p.SpanCount.MinSpans, hi: p.SpanCount.MaxSpans}
	case TraceState:
		e := traceState{key: p.TraceState.Key, values: map[string]bool{}}
		for _, v := range p.TraceState.Values {
			e.values[v] = true
		}
		return e
	case RateLimiting:
		r := float64(p.RateLimiting.SpansPerSecond)
		return &rateLimiting{bucket: newBucket(r, 2*r)}
	case BytesLimiting:
		b := p.BytesLimiting
		burst := b.BurstCapacity
		if burst == 0 {
			burst = 2 * b.BytesPerSecond
		}
		return &bytesLimiting{bucket: newBucket(float64(b.BytesPerSecond), float64(burst))}
	case And:
		a := and{}
		for i := range p.And.SubPolicies {
			a = append(a, newEvaluator(&p.And.SubPolicies[i]))
		}
		return a
	case Not:
		return not{sub: newEvaluator(p.Not.SubPolicy)}
	case Composite:
		return newComposite(p.Composite)
	}
	return nil // unreachable for a validated configuration
}

type alwaysSample struct{}

func (alwaysSample) evaluate(*trace) decision { return sampled }

type probabilistic struct {
	salt      []byte
	threshold uint64
}

func newProbabilistic(c *ProbabilisticConfig) probabilistic {
	salt := c.HashSalt
	if salt == "" {
		salt = DefaultHashSalt
	}
	return probabilistic{salt: []byte(salt), threshold: threshold(c.SamplingPercentage / 100)}
}

// threshold maps a ratio onto [0, MaxUint64]; a hash at or under it is
// sampled. big.Float keeps the low bits a float64 product would lose.
func threshold(ratio float64) uint64 {
	if ratio >= 1 {
		return math.MaxUint64
	}
	f := new(big.Float).SetUint64(math.MaxUint64)
	t, _ := f.Mul(f, big.NewFloat(ratio)).Uint64()
	return t
}

func (p probabilistic) evaluate(t *trace) decision {
	if traceHash(p.salt, t.id) <= p.threshold {
		return sampled
	}
	return notSampled
}

// traceHash is FNV-1a over the salt then the trace ID's 16 bytes.
func traceHash(salt []byte, id pcommon.TraceID) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(salt) // never fails
	_, _ = h.Write(id[:])
	return h.Sum64()
}

type statusCode map[ptrace.StatusCode]bool

func (s statusCode) evaluate(t *trace) decision {
	return when(t.anySpan(func(sp ptrace.Span) bool { return s[sp.Status().Code()] }))
}

func when(b bool) decision {
	if b {
		return sampled
	}
	return notSampled
}

type latency struct{ lo, hi int64 }

func (l latency) evaluate(t *trace) decision {
	ms := t.duration().Milliseconds()
	if l.hi == 0 {
		return when(ms >= l.lo)
	}
	return when(l.lo < ms && ms <= l.hi)
}

// matchAttr evaluates a resource-or-span attribute match, plain or
// inverted as the Collector does: inverted, a trace where any resource or
// span matches is invertNotSampled (a veto), else invertSampled.
func matchAttr(t *trace, invert bool, match func(pcommon.Map) bool) decision {
	hit := t.anyResourceOrSpan(match, match)
	switch {
	case invert && hit:
		return invertNotSampled
	case invert:
		return invertSampled
	}
	return when(hit)
}

type stringAttribute struct {
	key    string
	values map[string]bool
	res    []*regexp.Regexp
	invert bool

	mu    sync.Mutex
	cache map[string]bool // regex results; cleared when full
	limit int
}

func newStringAttribute(c *StringAttributeConfig) *stringAttribute {
	s := &stringAttribute{key: c.Key, invert: c.InvertMatch}
	if c.EnabledRegexMatching {
		for _, v := range c.Values {
			s.res = append(s.res, regexp.MustCompile(v)) // compiled by Validate
		}
		s.limit = c.CacheMaxSize
		if s.limit == 0 {
			s.limit = DefaultRegexCacheSize
		}
		s.cache = make(map[string]bool, s.limit)
		return s
	}
	s.values = map[string]bool{}
	for _, v := range c.Values {
		s.values[v] = true
	}
	return s
}

func (s *stringAttribute) matches(v string) bool {
	if s.res == nil {
		return s.values[v]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if hit, ok := s.cache[v]; ok {
		return hit
	}
	hit := false
	for _, re := range s.res {
		if re.MatchString(v) {
			hit = true
			break
		}
	}
	if len(s.cache) >= s.limit {
		clear(s.cache)
	}
	s.cache[v] = hit
	return hit
}

func (s *stringAttribute) evaluate(t *trace) decision {
	return matchAttr(t, s.invert, func(m pcommon.Map) bool {
		v, ok := m.Get(s.key)
		return ok && v.Type() == pcommon.ValueTypeStr && s.matches(v.Str())
	})
}

type numericAttribute struct {
	key    string
	lo, hi float64
	invert bool
}

func (n numericAttribute) evaluate(t *trace) decision {
	return matchAttr(t, n.invert, func(m pcommon.Map) bool {
		v, ok := m.Get(n.key)
		if !ok {
			return false
		}
		var x float64
		switch v.Type() {
		case pcommon.ValueTypeInt:
			x = float64(v.Int())
		case pcommon.ValueTypeDouble:
			x = v.Double()
		default:
			return false
		}
		return n.lo <= x && x <= n.hi
	})
}

type booleanAttribute struct {
	key    string
	value  bool
	invert bool
}

func (b booleanAttribute) evaluate(t *trace) decision {
	return matchAttr(t, b.invert, func(m pcommon.Map) bool {
		v, ok := m.Get(b.key)
		return ok && v.Type() == pcommon.ValueTypeBool && v.Bool() == b.value
	})
}

type spanCount struct{ lo, hi int64 }

func (s spanCount) evaluate(t *trace) decision {
	n := t.spanCount()
	return when(n >= s.lo && (s.hi == 0 || n <= s.hi))
}

type traceState struct {
	key    string
	values map[string]bool
}

func (ts traceState) evaluate(t *trace) decision {
	return when(t.anySpan(func(sp ptrace.Span) bool {
		v, ok := traceStateValue(sp.TraceState().AsRaw(), ts.key)
		return ok && ts.values[v]
	}))
}

// bucket is a token bucket that starts full.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

// take takes n tokens if the bucket has them.
func (b *bucket) take(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if n > b.tokens {
		return false
	}
	b.tokens -= n
	return true
}

type rateLimiting struct{ bucket *bucket }

func (r *rateLimiting) evaluate(t *trace) decision {
	return when(r.bucket.take(float64(t.spanCount())))
}

type bytesLimiting struct{ bucket *bucket }

func (b *bytesLimiting) evaluate(t *trace) decision {
	return when(b.bucket.take(float64(t.wire)))
}

type and []evaluator

func (a and) evaluate(t *trace) decision {
	for _, e := range a {
		if d := e.evaluate(t); d == notSampled || d == invertNotSampled {
			return notSampled
		}
	}
	return sampled
}

type not struct{ sub evaluator }

func (n not) evaluate(t *trace) decision {
	switch d := n.sub.evaluate(t); d {
	case sampled:
		return notSampled
	case notSampled:
		return sampled
	default:
		return d
	}
}

// composite gives each sub-policy, in policy_order, a share of
// max_total_spans_per_second, counted per wall-clock second.
type composite struct {
	max  int64
	subs []compositeSub

	mu     sync.Mutex
	second int64
}

type compositeSub struct {
	eval      evaluator
	allocated int64
	used      int64 // spans sampled in the current second
}

func newComposite(c *CompositeConfig) *composite {
	byName := map[string]*PolicyConfig{}
	for i := range c.SubPolicies {
		byName[c.SubPolicies[i].Name] = &c.SubPolicies[i]
	}
	share := map[string]int64{}
	equal := c.MaxTotalSpansPerSecond / int64(len(c.SubPolicies))
	for _, r := range c.RateAllocation {
		if r.Percent > 0 {
			share[r.Policy] = r.Percent * c.MaxTotalSpansPerSecond / 100
		} else {
			share[r.Policy] = equal
		}
	}
	cp := &composite{max: c.MaxTotalSpansPerSecond}
	for _, name := range c.PolicyOrder {
		cp.subs = append(cp.subs, compositeSub{eval: newEvaluator(byName[name]), allocated: share[name]})
	}
	return cp
}

func (c *composite) evaluate(t *trace) decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := time.Now().Unix(); s != c.second {
		c.second = s
		for i := range c.subs {
			c.subs[i].used = 0
		}
	}
	n := t.spanCount()
	for i := range c.subs {
		sub := &c.subs[i]
		if d := sub.eval.evaluate(t); d != sampled && d != invertSampled {
			continue
		}
		if used := sub.used + n; used <= sub.allocated && used <= c.max {
			sub.used = used
			return sampled
		}
		return notSampled
	}
	return notSampled
}
