// Package attrkey writes the canonical encoding of pdata attributes and
// values, for processors that compare or hash records and series (dedup
// keys, series identity).
//
// Two attribute maps have equal encodings exactly when they hold the same
// keys with equal values: every value is tagged with its type (the string
// "1" and the int 1 differ), every string and list is prefixed with its
// length, and map keys are sorted, so that the order of attributes does
// not matter. Doubles compare by their bits (0 and -0 differ, a NaN equals
// the same NaN). The encoding is for comparison in memory only: it is not
// stable across versions and is never stored.
package attrkey

import (
	"encoding/binary"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Encoder appends canonical encodings to Buf. It reuses its scratch
// space; the zero value is ready to use; not safe for concurrent use.
type Encoder struct {
	Buf  []byte
	keys [][]string // sorted map keys, one slice per nesting depth
}

// Value type tags.
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

// Reset empties Buf.
func (e *Encoder) Reset() { e.Buf = e.Buf[:0] }

// Uvarint appends n.
func (e *Encoder) Uvarint(n uint64) { e.Buf = binary.AppendUvarint(e.Buf, n) }

// Str appends a length-prefixed string.
func (e *Encoder) Str(s string) {
	e.Uvarint(uint64(len(s)))
	e.Buf = append(e.Buf, s...)
}

// Map appends a map: its length, then its entries in key order.
func (e *Encoder) Map(m pcommon.Map) { e.attrs(m, 0) }

// Value appends a tagged value.
func (e *Encoder) Value(v pcommon.Value) { e.value(v, 0) }

func (e *Encoder) attrs(m pcommon.Map, depth int) {
	e.Uvarint(uint64(m.Len()))
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
		e.Str(k)
		e.value(v, depth+1)
	}
}

func (e *Encoder) value(v pcommon.Value, depth int) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		e.Buf = append(e.Buf, tagStr)
		e.Str(v.Str())
	case pcommon.ValueTypeInt:
		e.Buf = append(e.Buf, tagInt)
		e.Buf = binary.LittleEndian.AppendUint64(e.Buf, uint64(v.Int()))
	case pcommon.ValueTypeDouble:
		e.Buf = append(e.Buf, tagDouble)
		e.Buf = binary.LittleEndian.AppendUint64(e.Buf, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		b := byte(0)
		if v.Bool() {
			b = 1
		}
		e.Buf = append(e.Buf, tagBool, b)
	case pcommon.ValueTypeMap:
		e.Buf = append(e.Buf, tagMap)
		e.attrs(v.Map(), depth)
	case pcommon.ValueTypeSlice:
		e.Buf = append(e.Buf, tagSlice)
		s := v.Slice()
		e.Uvarint(uint64(s.Len()))
		for i := range s.Len() {
			e.value(s.At(i), depth+1)
		}
	case pcommon.ValueTypeBytes:
		e.Buf = append(e.Buf, tagBytes)
		b := v.Bytes()
		e.Uvarint(uint64(b.Len()))
		for i := range b.Len() {
			e.Buf = append(e.Buf, b.At(i))
		}
	default:
		e.Buf = append(e.Buf, tagEmpty)
	}
}
