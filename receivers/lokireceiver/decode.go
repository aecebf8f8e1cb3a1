package lokireceiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/cappedread"
)

// Attribute names of the mapping (see doc.go).
const (
	// AttrServiceName is where the service_name stream label goes: Loki
	// makes service_name from service.name, so the way back restores it.
	AttrServiceName = "service.name"
	// LabelServiceName is Loki's label for service.name.
	LabelServiceName = "service_name"
	// AttrTenant is the resource attribute holding the X-Scope-OrgID
	// header of the push, when the client sent one.
	AttrTenant = "loki.tenant"
)

// errTooLarge is a body that decodes to more than the cap.
var errTooLarge = cappedread.ErrTooLarge

// pushRequest is a decoded push in the shape both wire formats share.
type pushRequest struct {
	streams []stream
}

type stream struct {
	labels  []push.LabelAdapter // in the order sent
	entries []push.Entry
}

// decodeProto decodes a snappy-compressed protobuf push.PushRequest, the
// body of Loki's push API with Content-Type application/x-protobuf (or
// none). The decoded size must be at most limit bytes; grow is called
// with it before the body is decompressed (to charge memory_limit), and
// its error is returned as is. It never panics.
func decodeProto(body []byte, limit int64, grow func(int64) error) (pushRequest, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return pushRequest{}, fmt.Errorf("snappy: %w", err)
	}
	if int64(n) > limit {
		return pushRequest{}, errTooLarge
	}
	if err := grow(int64(n)); err != nil {
		return pushRequest{}, err
	}
	raw, err := snappy.Decode(make([]byte, n), body)
	if err != nil {
		return pushRequest{}, fmt.Errorf("snappy: %w", err)
	}
	var req push.PushRequest
	// The decoded strings alias raw, which is not reused.
	if err := req.Unmarshal(raw); err != nil {
		return pushRequest{}, fmt.Errorf("protobuf: %w", err)
	}
	out := pushRequest{streams: make([]stream, 0, len(req.Streams))}
	for i := range req.Streams {
		s := &req.Streams[i]
		ls, err := parseLabels(s.Labels)
		if err != nil {
			return pushRequest{}, fmt.Errorf("stream %d: labels %q: %w", i, truncate(s.Labels), err)
		}
		out.streams = append(out.streams, stream{labels: ls, entries: s.Entries})
	}
	return out, nil
}

// jsonPush is the v1 JSON body of /loki/api/v1/push:
//
//	{"streams":[{"stream":{"label":"value"},"values":[["<unix ns>","<line>",{"<metadata>":"<value>"}]]}]}
//
// and, for the legacy path /api/prom/push, Loki's older shape:
//
//	{"streams":[{"labels":"{label=\"value\"}","entries":[{"ts":"<RFC 3339>","line":"<line>"}]}]}
type jsonPush struct {
	Streams []struct {
		Stream  json.RawMessage     `json:"stream"`
		Values  [][]json.RawMessage `json:"values"`
		Labels  *string             `json:"labels"`
		Entries []struct {
			TS   time.Time `json:"ts"`
			Line string    `json:"line"`
		} `json:"entries"`
	} `json:"streams"`
}

// decodeJSON decodes a JSON push body, either shape. It never panics.
func decodeJSON(body []byte) (pushRequest, error) {
	var p jsonPush
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&p); err != nil {
		return pushRequest{}, fmt.Errorf("json: %w", err)
	}
	out := pushRequest{streams: make([]stream, 0, len(p.Streams))}
	for i, js := range p.Streams {
		var s stream
		var err error
		switch {
		case js.Labels != nil:
			if s.labels, err = parseLabels(*js.Labels); err != nil {
				return pushRequest{}, fmt.Errorf("stream %d: labels %q: %w", i, truncate(*js.Labels), err)
			}
			for _, e := range js.Entries {
				s.entries = append(s.entries, push.Entry{Timestamp: e.TS, Line: e.Line})
			}
		default:
			if s.labels, err = jsonLabels(js.Stream); err != nil {
				return pushRequest{}, fmt.Errorf("stream %d: stream: %w", i, err)
			}
			s.entries = make([]push.Entry, 0, len(js.Values))
			for j, v := range js.Values {
				e, err := jsonEntry(v)
				if err != nil {
					return pushRequest{}, fmt.Errorf("stream %d: value %d: %w", i, j, err)
				}
				s.entries = append(s.entries, e)
			}
		}
		out.streams = append(out.streams, s)
	}
	return out, nil
}

// jsonLabels reads a JSON object of string values in the order its keys
// come, checking the names as parseLabels does.
func jsonLabels(raw json.RawMessage) ([]push.LabelAdapter, error) {
	ls, err := jsonStringMap(raw)
	if err != nil {
		return nil, err
	}
	return ls, checkLabels(ls)
}

// jsonStringMap reads a JSON object whose values are strings, keys in the
// order they come; null or absent is empty.
func jsonStringMap(raw json.RawMessage) ([]push.LabelAdapter, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("want an object of string values")
	}
	var out []push.LabelAdapter
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return nil, err
		}
		var v string
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q: want a string value: %w", k, err)
		}
		out = append(out, push.LabelAdapter{Name: k.(string), Value: v})
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonEntry reads ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {metadata}].
func jsonEntry(v []json.RawMessage) (push.Entry, error) {
	if len(v) != 2 && len(v) != 3 {
		return push.Entry{}, fmt.Errorf("want [timestamp, line] or [timestamp, line, metadata], got %d elements", len(v))
	}
	var tsStr string
	if err := json.Unmarshal(v[0], &tsStr); err != nil {
		return push.Entry{}, fmt.Errorf("timestamp: want a string of Unix nanoseconds: %w", err)
	}
	ns, err := strconv.ParseInt(tsStr, 10, 64)
	if err != nil {
		return push.Entry{}, fmt.Errorf("timestamp %q: %w", truncate(tsStr), err)
	}
	e := push.Entry{Timestamp: time.Unix(0, ns)}
	if err := json.Unmarshal(v[1], &e.Line); err != nil {
		return push.Entry{}, fmt.Errorf("line: want a string: %w", err)
	}
	if len(v) == 3 {
		if e.StructuredMetadata, err = jsonStringMap(v[2]); err != nil {
			return push.Entry{}, fmt.Errorf("structured metadata: %w", err)
		}
	}
	return e, nil
}

// parseLabels parses a stream's label string as Loki writes it and
// Prometheus prints label sets: {name="value", ...}, values in Go string
// syntax (double-quoted with backslash escapes). Names are
// [a-zA-Z_][a-zA-Z0-9_]*; each comes once; at least one is required, as
// Loki requires.
func parseLabels(s string) ([]push.LabelAdapter, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, errors.New("want {name=\"value\", ...}")
	}
	rest := s[1 : len(s)-1]
	var out []push.LabelAdapter
	for {
		rest = strings.TrimLeft(rest, " \t\n")
		if rest == "" {
			break
		}
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return nil, fmt.Errorf("%q: want name=\"value\"", truncate(rest))
		}
		name := strings.TrimSpace(rest[:eq])
		rest = strings.TrimLeft(rest[eq+1:], " \t\n")
		end, err := quotedEnd(rest)
		if err != nil {
			return nil, fmt.Errorf("label %q: %w", truncate(name), err)
		}
		value, err := strconv.Unquote(rest[:end])
		if err != nil {
			return nil, fmt.Errorf("label %q: value %s: %w", truncate(name), truncate(rest[:end]), err)
		}
		out = append(out, push.LabelAdapter{Name: name, Value: value})
		rest = strings.TrimLeft(rest[end:], " \t\n")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("after label %q: want ',' or '}'", truncate(name))
		}
		rest = rest[1:]
	}
	return out, checkLabels(out)
}

// quotedEnd returns the length of the double-quoted string s starts with.
func quotedEnd(s string) (int, error) {
	if s == "" || s[0] != '"' {
		return 0, errors.New("want a double-quoted value")
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errors.New("unterminated value")
}

// checkLabels enforces what Loki enforces of a stream's labels: at least
// one, valid names, each once, valid UTF-8 values.
func checkLabels(ls []push.LabelAdapter) error {
	if len(ls) == 0 {
		return errors.New("a stream needs at least one label")
	}
	for i, l := range ls {
		if !validName(l.Name) {
			return fmt.Errorf("invalid label name %q", truncate(l.Name))
		}
		if !utf8.ValidString(l.Value) {
			return fmt.Errorf("label %q: value is not valid UTF-8", l.Name)
		}
		for _, p := range ls[:i] {
			if p.Name == l.Name {
				return fmt.Errorf("duplicate label name %q", l.Name)
			}
		}
	}
	return nil
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func truncate(s string) string {
	const most = 64
	if len(s) <= most {
		return s
	}
	return s[:most] + "…"
}

// toLogs maps a push to pdata (the mapping is in doc.go): one
// ResourceLogs per stream. now is the observed time of every record.
func toLogs(req pushRequest, tenant string, keepTimestamp bool, now time.Time) plog.Logs {
	ld := plog.NewLogs()
	rls := ld.ResourceLogs()
	rls.EnsureCapacity(len(req.streams))
	observed := pcommon.NewTimestampFromTime(now)
	for _, s := range req.streams {
		rl := rls.AppendEmpty()
		attrs := rl.Resource().Attributes()
		attrs.EnsureCapacity(len(s.labels) + 1)
		for _, l := range s.labels {
			name := l.Name
			if name == LabelServiceName {
				name = AttrServiceName
			}
			attrs.PutStr(name, l.Value)
		}
		if tenant != "" {
			attrs.PutStr(AttrTenant, tenant)
		}
		recs := rl.ScopeLogs().AppendEmpty().LogRecords()
		recs.EnsureCapacity(len(s.entries))
		for i := range s.entries {
			e := &s.entries[i]
			r := recs.AppendEmpty()
			if keepTimestamp {
				r.SetTimestamp(pcommon.NewTimestampFromTime(e.Timestamp))
			}
			r.SetObservedTimestamp(observed)
			r.Body().SetStr(e.Line)
			if len(e.StructuredMetadata) > 0 {
				ra := r.Attributes()
				ra.EnsureCapacity(len(e.StructuredMetadata))
				for _, m := range e.StructuredMetadata {
					ra.PutStr(m.Name, m.Value)
				}
			}
		}
	}
	return ld
}

// entries counts the entries of a push.
func (p pushRequest) entries() int {
	n := 0
	for _, s := range p.streams {
		n += len(s.entries)
	}
	return n
}
