package logdedupprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/attrkey"
)

// keyEncoder writes the canonical encodings (internal/attrkey) of what
// makes records identical: two records are identical exactly when their
// group and record encodings are equal.
type keyEncoder struct{ attrkey.Encoder }

// group encodes a resource and a scope with their schema URLs.
func (e *keyEncoder) group(rl plog.ResourceLogs, sl plog.ScopeLogs) {
	e.Reset()
	e.Str(rl.SchemaUrl())
	e.Map(rl.Resource().Attributes())
	e.Str(sl.SchemaUrl())
	sc := sl.Scope()
	e.Str(sc.Name())
	e.Str(sc.Version())
	e.Map(sc.Attributes())
}

// record encodes a record's severity, body and attributes.
func (e *keyEncoder) record(lr plog.LogRecord) {
	e.Reset()
	e.Uvarint(uint64(lr.SeverityNumber()))
	e.Str(lr.SeverityText())
	e.Value(lr.Body())
	e.Map(lr.Attributes())
}

// exclude removes the excluded fields from a record. A field that is
// absent, or whose parent is not a map, is left alone.
func exclude(lr plog.LogRecord, fields []fieldPath) {
	for _, f := range fields {
		var m pcommon.Map
		if f.body {
			if lr.Body().Type() != pcommon.ValueTypeMap {
				continue
			}
			m = lr.Body().Map()
		} else {
			m = lr.Attributes()
		}
		for i, k := range f.keys {
			if i == len(f.keys)-1 {
				m.Remove(k)
				break
			}
			v, ok := m.Get(k)
			if !ok || v.Type() != pcommon.ValueTypeMap {
				break
			}
			m = v.Map()
		}
	}
}
