package journaldreceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Journal fields the mapping treats apart (see doc.go).
const (
	fieldMessage  = "MESSAGE"
	fieldPriority = "PRIORITY"
	fieldRealtime = "__REALTIME_TIMESTAMP"
	fieldCursor   = "__CURSOR"
)

// severities maps PRIORITY 0-7 (syslog levels) to OpenTelemetry severity,
// as the OpenTelemetry Collector's journald receiver does.
var severities = [8]struct {
	number plog.SeverityNumber
	text   string
}{
	{plog.SeverityNumberFatal, "emerg"},
	{plog.SeverityNumberError3, "alert"},
	{plog.SeverityNumberError2, "crit"},
	{plog.SeverityNumberError, "err"},
	{plog.SeverityNumberWarn, "warning"},
	{plog.SeverityNumberInfo2, "notice"},
	{plog.SeverityNumberInfo, "info"},
	{plog.SeverityNumberDebug, "debug"},
}

// decodeEntry decodes one line of `journalctl --output=json` into lr and
// returns the entry's cursor. A field's value is, as journalctl writes it:
// a string; an array of numbers 0-255 (a field that is not valid UTF-8 or
// holds control characters: bytes); an array of those (a field that
// repeats: a slice); or null (a field journalctl left out, skipped). The
// mapping is in doc.go. An entry without __CURSOR is an error: it could
// never be resumed after. It never panics.
func decodeEntry(line []byte, lr plog.LogRecord) (cursor string, err error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "", errors.New("want a JSON object")
	}
	attrs := lr.Attributes()
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return "", err
		}
		name := t.(string)
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return "", fmt.Errorf("field %q: %w", name, err)
		}
		v, ok, err := fieldValue(raw)
		if err != nil {
			return "", fmt.Errorf("field %q: %w", name, err)
		}
		if !ok {
			continue
		}
		switch name {
		case fieldMessage:
			setBody(lr.Body(), v)
			continue
		case fieldPriority:
			if s, isStr := v.(string); isStr {
				if p, err := strconv.Atoi(s); err == nil && p >= 0 && p < len(severities) {
					lr.SetSeverityNumber(severities[p].number)
					lr.SetSeverityText(severities[p].text)
					continue
				}
			}
		case fieldRealtime:
			if s, isStr := v.(string); isStr {
				if us, err := strconv.ParseInt(s, 10, 64); err == nil && us >= 0 && us < 1<<63/1000 {
					lr.SetTimestamp(pcommon.Timestamp(us * 1000))
					continue
				}
			}
		case fieldCursor:
			if s, isStr := v.(string); isStr {
				cursor = s
			}
		}
		putAttr(attrs, name, v)
	}
	if _, err := d.Token(); err != nil {
		return "", err
	}
	if d.More() {
		return "", errors.New("data after the entry")
	}
	if cursor == "" {
		return "", errors.New("no __CURSOR")
	}
	return cursor, nil
}

// fieldValue is a field's value: string, []byte, []any of those; ok is
// false for null.
func fieldValue(raw json.RawMessage) (v any, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, false, errors.New("empty value")
	case string(raw) == "null":
		return nil, false, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, err
		}
		return s, true, nil
	case raw[0] == '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, false, err
		}
		if len(elems) == 0 {
			return []byte{}, true, nil
		}
		if e := bytes.TrimSpace(elems[0]); len(e) > 0 && (e[0] >= '0' && e[0] <= '9') {
			return byteArray(raw)
		}
		out := make([]any, 0, len(elems))
		for _, e := range elems {
			v, ok, err := fieldValue(e)
			if err != nil {
				return nil, false, err
			}
			if _, nested := v.([]any); nested {
				return nil, false, errors.New("nested arrays")
			}
			if ok {
				out = append(out, v)
			}
		}
		return out, true, nil
	}
	return nil, false, fmt.Errorf("unexpected value %.32q", raw)
}

func byteArray(raw json.RawMessage) (any, bool, error) {
	var nums []uint8
	if err := json.Unmarshal(raw, &nums); err != nil {
		return nil, false, fmt.Errorf("bytes: %w", err)
	}
	return []byte(nums), true, nil
}

// setBody puts MESSAGE in the body: a string as is, bytes as a string
// when they are valid UTF-8 (journald stores a message with control
// characters, such as a trailing newline or colour codes, as bytes), else
// as bytes; a repeated MESSAGE as a slice.
func setBody(body pcommon.Value, v any) {
	switch x := v.(type) {
	case string:
		body.SetStr(x)
	case []byte:
		if utf8.Valid(x) {
			body.SetStr(string(x))
		} else {
			body.SetEmptyBytes().FromRaw(x)
		}
	case []any:
		s := body.SetEmptySlice()
		for _, e := range x {
			setBody(s.AppendEmpty(), e)
		}
	}
}

func putAttr(attrs pcommon.Map, name string, v any) {
	switch x := v.(type) {
	case string:
		attrs.PutStr(name, x)
	case []byte:
		attrs.PutEmptyBytes(name).FromRaw(x)
	case []any:
		s := attrs.PutEmptySlice(name)
		s.EnsureCapacity(len(x))
		for _, e := range x {
			switch y := e.(type) {
			case string:
				s.AppendEmpty().SetStr(y)
			case []byte:
				s.AppendEmpty().SetEmptyBytes().FromRaw(y)
			}
		}
	}
}
