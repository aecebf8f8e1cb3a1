package logdedupprocessor

import (
	"encoding/binary"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// keyEncoder writes the canonical encoding of what makes records
// identical. Two records are identical exactly when their encodings are
// equal: every value is tagged with its type, every string and list is
// prefixed with its length, and map keys are sorted, so that attribute
// order does not matter. It reuses its buffers; not safe for concurrent
// use.
type keyEncoder struct {
	buf  []byte
	keys [][]string // scratch for sorted map keys, one per nesting depth
}

const (
	tagEmpty byte = iota
	tagStr
	tagInt
	tagDouble
	tagBool
	tagMap
	tagSlice
	tagBytes
)

func (e *keyEncoder) reset() { e.buf = e.buf[:0] }

func (e *keyEncoder) uvarint(n uint64) { e.buf = binary.AppendUvarint(e.buf, n) }

func (e *keyEncoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// group encodes a resource and a scope with their schema URLs.
func (e *keyEncoder) group(rl plog.ResourceLogs, sl plog.ScopeLogs) {
	e.reset()
	e.str(rl.SchemaUrl())
	e.attrs(rl.Resource().Attributes(), 0)
	e.str(sl.SchemaUrl())
	sc := sl.Scope()
	e.str(sc.Name())
	e.str(sc.Version())
	e.attrs(sc.Attributes(), 0)
}

// record encodes a record's severity, body and attributes.
func (e *keyEncoder) record(lr plog.LogRecord) {
	e.reset()
	e.uvarint(uint64(lr.SeverityNumber()))
	e.str(lr.SeverityText())
	e.value(lr.Body(), 0)
	e.attrs(lr.Attributes(), 0)
}

func (e *keyEncoder) attrs(m pcommon.Map, depth int) {
	e.uvarint(uint64(m.Len()))
	if m.Len() == 0 {
		return
	}
	for len(e.keys) <= depth {
		e.keys = append(e.keys, nil)
	}
	keys := e.keys[depth][:0]
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys) // pdqsort: linear on the usual, already sorted, input
	e.keys[depth] = keys
	for _, k := range keys {
		v, _ := m.Get(k)
		e.str(k)
		e.value(v, depth+1)
	}
}

func (e *keyEncoder) value(v pcommon.Value, depth int) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		e.buf = append(e.buf, tagStr)
		e.str(v.Str())
	case pcommon.ValueTypeInt:
		e.buf = append(e.buf, tagInt)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		e.buf = append(e.buf, tagDouble)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		b := byte(0)
		if v.Bool() {
			b = 1
		}
		e.buf = append(e.buf, tagBool, b)
	case pcommon.ValueTypeMap:
		e.buf = append(e.buf, tagMap)
		e.attrs(v.Map(), depth)
	case pcommon.ValueTypeSlice:
		e.buf = append(e.buf, tagSlice)
		s := v.Slice()
		e.uvarint(uint64(s.Len()))
		for i := range s.Len() {
			e.value(s.At(i), depth+1)
		}
	case pcommon.ValueTypeBytes:
		e.buf = append(e.buf, tagBytes)
		e.str(string(v.Bytes().AsRaw()))
	default:
		e.buf = append(e.buf, tagEmpty)
	}
}

// exclude removes the excluded fields from a record. It reports nothing:
// a field that is absent, or whose parent is not a map, is left alone.
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
