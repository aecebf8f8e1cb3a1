package lokiexporter

import (
	"encoding/base64"
	"math"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// sanitizeName makes s a Loki label name, [a-zA-Z_][a-zA-Z0-9_]*: every
// other byte (dots, dashes, slashes, each byte of a multi-byte rune)
// becomes an underscore, and a leading digit gets an underscore in front.
// It returns s itself, without allocating, when s is already valid; "" for
// "".
func sanitizeName(s string) string {
	if s == "" || validName(s) {
		return s
	}
	b := make([]byte, 0, len(s)+1)
	if isDigit(s[0]) {
		b = append(b, '_')
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; isNameByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// validName reports whether s is a Loki label name, [a-zA-Z_][a-zA-Z0-9_]*.
func validName(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_'
}

// appendValue writes an attribute value as a label or structured
// metadata value: strings as they are, integers in decimal, doubles as
// appendFloat does, booleans as true/false, bytes in base64 (pdata's
// AsString), maps and slices as JSON with keys in their order, an empty
// value as nothing.
func appendValue(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return append(buf, v.Str()...)
	case pcommon.ValueTypeMap, pcommon.ValueTypeSlice:
		return appendJSON(buf, v)
	case pcommon.ValueTypeDouble:
		return appendFloat(buf, v.Double())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(buf, v.Int(), 10)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(buf, v.Bool())
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.AppendEncode(buf, v.Bytes().AsRaw())
	}
	return buf
}

// appendFloat writes f as pdata's AsString does, and NaN and infinities
// as NaN, +Inf and -Inf.
func appendFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "+Inf"...)
	case math.IsInf(f, -1):
		return append(buf, "-Inf"...)
	}
	return strconv.AppendFloat(buf, f, 'f', -1, 64)
}

// appendJSON writes v as JSON. Map keys keep their order (the order the
// application sent them in); bytes are base64 strings; NaN and infinities,
// which JSON lacks, are the strings "NaN", "+Inf" and "-Inf"; invalid
// UTF-8 becomes U+FFFD.
func appendJSON(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return appendJSONString(buf, v.Str())
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(buf, v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			buf = append(buf, '"')
			buf = appendFloat(buf, f)
			return append(buf, '"')
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(buf, v.Bool())
	case pcommon.ValueTypeBytes:
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, v.Bytes().AsRaw())
		return append(buf, '"')
	case pcommon.ValueTypeMap:
		buf = append(buf, '{')
		first := true
		for k, e := range v.Map().All() {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendJSONString(buf, k)
			buf = append(buf, ':')
			buf = appendJSON(buf, e)
		}
		return append(buf, '}')
	case pcommon.ValueTypeSlice:
		buf = append(buf, '[')
		for i, e := range v.Slice().All() {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSON(buf, e)
		}
		return append(buf, ']')
	}
	return append(buf, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s as a JSON string. The escapes it uses (\" \\
// \n \r \t \u00XX) are also understood by logfmt parsers, Loki's
// included.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// appendLogfmt writes a map body as logfmt: key=value pairs in the map's
// order, separated by spaces. Keys lose the bytes logfmt does not allow
// in them (space, =, ", control characters: each becomes _); an empty key
// is _. A value is quoted (with JSON's escapes) when it is empty or holds
// a space, =, ", \ or a control character; maps and slices are their JSON.
func appendLogfmt(buf []byte, m pcommon.Map, scratch []byte) ([]byte, []byte) {
	first := true
	for k, v := range m.All() {
		if !first {
			buf = append(buf, ' ')
		}
		first = false
		if k == "" {
			buf = append(buf, '_')
		}
		for i := 0; i < len(k); i++ {
			c := k[i]
			if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
				c = '_'
			}
			buf = append(buf, c)
		}
		buf = append(buf, '=')
		if v.Type() == pcommon.ValueTypeStr {
			buf = appendLogfmtValue(buf, v.Str())
			continue
		}
		scratch = appendValue(scratch[:0], v)
		buf = appendLogfmtValue(buf, scratch)
	}
	return buf, scratch
}

func appendLogfmtValue[S string | []byte](buf []byte, s S) []byte {
	if needsQuote(string(s)) {
		return appendJSONString(buf, string(s))
	}
	return append(buf, s...)
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f {
			return true
		}
	}
	return !utf8.ValidString(s)
}
