package filelogreceiver

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	jsoniter "github.com/json-iterator/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Values of the reason label of outpost_receiver_filelog_altered_lines_total
// that parsing yields. The record is sent all the same, with its original
// body and whatever could be parsed.
const (
	reasonParse     = "parse_error"
	reasonTimestamp = "timestamp_error"
	reasonSeverity  = "severity_error"
)

// parser turns a record's body into attributes, timestamp and severity.
// It is used by one goroutine at a time.
type parser struct {
	kind     string
	re       *regexp.Regexp
	names    []string // capture group names of re; "" for unnamed
	bodyFrom string
	ts       *timeParser
	sev      *severityParser
}

func newParser(c *ParserConfig) (*parser, error) {
	p := &parser{kind: c.Type, bodyFrom: c.BodyFrom}
	var errs []error
	switch c.Type {
	case ParserJSON, ParserLogfmt:
		if c.Regex != "" {
			errs = append(errs, fmt.Errorf("regex: only with type regex"))
		}
	case ParserRegex:
		re, err := regexp.Compile(c.Regex)
		switch {
		case c.Regex == "":
			errs = append(errs, errors.New("regex: required with type regex"))
		case err != nil:
			errs = append(errs, fmt.Errorf("regex: %w", err))
		default:
			p.re = re
			p.names = re.SubexpNames()
			named := false
			for _, n := range p.names {
				named = named || n != ""
			}
			if !named {
				errs = append(errs, errors.New("regex: has no named group (?P<name>...)"))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("type: must be json, regex or logfmt (got %q)", c.Type))
	}
	if c.Timestamp != nil {
		ts, err := newTimeParser(c.Timestamp)
		if err != nil {
			errs = append(errs, fmt.Errorf("timestamp: %w", err))
		}
		p.ts = ts
	}
	if c.Severity != nil {
		sev, err := newSeverityParser(c.Severity)
		if err != nil {
			errs = append(errs, fmt.Errorf("severity: %w", err))
		}
		p.sev = sev
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// parse fills rec's attributes (appending to those already there), and,
// as configured, its body, timestamp and severity from line. It returns
// the reason of the first failure, or "" when everything parsed.
func (p *parser) parse(line string, rec plog.LogRecord) string {
	attrs := rec.Attributes()
	var err error
	switch p.kind {
	case ParserJSON:
		err = parseJSON(line, attrs)
	case ParserRegex:
		err = p.parseRegex(line, attrs)
	case ParserLogfmt:
		err = parseLogfmt(line, attrs)
	}
	if err != nil {
		return reasonParse
	}
	failure := ""
	if p.ts != nil {
		if v, ok := attrs.Get(p.ts.from); !ok {
			failure = reasonTimestamp
		} else if t, err := p.ts.parse(v); err != nil {
			failure = reasonTimestamp
		} else {
			rec.SetTimestamp(pcommon.NewTimestampFromTime(t))
		}
	}
	if p.sev != nil {
		if v, ok := attrs.Get(p.sev.from); !ok {
			failure = cmpOr(failure, reasonSeverity)
		} else {
			text := v.AsString()
			n, ok := p.sev.number(text)
			if !ok {
				failure = cmpOr(failure, reasonSeverity)
			}
			rec.SetSeverityText(text)
			rec.SetSeverityNumber(n)
		}
	}
	if p.bodyFrom != "" {
		if v, ok := attrs.Get(p.bodyFrom); ok {
			v.CopyTo(rec.Body())
			attrs.Remove(p.bodyFrom)
		}
	}
	return failure
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *parser) parseRegex(line string, attrs pcommon.Map) error {
	m := p.re.FindStringSubmatchIndex(line)
	if m == nil {
		return errors.New("regex does not match")
	}
	for i, name := range p.names {
		if name == "" || m[2*i] < 0 {
			continue
		}
		attrs.PutStr(name, line[m[2*i]:m[2*i+1]])
	}
	return nil
}

// jsonAPI reads JSON with json-iterator (already linked by Prometheus'
// libraries), straight into pdata without an intermediate map.
var jsonAPI = jsoniter.ConfigCompatibleWithStandardLibrary

// parseJSON puts the members of a JSON object into attrs: strings, bools,
// integers (as int when they fit int64), other numbers as doubles, arrays
// as slices, objects as maps, null as an empty value. A later duplicate
// key replaces an earlier one.
func parseJSON(line string, attrs pcommon.Map) error {
	it := jsonAPI.BorrowIterator([]byte(line))
	defer jsonAPI.ReturnIterator(it)
	if it.WhatIsNext() != jsoniter.ObjectValue {
		return errors.New("not a JSON object")
	}
	it.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
		readJSONValue(it, attrs.PutEmpty(key))
		return it.Error == nil
	})
	if it.Error != nil {
		return it.Error
	}
	if it.WhatIsNext() != jsoniter.InvalidValue || it.Error != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

func readJSONValue(it *jsoniter.Iterator, dst pcommon.Value) {
	switch it.WhatIsNext() {
	case jsoniter.StringValue:
		dst.SetStr(it.ReadString())
	case jsoniter.NumberValue:
		n := it.ReadNumber()
		if i, err := n.Int64(); err == nil {
			dst.SetInt(i)
		} else if f, err := n.Float64(); err == nil {
			dst.SetDouble(f)
		} else {
			dst.SetStr(n.String())
		}
	case jsoniter.BoolValue:
		dst.SetBool(it.ReadBool())
	case jsoniter.NilValue:
		it.ReadNil()
	case jsoniter.ArrayValue:
		s := dst.SetEmptySlice()
		it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
			readJSONValue(it, s.AppendEmpty())
			return it.Error == nil
		})
	case jsoniter.ObjectValue:
		m := dst.SetEmptyMap()
		it.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
			readJSONValue(it, m.PutEmpty(key))
			return it.Error == nil
		})
	default:
		it.ReportError("parse JSON", "invalid value")
	}
}

// parseLogfmt puts the key=value pairs of a logfmt line into attrs: pairs
// are separated by spaces; a value may be double-quoted with Go string
// escapes; a key without `=` gets the value "true" (as go-logfmt).
func parseLogfmt(line string, attrs pcommon.Map) error {
	s := line
	n := 0
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		end := strings.IndexAny(s, "= \t")
		if end < 0 {
			end = len(s)
		}
		key := s[:end]
		if key == "" || strings.ContainsRune(key, '"') {
			return fmt.Errorf("logfmt: invalid key at %q", s)
		}
		s = s[end:]
		if s == "" || s[0] != '=' {
			attrs.PutStr(key, "true")
			n++
			continue
		}
		s = s[1:]
		if s != "" && s[0] == '"' {
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '"' {
					break
				}
			}
			if i >= len(s) {
				return errors.New("logfmt: unterminated quoted value")
			}
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return fmt.Errorf("logfmt: %w", err)
			}
			attrs.PutStr(key, v)
			s = s[i+1:]
			if s != "" && s[0] != ' ' && s[0] != '\t' {
				return errors.New("logfmt: text after a quoted value")
			}
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			v := s[:end]
			if strings.ContainsAny(v, "\"=") {
				return fmt.Errorf("logfmt: invalid value %q", v)
			}
			attrs.PutStr(key, v)
			s = s[end:]
		}
		n++
	}
	if n == 0 {
		return errors.New("logfmt: no pairs")
	}
	return nil
}

// timeParser parses a field into a time.
type timeParser struct {
	from   string
	layout string // Go layout, or the epoch unit
	epoch  bool
	loc    *time.Location
}

func newTimeParser(c *TimestampConfig) (*timeParser, error) {
	p := &timeParser{from: c.ParseFrom, loc: time.UTC}
	var errs []error
	if c.ParseFrom == "" {
		errs = append(errs, errors.New("parse_from: required"))
	}
	if c.Location != "" {
		loc, err := time.LoadLocation(c.Location)
		if err != nil {
			errs = append(errs, fmt.Errorf("location: %w", err))
		}
		p.loc = loc
	}
	if c.Layout == "" {
		errs = append(errs, errors.New("layout: required"))
	}
	switch c.LayoutType {
	case "", LayoutStrptime:
		l, err := strptimeToGo(c.Layout)
		if err != nil {
			errs = append(errs, fmt.Errorf("layout: %w", err))
		}
		p.layout = l
	case LayoutGotime:
		p.layout = c.Layout
	case LayoutEpoch:
		p.epoch = true
		p.layout = c.Layout
		switch c.Layout {
		case "s", "ms", "us", "ns", "s.ms", "s.us", "s.ns":
		default:
			errs = append(errs, fmt.Errorf("layout: epoch layout must be s, ms, us, ns, s.ms, s.us or s.ns (got %q)", c.Layout))
		}
	default:
		errs = append(errs, fmt.Errorf("layout_type: must be strptime, gotime or epoch (got %q)", c.LayoutType))
	}
	return p, errors.Join(errs...)
}

func (p *timeParser) parse(v pcommon.Value) (time.Time, error) {
	if p.epoch {
		return parseEpoch(v, p.layout)
	}
	if v.Type() != pcommon.ValueTypeStr {
		return time.Time{}, fmt.Errorf("time field is a %s, not a string", v.Type())
	}
	return time.ParseInLocation(p.layout, v.Str(), p.loc)
}

func parseEpoch(v pcommon.Value, unit string) (time.Time, error) {
	var s string
	switch v.Type() {
	case pcommon.ValueTypeInt:
		s = strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeDouble:
		s = strconv.FormatFloat(v.Double(), 'f', -1, 64)
	case pcommon.ValueTypeStr:
		s = v.Str()
	default:
		return time.Time{}, fmt.Errorf("epoch field is a %s", v.Type())
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("epoch %q: %w", s, err)
	}
	switch unit {
	case "s", "s.ms", "s.us", "s.ns":
		var ns int64
		if hasFrac {
			if len(frac) == 0 || len(frac) > 9 {
				return time.Time{}, fmt.Errorf("epoch %q: bad fraction", s)
			}
			f, err := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("epoch %q: %w", s, err)
			}
			ns = f
		}
		return time.Unix(sec, ns).UTC(), nil
	case "ms":
		return time.UnixMilli(sec).UTC(), nil
	case "us":
		return time.UnixMicro(sec).UTC(), nil
	default:
		return time.Unix(0, sec).UTC(), nil
	}
}

// strptimeDirectives maps strptime directives to Go layout elements.
var strptimeDirectives = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'e': "_2", 'H': "15", 'I': "03",
	'M': "04", 'S': "05", 'f': "000000", 'L': "000", 'N': "000000000",
	'z': "-0700", 'Z': "MST", 'b': "Jan", 'h': "Jan", 'B': "January",
	'a': "Mon", 'A': "Monday", 'p': "PM", 'j': "002",
	'D': "01/02/06", 'T': "15:04:05", 'F': "2006-01-02", '%': "%",
}

// strptimeToGo converts a strptime layout to a Go one. %f, %L and %N are
// fractions (6, 3, 9 digits) and need a '.' or ',' before them, as in
// %S.%f. Other text is literal.
func strptimeToGo(layout string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(layout); i++ {
		c := layout[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(layout) {
			return "", errors.New("strptime layout ends with %")
		}
		i++
		d, ok := strptimeDirectives[layout[i]]
		if !ok {
			return "", fmt.Errorf("strptime directive %%%c is not supported", layout[i])
		}
		b.WriteString(d)
	}
	return b.String(), nil
}

// severityParser maps level texts to OpenTelemetry severity numbers.
type severityParser struct {
	from    string
	mapping map[string]plog.SeverityNumber // lower-case text → number
}

var severityNames = map[string]plog.SeverityNumber{
	"trace": plog.SeverityNumberTrace, "trace2": plog.SeverityNumberTrace2, "trace3": plog.SeverityNumberTrace3, "trace4": plog.SeverityNumberTrace4,
	"debug": plog.SeverityNumberDebug, "debug2": plog.SeverityNumberDebug2, "debug3": plog.SeverityNumberDebug3, "debug4": plog.SeverityNumberDebug4,
	"info": plog.SeverityNumberInfo, "info2": plog.SeverityNumberInfo2, "info3": plog.SeverityNumberInfo3, "info4": plog.SeverityNumberInfo4,
	"warn": plog.SeverityNumberWarn, "warn2": plog.SeverityNumberWarn2, "warn3": plog.SeverityNumberWarn3, "warn4": plog.SeverityNumberWarn4,
	"error": plog.SeverityNumberError, "error2": plog.SeverityNumberError2, "error3": plog.SeverityNumberError3, "error4": plog.SeverityNumberError4,
	"fatal": plog.SeverityNumberFatal, "fatal2": plog.SeverityNumberFatal2, "fatal3": plog.SeverityNumberFatal3, "fatal4": plog.SeverityNumberFatal4,
}

// defaultSeverities are the level words of common loggers and syslog.
var defaultSeverities = map[string]plog.SeverityNumber{
	"trace": plog.SeverityNumberTrace, "debug": plog.SeverityNumberDebug, "dbg": plog.SeverityNumberDebug,
	"info": plog.SeverityNumberInfo, "information": plog.SeverityNumberInfo, "informational": plog.SeverityNumberInfo,
	"notice": plog.SeverityNumberInfo2,
	"warn":   plog.SeverityNumberWarn, "warning": plog.SeverityNumberWarn,
	"error": plog.SeverityNumberError, "err": plog.SeverityNumberError,
	"critical": plog.SeverityNumberFatal, "crit": plog.SeverityNumberFatal, "fatal": plog.SeverityNumberFatal,
	"alert": plog.SeverityNumberFatal2, "emerg": plog.SeverityNumberFatal3, "emergency": plog.SeverityNumberFatal3,
	"panic": plog.SeverityNumberFatal4,
}

func newSeverityParser(c *SeverityConfig) (*severityParser, error) {
	p := &severityParser{from: c.ParseFrom, mapping: map[string]plog.SeverityNumber{}}
	var errs []error
	if c.ParseFrom == "" {
		errs = append(errs, errors.New("parse_from: required"))
	}
	for text, name := range c.Mapping {
		n, ok := severityNames[strings.ToLower(name)]
		if !ok {
			errs = append(errs, fmt.Errorf("mapping.%s: %q is not an OpenTelemetry severity (trace, debug, info, warn, error, fatal, optionally with 2..4)", text, name))
			continue
		}
		p.mapping[strings.ToLower(text)] = n
	}
	return p, errors.Join(errs...)
}

// number maps text; ok is false (and the number unspecified) when it is
// not known.
func (p *severityParser) number(text string) (plog.SeverityNumber, bool) {
	key := strings.ToLower(strings.TrimSpace(text))
	if n, ok := p.mapping[key]; ok {
		return n, true
	}
	if n, ok := defaultSeverities[key]; ok {
		return n, true
	}
	if i, err := strconv.Atoi(key); err == nil && i >= 1 && i <= 24 {
		return plog.SeverityNumber(i), true
	}
	return plog.SeverityNumberUnspecified, false
}
