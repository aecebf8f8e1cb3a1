package attrkey

import (
	"bytes"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func enc(m pcommon.Map) []byte {
	var e Encoder
	e.Map(m)
	return bytes.Clone(e.Buf)
}

func TestEqualExactlyWhenSame(t *testing.T) {
	build := func(f func(m pcommon.Map)) []byte {
		m := pcommon.NewMap()
		f(m)
		return enc(m)
	}
	base := build(func(m pcommon.Map) {
		m.PutStr("a", "1")
		m.PutInt("b", 2)
		m.PutEmptyMap("c").PutStr("x", "y")
	})
	reordered := build(func(m pcommon.Map) {
		m.PutEmptyMap("c").PutStr("x", "y")
		m.PutInt("b", 2)
		m.PutStr("a", "1")
	})
	if !bytes.Equal(base, reordered) {
		t.Error("order of keys changes the encoding")
	}
	for name, other := range map[string][]byte{
		"int as string": build(func(m pcommon.Map) {
			m.PutStr("a", "1")
			m.PutStr("b", "2")
			m.PutEmptyMap("c").PutStr("x", "y")
		}),
		"nested value": build(func(m pcommon.Map) {
			m.PutStr("a", "1")
			m.PutInt("b", 2)
			m.PutEmptyMap("c").PutStr("x", "z")
		}),
		"key moved into value": build(func(m pcommon.Map) {
			m.PutStr("a", "1b")
			m.PutInt("", 2)
			m.PutEmptyMap("c").PutStr("x", "y")
		}),
		"missing key": build(func(m pcommon.Map) {
			m.PutStr("a", "1")
			m.PutInt("b", 2)
		}),
		"bytes vs string": build(func(m pcommon.Map) {
			m.PutEmptyBytes("a").FromRaw([]byte("1"))
			m.PutInt("b", 2)
			m.PutEmptyMap("c").PutStr("x", "y")
		}),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("%s: same encoding as the base", name)
		}
	}
}

func FuzzDistinctMaps(f *testing.F) {
	f.Add("a", "b", "ab", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m1, m2 := pcommon.NewMap(), pcommon.NewMap()
		m1.PutStr(k1, v1)
		m2.PutStr(k2, v2)
		if same := k1 == k2 && v1 == v2; same != bytes.Equal(enc(m1), enc(m2)) {
			t.Errorf("{%q:%q} vs {%q:%q}: equal encodings %v, want %v", k1, v1, k2, v2, !same, same)
		}
	})
}
