package probabilisticsamplerprocessor

import (
	"context"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/pipeline"
)

// The log record attributes that carry sampling information, as the
// Collector's: the threshold (a th value) and explicit randomness (an rv
// value).
const (
	attrThreshold  = "sampling.threshold"
	attrRandomness = "sampling.randomness"
)

type logsProcessor struct {
	*common
	next           consumer.Logs
	fromRecord     bool   // attribute_source: record
	sampleUntraced bool   // logs_without_trace_id: sample
	fromAttribute  string // "" hashes the body
	priorityAttr   string
}

func newLogsProcessor(set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (*logsProcessor, error) {
	var n any
	if next != nil {
		n = next
	}
	c, conf, err := newCommon(set, cfg, n, pipeline.SignalLogs)
	if err != nil {
		return nil, err
	}
	if conf.FromAttribute != "" && conf.AttributeSource == SourceTraceID && conf.LogsWithoutTraceID == UntracedKeep {
		// The Collector would hash it for records without a trace id.
		c.logger.Warn("probabilistic_sampler: from_attribute is not used: records without a trace id are kept (logs_without_trace_id: keep); set logs_without_trace_id: sample to sample them by it",
			"processor", set.ID.String(), "from_attribute", conf.FromAttribute)
	}
	return &logsProcessor{
		common:         c,
		next:           next,
		fromRecord:     conf.AttributeSource == SourceRecord,
		sampleUntraced: conf.LogsWithoutTraceID == UntracedSample,
		fromAttribute:  conf.FromAttribute,
		priorityAttr:   conf.SamplingPriority,
	}, nil
}

// ConsumeLogs drops the records not sampled, writes sampling.threshold
// on those kept and hands them on. A request left empty is not handed on.
func (p *logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	var t tally
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				o, adj := p.logRecord(lr)
				t.n[o]++
				t.adj += adj
				return !o.kept()
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	p.record(&t)
	if ld.ResourceLogs().Len() == 0 {
		return nil
	}
	return p.next.ConsumeLogs(ctx, ld)
}

// recordHash is the FNV-1a hash, after hash_seed, of from_attribute's
// value (bytes as they are, other values as their string form) or, when
// the record has no such attribute, of its body.
func (p *logsProcessor) recordHash(lr plog.LogRecord) uint32 {
	v := lr.Body()
	if p.fromAttribute != "" {
		if a, ok := lr.Attributes().Get(p.fromAttribute); ok {
			v = a
		}
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return fnvString(p.s.seed, v.Str())
	case pcommon.ValueTypeBytes:
		return fnvBytes(p.s.seed, v.Bytes().AsRaw())
	}
	return fnvString(p.s.seed, v.AsString())
}

// priorityThreshold reads sampling_priority: drop reports a priority of
// 0; has, a positive percentage whose threshold is th.
func (p *logsProcessor) priorityThreshold(lr plog.LogRecord) (th sampling.Threshold, has, drop bool) {
	if p.priorityAttr == "" {
		return th, false, false
	}
	v, ok := lr.Attributes().Get(p.priorityAttr)
	if !ok {
		return th, false, false
	}
	var pct float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		pct = float64(v.Int())
	case pcommon.ValueTypeDouble:
		pct = v.Double()
	default:
		return th, false, false
	}
	switch {
	case pct == 0:
		return th, false, true
	case pct > 0:
		th, err := sampling.ProbabilityToThresholdWithPrecision(min(pct/100, 1), p.s.prec)
		return th, err == nil, false
	}
	return th, false, false // negative or NaN: no priority
}

// strAttr is a string attribute's value, "" when absent or not a string.
func strAttr(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// logRecord decides one record; a kept one gets sampling.threshold (and
// sampling.randomness when its randomness came from a hash).
func (p *logsProcessor) logRecord(lr plog.LogRecord) (outcome, float64) {
	prioTh, hasPrio, prioDrop := p.priorityThreshold(lr)
	if prioDrop {
		return droppedPriority, 0
	}
	attrs := lr.Attributes()
	tv, rv := strAttr(attrs, attrThreshold), strAttr(attrs, attrRandomness)
	var in sampling.Threshold
	var rnd sampling.Randomness
	hasTh, hasRV, hashed := false, false, false
	fail := numOutcomes
	if tv != "" {
		var err error
		if in, err = sampling.TValueToThreshold(tv); err != nil {
			fail = droppedInvalid
		}
		hasTh = err == nil
	}
	if rv != "" {
		var err error
		if rnd, err = sampling.RValueToRandomness(rv); err != nil {
			fail = droppedInvalid
		}
		hasRV = err == nil
	}
	tid := lr.TraceID()
	switch {
	case fail != numOutcomes:
	case p.s.mode == ModeHashSeed && (hasTh || hasRV):
		fail = droppedThresholdInUse
	case hasRV:
	case !p.fromRecord && !tid.IsEmpty():
		if p.s.mode == ModeHashSeed {
			rnd, hashed = hashRandomness(fnvBytes(p.s.seed, tid[:])), true
		} else {
			p.presumedRandom(uint32(lr.Flags()))
			rnd = sampling.TraceIDToRandomness(tid)
		}
	case p.fromRecord || p.sampleUntraced:
		rnd, hashed = hashRandomness(p.recordHash(lr)), true
	default:
		// No trace id, and logs_without_trace_id keeps such records.
		return keptUntraced, 0
	}
	if fail == numOutcomes && hasTh && !in.ShouldSample(rnd) {
		attrs.Remove(attrThreshold)
		hasTh = false
		fail = droppedInconsistent
	}
	if fail != numOutcomes {
		switch {
		case p.failClosed:
			return fail, 0
		case p.s.never && !hasPrio:
			return droppedSampledOut, 0
		case fail != droppedInconsistent:
			return keptFailOpen, 0
		}
	}
	th := p.s.decide(in, hasTh)
	o := keptSampled
	if hasPrio && sampling.ThresholdLessThan(prioTh, th) {
		// The priority raises the probability, never above an arriving
		// threshold's.
		th, o = prioTh, keptPriority
		if hasTh && sampling.ThresholdGreater(in, th) {
			th = in
		}
	}
	if !th.ShouldSample(rnd) {
		return droppedSampledOut, 0
	}
	if th == p.s.base {
		attrs.PutStr(attrThreshold, p.s.baseTV)
	} else {
		attrs.PutStr(attrThreshold, th.TValue())
	}
	if hashed {
		var buf [sampling.NumHexDigits]byte
		attrs.PutStr(attrRandomness, string(appendRV(buf[:0], rnd)))
	}
	return o, adjustedCount(th)
}
