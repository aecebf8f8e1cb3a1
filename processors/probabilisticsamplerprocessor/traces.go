package probabilisticsamplerprocessor

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
)

// priority is a span's `sampling.priority` (OpenTracing's semantic
// convention, as the Collector reads it).
type priority uint8

const (
	priorityNone    priority = iota // absent, negative or not a number
	priorityKeep                    // > 0: always keep
	priorityDiscard                 // 0: always drop
)

func spanPriority(attrs pcommon.Map) priority {
	if attrs.Len() == 0 {
		return priorityNone
	}
	v, ok := attrs.Get("sampling.priority")
	if !ok {
		return priorityNone
	}
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(v.Str(), 64); err != nil {
			return priorityNone
		}
	default:
		return priorityNone
	}
	switch {
	case f == 0:
		return priorityDiscard
	case f > 0:
		return priorityKeep
	}
	return priorityNone // negative, NaN
}

type tracesProcessor struct {
	*common
	next consumer.Traces
	// full decides at sampling_percentage; cur at the probability in
	// force, which is full unless adaptive lowered it. Spans of traces
	// with an error in the request are decided by full (see
	// ConsumeTraces).
	full *traceSampler
	cur  atomic.Pointer[traceSampler]
	// adaptive runs the control law; nil without an adaptive block.
	adaptive *adaptiveLoop
	cfg      *Config
}

// traceSampler is the sampler of one percentage and its tracestate.
type traceSampler struct {
	s sampler
	// The tracestate written on a kept span that arrived without one, in
	// the consistent modes: one string shared by all those spans.
	baseTS string
}

func newTraceSampler(c *Config, pct float32) *traceSampler {
	cc := *c
	cc.SamplingPercentage = &pct
	ts := &traceSampler{s: newSampler(&cc, false)}
	if !ts.s.never {
		ts.baseTS = "ot=th:" + ts.s.baseTV
	}
	return ts
}

func newTracesProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (*tracesProcessor, error) {
	var n any
	if next != nil {
		n = next
	}
	c, conf, err := newCommon(set, cfg, n, pipeline.SignalTraces)
	if err != nil {
		return nil, err
	}
	p := &tracesProcessor{common: c, next: next, cfg: conf}
	p.full = newTraceSampler(conf, *conf.SamplingPercentage)
	p.cur.Store(p.full)
	if conf.Adaptive != nil {
		p.adaptive = newAdaptiveLoop(p, set, *conf.Adaptive, *conf.SamplingPercentage)
	}
	return p, nil
}

// setPercentage installs the sampler of pct (adaptive), for the requests
// that start after it, and sets the probability gauge.
func (p *tracesProcessor) setPercentage(pct float64) {
	ts := p.full
	if pct < float64(min(*p.cfg.SamplingPercentage, 100)) {
		ts = newTraceSampler(p.cfg, float32(pct))
	}
	p.cur.Store(ts)
	if p.probability != nil {
		p.probability.Set(pct / 100)
	}
}

// Start starts the adaptive control loop, if configured; it fails when a
// queue target is set and the exporter's queue is not open.
func (p *tracesProcessor) Start(context.Context, pipeline.Host) error {
	if p.adaptive == nil {
		return nil
	}
	return p.adaptive.start()
}

// Shutdown stops the adaptive control loop; the processor holds no data.
func (p *tracesProcessor) Shutdown(context.Context) error {
	if p.adaptive != nil {
		p.adaptive.shutdown()
	}
	return nil
}

// errorTraces returns the trace ids of the spans with status ERROR in td,
// nil when there are none.
func errorTraces(td ptrace.Traces) map[pcommon.TraceID]struct{} {
	var ids map[pcommon.TraceID]struct{}
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				sp := spans.At(k)
				if sp.Status().Code() == ptrace.StatusCodeError {
					if ids == nil {
						ids = make(map[pcommon.TraceID]struct{})
					}
					ids[sp.TraceID()] = struct{}{}
				}
			}
		}
	}
	return ids
}

// ConsumeTraces drops the spans not sampled, writes the outbound
// threshold into the tracestate of those kept and hands them on. A
// request left empty is not handed on.
func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var t tally
	var sb strings.Builder
	cur := p.cur.Load()
	// Adaptive sampling lowers the probability of traces without errors
	// only: the spans of a trace with an ERROR span in this request (after
	// tail_sampling: the whole trace) are decided at sampling_percentage.
	var errIDs map[pcommon.TraceID]struct{}
	if cur != p.full {
		errIDs = errorTraces(td)
	}
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				ts := cur
				if errIDs != nil {
					if _, ok := errIDs[sp.TraceID()]; ok {
						ts = p.full
					}
				}
				o, adj := p.span(sp, &sb, ts)
				t.n[o]++
				t.adj += adj
				return !o.kept()
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	p.record(&t)
	if td.ResourceSpans().Len() == 0 {
		return nil
	}
	return p.next.ConsumeTraces(ctx, td)
}

// span decides one span; a kept span gets its outbound tracestate. adj is
// the adjusted count written on it (0 when none is).
func (p *tracesProcessor) span(sp ptrace.Span, sb *strings.Builder, cur *traceSampler) (outcome, float64) {
	prio := spanPriority(sp.Attributes())
	if prio == priorityDiscard {
		return droppedPriority, 0
	}
	raw := sp.TraceState().AsRaw()
	tid := sp.TraceID()
	if raw == "" {
		return p.spanWithoutTraceState(sp, tid, prio, cur)
	}
	ts, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		// Nothing can be written into a tracestate that does not parse:
		// a kept span passes unchanged.
		switch {
		case prio == priorityKeep:
			return keptPriority, 0
		case p.failClosed:
			return droppedInvalid, 0
		case cur.s.never:
			return droppedSampledOut, 0
		}
		return keptFailOpen, 0
	}
	ot := ts.OTelValue()
	in, hasTh := ot.TValueThreshold()
	var rnd sampling.Randomness
	fail := numOutcomes // none
	switch {
	case cur.s.mode == ModeHashSeed:
		if _, hasRV := ot.RValueRandomness(); hasRV || hasTh {
			fail = droppedThresholdInUse
			break
		}
		rnd = hashRandomness(fnvBytes(cur.s.seed, tid[:]))
		ot.SetRValue(rnd)
	default:
		if rv, ok := ot.RValueRandomness(); ok {
			rnd = rv
		} else if tid.IsEmpty() {
			fail = droppedMissing
		} else {
			p.presumedRandom(sp.Flags())
			rnd = sampling.TraceIDToRandomness(tid)
		}
	}
	if fail == numOutcomes && hasTh && !in.ShouldSample(rnd) {
		// The arriving threshold is a lie for this randomness: erase it
		// (the specification's consistency check).
		ot.ClearTValue()
		hasTh = false
		fail = droppedInconsistent
	}
	th := sampling.AlwaysSampleThreshold
	if fail != numOutcomes && prio != priorityKeep {
		switch {
		case p.failClosed:
			return fail, 0
		case cur.s.never:
			return droppedSampledOut, 0
		case fail != droppedInconsistent:
			return keptFailOpen, 0
		}
		// fail open on an erased threshold: decide as if none arrived.
	}
	if prio != priorityKeep {
		th = cur.s.decide(in, hasTh)
		if !th.ShouldSample(rnd) {
			return droppedSampledOut, 0
		}
	}
	// A forced span keeps a higher arriving threshold: the update fails
	// and leaves it, which is still the threshold applied upstream.
	_ = ot.UpdateTValueWithSampling(th)
	sb.Reset()
	if err := ts.Serialize(sb); err == nil {
		sp.TraceState().FromRaw(sb.String())
	}
	o := keptSampled
	if prio == priorityKeep {
		o = keptPriority
	}
	return o, ot.AdjustedCount()
}

// spanWithoutTraceState is the common case, a span with an empty
// tracestate: its outbound tracestate is `ot=th:…`, plus `rv:…` in
// hash_seed mode.
func (p *tracesProcessor) spanWithoutTraceState(sp ptrace.Span, tid pcommon.TraceID, prio priority, cur *traceSampler) (outcome, float64) {
	if prio == priorityKeep {
		if cur.s.mode == ModeHashSeed {
			sp.TraceState().FromRaw(hashTraceState(hashRandomness(fnvBytes(cur.s.seed, tid[:])), "0"))
		} else {
			sp.TraceState().FromRaw("ot=th:0")
		}
		return keptPriority, 1
	}
	if cur.s.never {
		return droppedSampledOut, 0
	}
	if cur.s.mode == ModeHashSeed {
		rnd := hashRandomness(fnvBytes(cur.s.seed, tid[:]))
		if !cur.s.base.ShouldSample(rnd) {
			return droppedSampledOut, 0
		}
		sp.TraceState().FromRaw(hashTraceState(rnd, cur.s.baseTV))
		return keptSampled, adjustedCount(cur.s.base)
	}
	if tid.IsEmpty() {
		if p.failClosed {
			return droppedMissing, 0
		}
		return keptFailOpen, 0
	}
	p.presumedRandom(sp.Flags())
	if !cur.s.base.ShouldSample(sampling.TraceIDToRandomness(tid)) {
		return droppedSampledOut, 0
	}
	sp.TraceState().FromRaw(cur.baseTS)
	return keptSampled, adjustedCount(cur.s.base)
}

// hashTraceState is `ot=rv:<rnd>;th:<tv>` (the order pkg/sampling writes).
func hashTraceState(rnd sampling.Randomness, tv string) string {
	var buf [48]byte
	b := append(buf[:0], "ot=rv:"...)
	b = appendRV(b, rnd)
	b = append(b, ";th:"...)
	b = append(b, tv...)
	return string(b)
}
