package tailsamplingprocessor

import (
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Estimated in-memory overheads, in bytes, beyond the content (strings,
// numbers) that pdata holds: a span's fixed part with its wrappers and
// the held slot pointing at it; one attribute, event or link; a held
// trace with its map entry and queue slot; a resource and scope group.
const (
	spanOverhead    = 320
	elementOverhead = 64
	traceOverhead   = 192
	groupOverhead   = 256
)

// group is the resource and scope of one incoming ScopeSpans, shared by
// every span held from it.
type group struct {
	resource       pcommon.Resource
	resourceSchema string
	scope          pcommon.InstrumentationScope
	scopeSchema    string
	bytes          int64 // estimated memory
	wire           int64 // estimated content bytes (bytes_limiting)
}

func newGroup(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) *group {
	g := &group{
		resource:       pcommon.NewResource(),
		resourceSchema: rs.SchemaUrl(),
		scope:          pcommon.NewInstrumentationScope(),
		scopeSchema:    ss.SchemaUrl(),
	}
	rs.Resource().CopyTo(g.resource)
	ss.Scope().CopyTo(g.scope)
	n, w := attrsBytes(g.resource.Attributes())
	sn, sw := attrsBytes(g.scope.Attributes())
	g.wire = 4 + w + int64(len(g.scope.Name())+len(g.scope.Version())) + 4 + sw
	g.bytes = groupOverhead + n + sn + g.wire + int64(len(g.resourceSchema)+len(g.scopeSchema))
	return g
}

// heldSpan is one span held for its trace.
type heldSpan struct {
	g    *group
	span ptrace.Span
}

// trace is a trace held until it is decided.
type trace struct {
	id      pcommon.TraceID
	arrived time.Time // first span
	spans   []heldSpan
	// first backs spans up to its length, so that a trace of one or two
	// spans (most traces of a sidecar's clients) costs one allocation,
	// not three; cleared when the trace is decided.
	first   [2]heldSpan
	bytes   int64 // estimated memory, charged
	wire    int64 // estimated content bytes
	last    *group
	decided bool // removed from its shard's map (queue slots are skipped)
}

// spanCount is the number of spans held.
func (t *trace) spanCount() int64 { return int64(len(t.spans)) }

// anySpan reports whether fn holds for a span.
func (t *trace) anySpan(fn func(ptrace.Span) bool) bool {
	for _, h := range t.spans {
		if fn(h.span) {
			return true
		}
	}
	return false
}

// anyResourceOrSpan reports whether res holds for the resource of a span
// or span holds for a span.
func (t *trace) anyResourceOrSpan(res func(pcommon.Map) bool, span func(pcommon.Map) bool) bool {
	var last *group
	for _, h := range t.spans {
		if h.g != last {
			last = h.g
			if res(h.g.resource.Attributes()) {
				return true
			}
		}
		if span(h.span.Attributes()) {
			return true
		}
	}
	return false
}

// duration is the latest span end less the earliest span start.
func (t *trace) duration() time.Duration {
	var lo, hi pcommon.Timestamp
	for i, h := range t.spans {
		s, e := h.span.StartTimestamp(), h.span.EndTimestamp()
		if i == 0 || s < lo {
			lo = s
		}
		if i == 0 || e > hi {
			hi = e
		}
	}
	if hi < lo {
		return 0
	}
	return time.Duration(hi - lo)
}

// spanBytes estimates a span's memory and content bytes.
func spanBytes(s ptrace.Span) (mem, wire int64) {
	// trace ID, span ID, parent span ID, start, end, kind, status code,
	// three dropped counts: the fixed content, as the Collector counts it.
	wire = 68 + int64(len(s.Name())+len(s.TraceState().AsRaw())+len(s.Status().Message()))
	m, w := attrsBytes(s.Attributes())
	mem, wire = m, wire+w
	for _, e := range s.Events().All() {
		m, w := attrsBytes(e.Attributes())
		mem += elementOverhead + m
		wire += 12 + int64(len(e.Name())) + w
	}
	for _, l := range s.Links().All() {
		m, w := attrsBytes(l.Attributes())
		mem += elementOverhead + m
		wire += 28 + int64(len(l.TraceState().AsRaw())) + w
	}
	return spanOverhead + mem + wire, wire
}

// attrsBytes estimates a map's memory overhead (beyond content) and its
// content bytes.
func attrsBytes(m pcommon.Map) (mem, wire int64) {
	for k, v := range m.All() {
		vm, vw := valueBytes(v)
		mem += elementOverhead + vm
		wire += int64(len(k)) + vw
	}
	return mem, wire
}

func valueBytes(v pcommon.Value) (mem, wire int64) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return 0, int64(len(v.Str()))
	case pcommon.ValueTypeInt, pcommon.ValueTypeDouble:
		return 0, 8
	case pcommon.ValueTypeBool:
		return 0, 1
	case pcommon.ValueTypeBytes:
		return 0, int64(v.Bytes().Len())
	case pcommon.ValueTypeMap:
		return attrsBytes(v.Map())
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			em, ew := valueBytes(e)
			mem += elementOverhead + em
			wire += ew
		}
	}
	return mem, wire
}

// traceStateValue returns the value of key in a W3C tracestate header
// value (comma-separated key=value list members, optional whitespace
// around members; https://www.w3.org/TR/trace-context/#tracestate-header).
// Malformed members (no '=') are skipped.
func traceStateValue(raw, key string) (string, bool) {
	for raw != "" {
		var member string
		member, raw, _ = strings.Cut(raw, ",")
		member = strings.Trim(member, " \t")
		k, v, ok := strings.Cut(member, "=")
		if ok && k == key {
			return v, true
		}
	}
	return "", false
}
