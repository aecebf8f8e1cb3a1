package lokiexporter

import (
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// newTranslator and safe for concurrent use; each call keeps its working
// state in a translation, which the next call reuses.
type translator struct {
	rules        []labelRule // sorted by name
	resourceMeta bool        // resource attributes not used as labels go to metadata
	logfmt       bool        // map bodies as logfmt, not JSON
	// resourceKeys and attributeKeys are the attribute keys that labels
	// use; they are not repeated in structured metadata.
	resourceKeys  map[string]bool
	attributeKeys map[string]bool
	// translations holds *translation for reuse (see translation).
	translations sync.Pool
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

// translation is the working state of one translate call. It allocates
// little per record: entries and their structured metadata are collected
// in flat lists, and the strings the translation makes (map bodies, trace
// and span IDs, numbers) in one byte arena; request copies them into one
// allocation of the exact size each, the arena into one string. A
// translator keeps translations in a sync.Pool, with bounded caches of
// what repeats from batch to batch: sanitised names, stream label
// strings, formatted label values.
type translation struct {
	t       *translator
	streams map[string]int32 // stream label string → index in streamList
	stList  []streamState
	entries []pendingEntry
	// meta is the structured metadata of the entries, metaVal where the
	// arena holds their values. meta becomes the request's as it is
	// (copying costs write barriers): each batch starts a new one, sized
	// for its records by the entries per record of the last batch.
	meta          []push.LabelAdapter
	metaVal       []span
	metaPerRecord float64
	arena         []byte   // strings made by the translation; see span
	values        []string // label values of the record at hand, by rule
	resVals       []string // label values the resource decides, by rule
	key           []byte   // stream label string being built
	buf           []byte   // scratch for value strings
	resMeta       []metaItem
	scpMeta       []metaItem
	seen          map[string]struct{}
	now           time.Time
	names         map[string]string // attribute key → sanitised name, for keys that need it
	interned      map[string]string // stream label strings and label values
	lower         map[string]string // severity text → level label
	cached        int               // bytes of the strings in the caches
}

// span is a part of the translation's arena; an empty span is no part.
type span struct{ off, n int32 }

// metaItem is a structured metadata entry whose value is Value, or the
// arena's part at val when val is not empty.
type metaItem struct {
	name, value string
	val         span
}

type streamState struct {
	labels      string
	count, next int32
}

// pendingEntry is an entry of stream: its line is line or, when lineAt is
// not empty, the arena's part at lineAt; its structured metadata is
// meta[metaAt.off:][:metaAt.n].
type pendingEntry struct {
	stream int32
	ts     time.Time
	line   string
	lineAt span
	metaAt span
}

// Cache bounds of a translation: over either, the caches are emptied, so
// that odd input cannot make them grow without end.
const (
	maxCacheEntries = 4096
	maxCacheBytes   = 1 << 20
)

// Translations that held more than this many entries, or arena bytes,
// are not reused: one huge batch should not pin its buffers for the small
// ones after it.
const (
	maxReusedEntries    = 1 << 16
	maxReusedArenaBytes = 8 << 20
)

func (t *translator) get(now time.Time) *translation {
	tr, _ := t.translations.Get().(*translation)
	if tr == nil {
		tr = &translation{
			t:        t,
			streams:  map[string]int32{},
			values:   make([]string, len(t.rules)),
			resVals:  make([]string, len(t.rules)),
			names:    map[string]string{},
			interned: map[string]string{},
			lower:    map[string]string{},
		}
	}
	tr.now = now
	return tr
}

// put empties tr of its batch and keeps it for the next (the caches
// stay).
func (t *translator) put(tr *translation) {
	if len(tr.entries) > maxReusedEntries || cap(tr.metaVal) > maxReusedEntries || cap(tr.arena) > maxReusedArenaBytes {
		return
	}
	clear(tr.streams)
	clear(tr.values)
	clear(tr.resVals)
	// entries is long and only grows during a batch: its used part is
	// all there is to clear. The short lists are cleared whole.
	clear(tr.entries)
	tr.meta = nil // the request's now
	tr.entries, tr.metaVal, tr.arena = tr.entries[:0], tr.metaVal[:0], tr.arena[:0]
	tr.stList, tr.resMeta, tr.scpMeta = reset(tr.stList), reset(tr.resMeta), reset(tr.scpMeta)
	t.translations.Put(tr)
}

// reset empties s, up to its capacity, so that a pooled buffer keeps no
// strings of the batch alive.
func reset[T any](s []T) []T {
	clear(s[:cap(s)])
	return s[:0]
}

// translate maps ld to one PushRequest: one stream per distinct label set,
// streams sorted by their label string, entries sorted by timestamp within
// each stream (records with equal timestamps keep their order). now is the
// timestamp of records with neither a time nor an observed time.
func (t *translator) translate(ld plog.Logs, now time.Time) push.PushRequest {
	tr := t.get(now)
	// Room for the metadata of ld's records, as many per record as the
	// last batch had (8 at first), and an eighth more: one allocation
	// when batches are alike, and no large one for a small batch after a
	// large one.
	per := tr.metaPerRecord
	if per == 0 {
		per = 8
	}
	tr.meta = make([]push.LabelAdapter, 0, int(per*float64(ld.LogRecordCount())*1.125)+16)
	for _, rl := range ld.ResourceLogs().All() {
		tr.resource(rl)
	}
	req := tr.request()
	t.put(tr)
	return req
}

// request builds the PushRequest of what tr collected.
func (tr *translation) request() push.PushRequest {
	var arena string
	if len(tr.arena) > 0 {
		arena = string(tr.arena)
	}
	str := func(v string, at span) string {
		if at.n > 0 {
			return arena[at.off : at.off+at.n]
		}
		return v
	}
	meta := tr.meta
	tr.meta = nil
	if len(tr.entries) > 0 {
		tr.metaPerRecord = float64(len(meta)) / float64(len(tr.entries))
	}
	for i, at := range tr.metaVal {
		if at.n > 0 {
			meta[i].Value = arena[at.off : at.off+at.n]
		}
	}
	entries := make([]push.Entry, len(tr.entries))
	off := int32(0)
	for i := range tr.stList {
		st := &tr.stList[i]
		st.next = off
		off += st.count
	}
	for _, e := range tr.entries {
		st := &tr.stList[e.stream]
		var md push.LabelsAdapter
		if e.metaAt.n > 0 {
			md = meta[e.metaAt.off : e.metaAt.off+e.metaAt.n : e.metaAt.off+e.metaAt.n]
		}
		entries[st.next] = push.Entry{Timestamp: e.ts, Line: str(e.line, e.lineAt), StructuredMetadata: md}
		st.next++
	}
	req := push.PushRequest{Streams: make([]push.Stream, len(tr.stList))}
	byTime := func(a, b push.Entry) int { return a.Timestamp.Compare(b.Timestamp) }
	for i, st := range tr.stList {
		end := st.next
		s := push.Stream{Labels: st.labels, Entries: entries[end-st.count : end : end]}
		// Applications mostly log in time order: check before sorting.
		if !slices.IsSortedFunc(s.Entries, byTime) {
			slices.SortStableFunc(s.Entries, byTime)
		}
		req.Streams[i] = s
	}
	slices.SortFunc(req.Streams, func(a, b push.Stream) int { return strings.Compare(a.Labels, b.Labels) })
	return req
}

// reserve makes room in the caches for one more entry of size bytes:
// over either bound, they are emptied.
func (tr *translation) reserve(size int) {
	if len(tr.names)+len(tr.interned)+len(tr.lower) >= maxCacheEntries || tr.cached+size > maxCacheBytes {
		clear(tr.names)
		clear(tr.interned)
		clear(tr.lower)
		tr.cached = 0
	}
	tr.cached += size
}

// intern returns string(b), made once per batch stream.
func (tr *translation) intern(b []byte) string {
	if s, ok := tr.interned[string(b)]; ok {
		return s
	}
	s := string(b)
	tr.reserve(len(s))
	tr.interned[s] = s
	return s
}

// name is sanitizeName(k), sanitised once per batch stream.
func (tr *translation) name(k string) string {
	if validName(k) {
		return k
	}
	if n, ok := tr.names[k]; ok {
		return n
	}
	n := sanitizeName(k)
	tr.reserve(len(k) + len(n))
	tr.names[k] = n
	return n
}

// labelValue is valueString(v), interned: label values are few.
func (tr *translation) labelValue(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeBool, pcommon.ValueTypeEmpty:
		return v.AsString()
	}
	tr.buf = appendValue(tr.buf[:0], v)
	return tr.intern(tr.buf)
}

// appendArena appends v's valueString to the arena and returns its span
// there; strings and booleans, which need no allocation, are returned
// as they are.
func (tr *translation) arenaValue(v pcommon.Value) (string, span) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str(), span{}
	case pcommon.ValueTypeBool, pcommon.ValueTypeEmpty:
		return v.AsString(), span{}
	}
	start := len(tr.arena)
	tr.arena = appendValue(tr.arena, v)
	return "", tr.span(start)
}

// span is the arena's part from start to its end.
func (tr *translation) span(start int) span {
	return span{int32(start), int32(len(tr.arena) - start)}
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
			tr.resVals[i] = tr.labelValue(v)
		}
	}
	tr.resMeta = tr.resMeta[:0]
	if t.resourceMeta {
		tr.resMeta = tr.appendAttrs(tr.resMeta, attrs, t.resourceKeys)
		// In name order: a resource's attributes often come from a map
		// whose order means nothing, and streams should not differ by it.
		slices.SortStableFunc(tr.resMeta, func(a, b metaItem) int { return strings.Compare(a.name, b.name) })
	}
	for _, sl := range rl.ScopeLogs().All() {
		sc := sl.Scope()
		tr.scpMeta = tr.scpMeta[:0]
		if sc.Name() != "" {
			tr.scpMeta = append(tr.scpMeta, metaItem{name: metaScopeName, value: sc.Name()})
		}
		if sc.Version() != "" {
			tr.scpMeta = append(tr.scpMeta, metaItem{name: metaScopeVersion, value: sc.Version()})
		}
		tr.scpMeta = tr.appendAttrs(tr.scpMeta, sc.Attributes(), nil)
		for _, lr := range sl.LogRecords().All() {
			tr.record(lr)
		}
	}
}

// appendAttrs appends attrs, less the keys in skip, as structured metadata.
func (tr *translation) appendAttrs(dst []metaItem, attrs pcommon.Map, skip map[string]bool) []metaItem {
	for k, v := range attrs.All() {
		if skip[k] {
			continue
		}
		name := tr.name(k)
		if name == "" {
			continue
		}
		s, at := tr.arenaValue(v)
		dst = append(dst, metaItem{name: name, value: s, val: at})
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
				v = tr.labelValue(a)
			}
		case fromSeverity:
			v = tr.level(lr)
		}
		if v == "" {
			v = r.def
		}
		tr.values[i] = v
	}
	e := pendingEntry{stream: tr.stream(), ts: tr.timestamp(lr)}
	e.line, e.lineAt = tr.lineOf(lr.Body())
	e.metaAt = tr.metadata(lr)
	tr.stList[e.stream].count++
	tr.entries = append(tr.entries, e)
}

// stream returns the index of the stream of the label values in
// tr.values, creating it on first use.
func (tr *translation) stream() int32 {
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
	if i, ok := tr.streams[string(k)]; ok {
		return i
	}
	labels := tr.intern(k)
	i := int32(len(tr.stList))
	tr.stList = append(tr.stList, streamState{labels: labels})
	tr.streams[labels] = i
	return i
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

// level is level(lr), a severity text lower-cased once per batch stream.
func (tr *translation) level(lr plog.LogRecord) string {
	if n := lr.SeverityNumber(); n >= plog.SeverityNumberTrace && n <= plog.SeverityNumberFatal4 {
		return levelNames[(n-1)/4]
	}
	text := lr.SeverityText()
	if l, ok := tr.lower[text]; ok {
		return l
	}
	l := level(lr)
	tr.reserve(len(text) + len(l))
	tr.lower[text] = l
	return l
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
// base64, an empty body as an empty line). A line the translation writes
// goes to the arena: it returns its span there.
func (tr *translation) lineOf(body pcommon.Value) (string, span) {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return body.Str(), span{}
	case pcommon.ValueTypeMap:
		start := len(tr.arena)
		if tr.t.logfmt {
			tr.arena, tr.buf = appendLogfmt(tr.arena, body.Map(), tr.buf)
		} else {
			tr.arena = appendJSON(tr.arena, body)
		}
		return "", tr.span(start)
	case pcommon.ValueTypeEmpty:
		return "", span{}
	}
	return tr.arenaValue(body)
}

// metadata appends the structured metadata of lr to tr.meta, most
// specific first: trace and span ids, severity, the record's attributes,
// its scope's, its resource's. A name that comes twice (after
// sanitising) keeps its first, most specific value, and no name repeats a
// label the stream has. It returns the entries' place in tr.meta.
func (tr *translation) metadata(lr plog.LogRecord) span {
	start := len(tr.meta)
	if id := lr.TraceID(); !id.IsEmpty() {
		at := len(tr.arena)
		tr.arena = hex.AppendEncode(tr.arena, id[:])
		tr.add(metaItem{name: metaTraceID, val: tr.span(at)})
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		at := len(tr.arena)
		tr.arena = hex.AppendEncode(tr.arena, id[:])
		tr.add(metaItem{name: metaSpanID, val: tr.span(at)})
	}
	if s := lr.SeverityText(); s != "" {
		tr.add(metaItem{name: metaSeverityText, value: s})
	}
	if n := lr.SeverityNumber(); n != plog.SeverityNumberUnspecified {
		tr.add(tr.number(metaSeverityNumber, int64(n)))
	}
	if f := lr.Flags(); f != 0 {
		tr.add(tr.number(metaFlags, int64(f)))
	}
	skip := tr.t.attributeKeys
	for k, v := range lr.Attributes().All() {
		if skip[k] {
			continue
		}
		if name := tr.name(k); name != "" {
			s, at := tr.arenaValue(v)
			tr.add(metaItem{name: name, value: s, val: at})
		}
	}
	for _, m := range tr.scpMeta {
		tr.add(m)
	}
	for _, m := range tr.resMeta {
		tr.add(m)
	}
	n := tr.dedup(start)
	return span{int32(start), int32(n)}
}

func (tr *translation) add(m metaItem) {
	tr.meta = append(tr.meta, push.LabelAdapter{Name: m.name, Value: m.value})
	tr.metaVal = append(tr.metaVal, m.val)
}

// number is a metadata entry of an integer in decimal; small ones
// (strconv's constants) need neither arena nor allocation.
func (tr *translation) number(name string, n int64) metaItem {
	if n >= 0 && n < 100 {
		return metaItem{name: name, value: strconv.Itoa(int(n))}
	}
	at := len(tr.arena)
	tr.arena = strconv.AppendInt(tr.arena, n, 10)
	return metaItem{name: name, val: tr.span(at)}
}

// dedup removes, in place, the entries of tr.meta from start whose name
// an earlier entry or a label of the record's stream has; it returns how
// many stay.
func (tr *translation) dedup(start int) int {
	m, vals := tr.meta[start:], tr.metaVal[start:]
	small := len(m) <= 16
	if !small {
		if tr.seen == nil {
			tr.seen = map[string]struct{}{}
		}
		clear(tr.seen)
	}
	n := 0
next:
	for i, l := range m {
		for j, r := range tr.t.rules {
			if r.name == l.Name && tr.values[j] != "" {
				continue next
			}
		}
		if small {
			for _, p := range m[:n] {
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
		m[n], vals[n] = l, vals[i]
		n++
	}
	tr.meta, tr.metaVal = tr.meta[:start+n], tr.metaVal[:start+n]
	return n
}
