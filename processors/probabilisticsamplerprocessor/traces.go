package probabilisticsamplerprocessor

import (
	"context"
	"strconv"
	"strings"

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
	// The tracestate written on a kept span that arrived without one, in
	// the consistent modes: one string shared by all those spans.
	baseTS string
}

func newTracesProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (*tracesProcessor, error) {
	var n any
	if next != nil {
		n = next
	}
	c, _, err := newCommon(set, cfg, n, pipeline.SignalTraces)
	if err != nil {
		return nil, err
	}
	p := &tracesProcessor{common: c, next: next}
	if !c.s.never {
		p.baseTS = "ot=th:" + c.s.baseTV
	}
	return p, nil
}

// ConsumeTraces drops the spans not sampled, writes the outbound
// threshold into the tracestate of those kept and hands them on. A
// request left empty is not handed on.
func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var t tally
	var sb strings.Builder
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				o, adj := p.span(sp, &sb)
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
func (p *tracesProcessor) span(sp ptrace.Span, sb *strings.Builder) (outcome, float64) {
	prio := spanPriority(sp.Attributes())
	if prio == priorityDiscard {
		return droppedPriority, 0
	}
	raw := sp.TraceState().AsRaw()
	tid := sp.TraceID()
	if raw == "" {
		return p.spanWithoutTraceState(sp, tid, prio)
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
		case p.s.never:
			return droppedSampledOut, 0
		}
		return keptFailOpen, 0
	}
	ot := ts.OTelValue()
	in, hasTh := ot.TValueThreshold()
	var rnd sampling.Randomness
	fail := numOutcomes // none
	switch {
	case p.s.mode == ModeHashSeed:
		if _, hasRV := ot.RValueRandomness(); hasRV || hasTh {
			fail = droppedThresholdInUse
			break
		}
		rnd = hashRandomness(fnvBytes(p.s.seed, tid[:]))
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
		case p.s.never:
			return droppedSampledOut, 0
		case fail != droppedInconsistent:
			return keptFailOpen, 0
		}
		// fail open on an erased threshold: decide as if none arrived.
	}
	if prio != priorityKeep {
		th = p.s.decide(in, hasTh)
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
func (p *tracesProcessor) spanWithoutTraceState(sp ptrace.Span, tid pcommon.TraceID, prio priority) (outcome, float64) {
	if prio == priorityKeep {
		if p.s.mode == ModeHashSeed {
			sp.TraceState().FromRaw(hashTraceState(hashRandomness(fnvBytes(p.s.seed, tid[:])), "0"))
		} else {
			sp.TraceState().FromRaw("ot=th:0")
		}
		return keptPriority, 1
	}
	if p.s.never {
		return droppedSampledOut, 0
	}
	if p.s.mode == ModeHashSeed {
		rnd := hashRandomness(fnvBytes(p.s.seed, tid[:]))
		if !p.s.base.ShouldSample(rnd) {
			return droppedSampledOut, 0
		}
		sp.TraceState().FromRaw(hashTraceState(rnd, p.s.baseTV))
		return keptSampled, adjustedCount(p.s.base)
	}
	if tid.IsEmpty() {
		if p.failClosed {
			return droppedMissing, 0
		}
		return keptFailOpen, 0
	}
	p.presumedRandom(sp.Flags())
	if !p.s.base.ShouldSample(sampling.TraceIDToRandomness(tid)) {
		return droppedSampledOut, 0
	}
	sp.TraceState().FromRaw(p.baseTS)
	return keptSampled, adjustedCount(p.s.base)
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
