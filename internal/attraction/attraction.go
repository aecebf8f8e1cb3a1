// Package attraction applies the attribute actions of the attributes and
// resource processors (insert, update, upsert, delete, hash, extract,
// convert) to a pcommon.Map. The configuration keys and their meaning follow
// the OpenTelemetry Collector contrib's internal/coreinternal/attraction,
// which its attributesprocessor and resourceprocessor share; what outpost
// leaves out is said on Action.
//
// Actions run in the order they are configured, each on the result of the
// ones before it.
package attraction

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Action names, as in the Collector (the configuration may use any case).
const (
	Insert  = "insert"
	Update  = "update"
	Upsert  = "upsert"
	Delete  = "delete"
	Hash    = "hash"
	Extract = "extract"
	Convert = "convert"
)

// Action is one entry of `actions` (attributes processor) or `attributes`
// (resource processor).
//
//   - insert: sets key to the value (value, or the value of from_attribute)
//     if key is absent.
//   - update: replaces the value of key if key is present.
//   - upsert: insert or update.
//   - delete: removes key, or every key that pattern matches (unanchored).
//   - hash: replaces the value of key (or of every key pattern matches) by
//     the lowercase hex SHA-256 of its bytes, as the Collector's sha2Hasher:
//     a string's UTF-8 bytes; an int or a double as 8 little-endian bytes
//     (a double's IEEE 754 bits); a bool as one byte 1 or 0. A map, slice,
//     bytes or empty value becomes the empty string.
//   - extract: matches pattern (a regular expression with named
//     subexpressions) against the string value of key; on a match each
//     named subexpression is upserted as an attribute of that name with the
//     submatch as a string value. No match, or a value that is not a
//     string, changes nothing.
//   - convert: converts the value of key to converted_type (int, double or
//     string); a string that does not parse is left unchanged. int from a
//     double truncates toward zero; bool converts to 1/0 and 1.0/0.0.
//
// Left out (the configuration rejects them): from_context (outpost's
// receivers do not pass client metadata down the pipeline).
type Action struct {
	Key string `yaml:"key"`
	// Value is the literal for insert, update and upsert: a string, number,
	// bool, list or mapping.
	Value any `yaml:"value"`
	// FromAttribute names another attribute of the same map whose value is
	// copied (insert, update, upsert); nothing happens when it is absent.
	FromAttribute string `yaml:"from_attribute"`
	// Pattern is a regular expression (Go RE2 syntax): the keys to act on
	// for delete and hash (instead of key), or the extraction rule of
	// extract.
	Pattern       string `yaml:"pattern"`
	Action        string `yaml:"action"`
	ConvertedType string `yaml:"converted_type"`
}

// Validate reports every problem of a list of actions; errors name the
// entry as `actions[i].field` (prefix is the list's key).
func Validate(prefix string, actions []Action) error {
	_, err := compile(prefix, actions)
	return err
}

// Actions is a compiled list of actions, safe for concurrent use.
type Actions struct {
	list []compiled
	// grow is the most attributes the actions can add to a map, reserved
	// at once so that the map is not copied as it grows.
	grow int
}

type compiled struct {
	action    string
	key       string
	from      string
	value     pcommon.Value
	hasValue  bool
	pattern   *regexp.Regexp
	groups    []string // extract: subexpression names (index = group)
	converted string
}

// Compile checks and compiles actions; prefix names the list in errors.
func Compile(prefix string, actions []Action) (*Actions, error) {
	return compile(prefix, actions)
}

func compile(prefix string, actions []Action) (*Actions, error) {
	var errs []error
	out := &Actions{}
	for i, a := range actions {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s.%s: %s", path, field, fmt.Sprintf(format, args...)))
		}
		c := compiled{action: strings.ToLower(a.Action), key: a.Key, from: a.FromAttribute, converted: a.ConvertedType}
		if a.Pattern != "" {
			re, err := regexp.Compile(a.Pattern)
			if err != nil {
				bad("pattern", "invalid regular expression: %v", err)
			}
			c.pattern = re
		}
		if a.Value != nil {
			v := pcommon.NewValueEmpty()
			if err := v.FromRaw(a.Value); err != nil {
				bad("value", "unsupported value %v (%T): use a string, number, bool, list or mapping", a.Value, a.Value)
			} else {
				c.value, c.hasValue = v, true
			}
		}
		switch c.action {
		case Insert, Update, Upsert:
			if a.Key == "" {
				bad("key", "required for action %q", c.action)
			}
			n := 0
			if a.Value != nil {
				n++
			}
			if a.FromAttribute != "" {
				n++
			}
			if n != 1 {
				bad("value", "action %q needs exactly one of value and from_attribute", c.action)
			}
			if a.Pattern != "" {
				bad("pattern", "not used by action %q", c.action)
			}
		case Delete, Hash:
			if (a.Key == "") == (a.Pattern == "") {
				bad("key", "action %q needs exactly one of key and pattern", c.action)
			}
			if a.Value != nil || a.FromAttribute != "" {
				bad("value", "not used by action %q", c.action)
			}
		case Extract:
			if a.Key == "" {
				bad("key", "required for action %q", c.action)
			}
			if a.Pattern == "" {
				bad("pattern", "required for action %q", c.action)
			} else if c.pattern != nil {
				c.groups = c.pattern.SubexpNames()
				named := 0
				for _, g := range c.groups {
					if g != "" {
						named++
					}
				}
				if named == 0 {
					bad("pattern", "needs at least one named subexpression such as (?P<name>...)")
				}
			}
			if a.Value != nil || a.FromAttribute != "" {
				bad("value", "not used by action %q", c.action)
			}
		case Convert:
			if a.Key == "" {
				bad("key", "required for action %q", c.action)
			}
			switch a.ConvertedType {
			case "int", "double", "string":
			default:
				bad("converted_type", "must be int, double or string (got %q)", a.ConvertedType)
			}
			if a.Value != nil || a.FromAttribute != "" || a.Pattern != "" {
				bad("value", "not used by action %q", c.action)
			}
		case "":
			bad("action", "required: one of insert, update, upsert, delete, hash, extract, convert")
		default:
			bad("action", "unknown action %q: want insert, update, upsert, delete, hash, extract or convert", a.Action)
		}
		if a.ConvertedType != "" && c.action != Convert {
			bad("converted_type", "only used by action %q", Convert)
		}
		switch c.action {
		case Insert, Upsert:
			out.grow++
		case Extract:
			out.grow += len(c.groups) - 1
		}
		out.list = append(out.list, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Apply runs the actions on attrs in order.
func (a *Actions) Apply(attrs pcommon.Map) {
	if a.grow > 0 {
		attrs.EnsureCapacity(attrs.Len() + a.grow)
	}
	for i := range a.list {
		c := &a.list[i]
		switch c.action {
		case Insert:
			if _, ok := attrs.Get(c.key); ok {
				continue
			}
			c.set(attrs)
		case Update:
			if _, ok := attrs.Get(c.key); !ok {
				continue
			}
			c.set(attrs)
		case Upsert:
			c.set(attrs)
		case Delete:
			if c.pattern == nil {
				attrs.Remove(c.key)
				continue
			}
			attrs.RemoveIf(func(k string, _ pcommon.Value) bool { return c.pattern.MatchString(k) })
		case Hash:
			if c.pattern == nil {
				if v, ok := attrs.Get(c.key); ok {
					HashValue(v)
				}
				continue
			}
			for k, v := range attrs.All() {
				if c.pattern.MatchString(k) {
					HashValue(v)
				}
			}
		case Extract:
			v, ok := attrs.Get(c.key)
			if !ok || v.Type() != pcommon.ValueTypeStr {
				continue
			}
			m := c.pattern.FindStringSubmatch(v.Str())
			if m == nil {
				continue
			}
			for g, name := range c.groups {
				if name != "" && g < len(m) {
					attrs.PutStr(name, m[g])
				}
			}
		case Convert:
			if v, ok := attrs.Get(c.key); ok {
				convert(v, c.converted)
			}
		}
	}
}

// set writes the action's value (literal or copied attribute) to key.
func (c *compiled) set(attrs pcommon.Map) {
	if c.hasValue {
		c.value.CopyTo(attrs.PutEmpty(c.key))
		return
	}
	if c.from == c.key {
		return
	}
	// With room for one more entry, PutEmpty does not move the source.
	attrs.EnsureCapacity(attrs.Len() + 1)
	src, ok := attrs.Get(c.from)
	if !ok {
		return
	}
	src.CopyTo(attrs.PutEmpty(c.key))
}

// HashValue replaces v by the hex SHA-256 of its bytes (see Action, hash).
func HashValue(v pcommon.Value) {
	var sum [sha256.Size]byte
	switch v.Type() {
	case pcommon.ValueTypeStr:
		sum = sha256.Sum256([]byte(v.Str()))
	case pcommon.ValueTypeBool:
		b := []byte{0}
		if v.Bool() {
			b[0] = 1
		}
		sum = sha256.Sum256(b)
	case pcommon.ValueTypeInt:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v.Int()))
		sum = sha256.Sum256(b[:])
	case pcommon.ValueTypeDouble:
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v.Double()))
		sum = sha256.Sum256(b[:])
	default:
		v.SetStr("")
		return
	}
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	v.SetStr(string(out[:]))
}

func convert(v pcommon.Value, to string) {
	switch to {
	case "int":
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if i, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64); err == nil {
				v.SetInt(i)
			}
		case pcommon.ValueTypeDouble:
			d := v.Double()
			if !math.IsNaN(d) && d >= math.MinInt64 && d < math.MaxInt64 {
				v.SetInt(int64(d))
			}
		case pcommon.ValueTypeBool:
			if v.Bool() {
				v.SetInt(1)
			} else {
				v.SetInt(0)
			}
		}
	case "double":
		switch v.Type() {
		case pcommon.ValueTypeStr:
			if d, err := strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err == nil {
				v.SetDouble(d)
			}
		case pcommon.ValueTypeInt:
			v.SetDouble(float64(v.Int()))
		case pcommon.ValueTypeBool:
			if v.Bool() {
				v.SetDouble(1)
			} else {
				v.SetDouble(0)
			}
		}
	case "string":
		if v.Type() != pcommon.ValueTypeStr {
			v.SetStr(v.AsString())
		}
	}
}
