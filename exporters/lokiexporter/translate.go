package lokiexporter

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Structured metadata names the translation sets itself (the names Loki's
// own OTLP endpoint uses).
const (
	metaTraceID        = "trace_id"
	metaSpanID         = "span_id"
	metaSeverityText   = "severity_text"
	metaSeverityNumber = "severity_number"
	metaFlags          = "flags"
	metaScopeName      = "scope_name"
	metaScopeVersion   = "scope_version"
)

// levelNames are the level labels of the six SeverityNumber ranges (1-4
// trace, 5-8 debug, ...), Loki's own level names.
var levelNames = [6]string{"trace", "debug", "info", "warn", "error", "fatal"}

// translator turns plog.Logs into a push.PushRequest. It is immutable after
// newTranslator and safe for concurrent use; each call keeps its scratch
// space in a translation.
type translator struct {
	rules        []labelRule // sorted by name
	resourceMeta bool        // resource attributes not used as labels go to metadata
	logfmt       bool        // map bodies as logfmt, not JSON
	// resourceKeys and attributeKeys are the attribute keys that labels
	// use; they are not repeated in structured metadata.
	resourceKeys  map[string]bool
	attributeKeys map[string]bool
}

func newTranslator(cfg *Config) (*translator, error) {
	rules, err := compileLabels(cfg.Labels)
	if err != nil {
		return nil, err
	}
	t := &translator{
		rules:         rules,
		resourceMeta:  cfg.ResourceAttributes != ResourceDrop,
		logfmt:        cfg.BodyFormat == BodyLogfmt,
		resourceKeys:  map[string]bool{},
		attributeKeys: map[string]bool{},
	}
	for _, r := range rules {
		switch r.source {
		case fromResource:
			t.resourceKeys[r.key] = true
		case fromAttribute:
			t.attributeKeys[r.key] = true
		}
	}
	return t, nil
}

// translation is the state of one translate call.
type translation struct {
	t       *translator
	streams map[string]*push.Stream
	values  []string // label values of the record at hand, by rule
	resVals []string // label values the resource decides, by rule
	key     []byte   // stream label string being built
	buf     []byte   // scratch for value strings
	line    []byte   // scratch for lines
	// meta is a slab that entries' structured metadata are cut from: one
	// allocation per batch rather than one per entry. A full slab is
	// replaced, not grown in place, so the entries cut from it stay valid.
	meta     []push.LabelAdapter
	resMeta  []push.LabelAdapter
	scpMeta  []push.LabelAdapter
	seen     map[string]struct{}
	now      time.Time
	capacity int
}

// translate maps ld to one PushRequest: one stream per distinct label set,
// streams sorted by their label string, entries sorted by timestamp within
// each stream (records with equal timestamps keep their order). now is the
// timestamp of records with neither a time nor an observed time.
func (t *translator) translate(ld plog.Logs, now time.Time) push.PushRequest {
	n := ld.LogRecordCount()
	tr := &translation{
		t:        t,
		streams:  map[string]*push.Stream{},
		values:   make([]string, len(t.rules)),
		resVals:  make([]string, len(t.rules)),
		now:      now,
		capacity: n,
	}
	tr.meta = make([]push.LabelAdapter, 0, min(8*n, 1<<16))
	for _, rl := range ld.ResourceLogs().All() {
		tr.resource(rl)
	}
	req := push.PushRequest{Streams: make([]push.Stream, 0, len(tr.streams))}
	for _, s := range tr.streams {
		// Applications mostly log in time order: check before sorting.
		byTime := func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) }
		if !slices.IsSortedFunc(s.Entries, byTime) {
			slices.SortStableFunc(s.Entries, byTime)
		}
		req.Streams = append(req.Streams, *s)
	}
	slices.SortFunc(req.Streams, func(a, b push.Stream) int { return strings.Compare(a.Labels, b.Labels) })
	return req
}

func (tr *translation) resource(rl plog.ResourceLogs) {
	t := tr.t
	attrs := rl.Resource().Attributes()
	for i, r := range t.rules {
		tr.resVals[i] = ""
		if r.source != fromResource {
			continue
		}
		if v, ok := attrs.Get(r.key); ok {
			tr.resVals[i], tr.buf = valueString(v, tr.buf)
		}
	}
	tr.resMeta = tr.resMeta[:0]
	if t.resourceMeta {
		tr.resMeta = tr.appendAttrs(tr.resMeta, attrs, t.resourceKeys)
		// In name order: a resource's attributes often come from a map
		// whose order means nothing, and streams should not differ by it.
		slices.SortStableFunc(tr.resMeta, func(a, b push.LabelAdapter) int { return strings.Compare(a.Name, b.Name) })
	}
	for _, sl := range rl.ScopeLogs().All() {
		sc := sl.Scope()
		tr.scpMeta = tr.scpMeta[:0]
		if sc.Name() != "" {
			tr.scpMeta = append(tr.scpMeta, push.LabelAdapter{Name: metaScopeName, Value: sc.Name()})
		}
		if sc.Version() != "" {
			tr.scpMeta = append(tr.scpMeta, push.LabelAdapter{Name: metaScopeVersion, Value: sc.Version()})
		}
		tr.scpMeta = tr.appendAttrs(tr.scpMeta, sc.Attributes(), nil)
		for _, lr := range sl.LogRecords().All() {
			tr.record(lr)
		}
	}
}

// appendAttrs appends attrs, less the keys in skip, as structured metadata.
func (tr *translation) appendAttrs(dst []push.LabelAdapter, attrs pcommon.Map, skip map[string]bool) []push.LabelAdapter {
	for k, v := range attrs.All() {
		if skip[k] {
			continue
		}
		name := sanitizeName(k)
		if name == "" {
			continue
		}
		var s string
		s, tr.buf = valueString(v, tr.buf)
		dst = append(dst, push.LabelAdapter{Name: name, Value: s})
	}
	return dst
}

func (tr *translation) record(lr plog.LogRecord) {
	t := tr.t
	attrs := lr.Attributes()
	for i, r := range t.rules {
		v := tr.resVals[i]
		switch r.source {
		case fromAttribute:
			if a, ok := attrs.Get(r.key); ok {
				v, tr.buf = valueString(a, tr.buf)
			}
		case fromSeverity:
			v = level(lr)
		}
		if v == "" {
			v = r.def
		}
		tr.values[i] = v
	}
	s := tr.stream()
	s.Entries = append(s.Entries, push.Entry{
		Timestamp:          tr.timestamp(lr),
		Line:               tr.lineOf(lr.Body()),
		StructuredMetadata: tr.metadata(lr),
	})
}

// stream returns the stream of the label values in tr.values, creating it
// on first use.
func (tr *translation) stream() *push.Stream {
	k := tr.key[:0]
	k = append(k, '{')
	n := 0
	for i, r := range tr.t.rules {
		v := tr.values[i]
		if v == "" {
			continue // Loki treats an empty label as an absent one
		}
		if n > 0 {
			k = append(k, ", "...)
		}
		n++
		k = append(k, r.name...)
		k = append(k, '=')
		k = appendLabelValue(k, v)
	}
	if n == 0 {
		// Loki refuses a stream without labels; it would name it so.
		k = append(k, `service_name="`+ServiceUnknown+`"`...)
	}
	k = append(k, '}')
	tr.key = k
	if s, ok := tr.streams[string(k)]; ok {
		return s
	}
	s := &push.Stream{Labels: string(k), Entries: make([]push.Entry, 0, min(tr.capacity, 64))}
	tr.streams[s.Labels] = s
	return s
}

// appendLabelValue writes v as a quoted label value in Loki's (and
// Prometheus's) label syntax: Go-style escapes of ", \ and control
// characters, and invalid UTF-8 replaced by U+FFFD, which a label value
// cannot hold.
func appendLabelValue(buf []byte, v string) []byte {
	plain := true
	for i := 0; plain && i < len(v); i++ {
		c := v[i]
		plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
	}
	if plain {
		buf = append(buf, '"')
		buf = append(buf, v...)
		return append(buf, '"')
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	return strconv.AppendQuote(buf, v)
}

// level is the level label of lr: the name of its SeverityNumber's range,
// else its SeverityText in lower case, else "".
func level(lr plog.LogRecord) string {
	if n := lr.SeverityNumber(); n >= plog.SeverityNumberTrace && n <= plog.SeverityNumberFatal4 {
		return levelNames[(n-1)/4]
	}
	text := strings.TrimSpace(lr.SeverityText())
	for i := 0; i < len(text); i++ {
		if c := text[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(text)
		}
	}
	return text
}

// timestamp is the record's time, else its observed time, else now.
func (tr *translation) timestamp(lr plog.LogRecord) time.Time {
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp()
	}
	if ts == 0 {
		return tr.now
	}
	return time.Unix(0, int64(ts)).UTC()
}

// lineOf is the log line of a body: a string verbatim, a map as JSON or
// logfmt, anything else as its string form (a slice as JSON, bytes in
// base64, an empty body as an empty line).
func (tr *translation) lineOf(body pcommon.Value) string {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return body.Str()
	case pcommon.ValueTypeMap:
		if tr.t.logfmt {
			tr.line, tr.buf = appendLogfmt(tr.line[:0], body.Map(), tr.buf)
		} else {
			tr.line = appendJSON(tr.line[:0], body)
		}
		return string(tr.line)
	case pcommon.ValueTypeEmpty:
		return ""
	}
	var s string
	s, tr.line = valueString(body, tr.line)
	return s
}

// metadata is the structured metadata of lr, most specific first: trace
// and span ids, severity, the record's attributes, its scope's, its
// resource's. A name that comes twice (after sanitising) keeps its first,
// most specific value, and no name repeats a label the stream has.
func (tr *translation) metadata(lr plog.LogRecord) push.LabelsAdapter {
	if cap(tr.meta)-len(tr.meta) < 64 {
		tr.meta = make([]push.LabelAdapter, 0, max(cap(tr.meta), 256))
	}
	start := len(tr.meta)
	m := tr.meta
	if id := lr.TraceID(); !id.IsEmpty() {
		m = append(m, push.LabelAdapter{Name: metaTraceID, Value: hex.EncodeToString(id[:])})
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		m = append(m, push.LabelAdapter{Name: metaSpanID, Value: hex.EncodeToString(id[:])})
	}
	if s := lr.SeverityText(); s != "" {
		m = append(m, push.LabelAdapter{Name: metaSeverityText, Value: s})
	}
	if n := lr.SeverityNumber(); n != plog.SeverityNumberUnspecified {
		m = append(m, push.LabelAdapter{Name: metaSeverityNumber, Value: strconv.Itoa(int(n))})
	}
	if f := lr.Flags(); f != 0 {
		m = append(m, push.LabelAdapter{Name: metaFlags, Value: strconv.FormatUint(uint64(f), 10)})
	}
	m = tr.appendAttrs(m, lr.Attributes(), tr.t.attributeKeys)
	m = append(m, tr.scpMeta...)
	m = append(m, tr.resMeta...)
	entry := tr.dedup(m[start:])
	tr.meta = m[:start+len(entry)]
	if len(entry) == 0 {
		return nil
	}
	return entry[:len(entry):len(entry)]
}

// dedup removes, in place, the entries whose name an earlier entry or a
// label of the record's stream has.
func (tr *translation) dedup(m []push.LabelAdapter) []push.LabelAdapter {
	out := m[:0]
	small := len(m) <= 16
	if !small {
		if tr.seen == nil {
			tr.seen = map[string]struct{}{}
		}
		clear(tr.seen)
	}
next:
	for _, l := range m {
		for j, r := range tr.t.rules {
			if r.name == l.Name && tr.values[j] != "" {
				continue next
			}
		}
		if small {
			for _, p := range out {
				if p.Name == l.Name {
					continue next
				}
			}
		} else {
			if _, dup := tr.seen[l.Name]; dup {
				continue
			}
			tr.seen[l.Name] = struct{}{}
		}
		out = append(out, l)
	}
	return out
}
