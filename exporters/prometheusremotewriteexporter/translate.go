package prometheusremotewriteexporter

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
)

// Reasons for data points dropped while translating; they are counted in
// outpost_exporter_failed_items_total{reason}.
const (
	// ReasonDelta: a sum or histogram with delta temporality. Prometheus
	// stores cumulative series only; convert upstream (deltatocumulative)
	// or aggregate at the edge.
	ReasonDelta = "delta_temporality"
	// ReasonUnspecifiedTemporality: a sum or histogram whose temporality is
	// unspecified (invalid OTLP).
	ReasonUnspecifiedTemporality = "unspecified_temporality"
	// ReasonNoTimestamp: a data point without a timestamp; Prometheus would
	// refuse the whole request (out of bounds).
	ReasonNoTimestamp = "no_timestamp"
	// ReasonInvalidName: the metric or an attribute name cannot be made a
	// Prometheus name (for example only underscores).
	ReasonInvalidName = "invalid_name"
	// ReasonInvalidHistogram: an exponential histogram Prometheus would
	// refuse (scale below -4, bucket counts above the total count).
	ReasonInvalidHistogram = "invalid_histogram"
	// ReasonNativeHistogramsDisabled: an exponential histogram with
	// send_native_histograms: false.
	ReasonNativeHistogramsDisabled = "native_histograms_disabled"
	// ReasonDuplicate: a second data point of the same series with the same
	// timestamp in one batch; the first is kept (Prometheus would refuse the
	// whole request for a different value at the same timestamp).
	ReasonDuplicate = "duplicate_timestamp"
)

// maxExemplarRunes bounds exemplar labels, as OpenMetrics does: filtered
// attributes are left out when they would pass it (trace and span IDs are
// always kept).
const maxExemplarRunes = 128

// defaultZeroThreshold is a native histogram's zero bucket width when the
// OTLP point gives none, as Prometheus's OTLP endpoint uses.
const defaultZeroThreshold = 1e-128

// Native histogram schema bounds (Prometheus's ExponentialSchemaMin/Max).
const (
	minSchema = -4
	maxSchema = 8
)

// staleNaN is Prometheus's stale marker (model/value.StaleNaN).
const staleNaN uint64 = 0x7ff0000000000002

// Resource attributes that make job and instance.
const (
	attrServiceName      = "service.name"
	attrServiceNamespace = "service.namespace"
	attrServiceInstance  = "service.instance.id"
)

// translator holds what the configuration decides about the mapping; it
// is immutable and shared. A batch does one request's work.
type translator struct {
	namer      otlptranslator.MetricNamer
	labelNamer otlptranslator.LabelNamer
	unitNamer  otlptranslator.UnitNamer
	external   []prompb.Label // sorted by name
	promote    map[string]bool
	promoteAll bool
	targetInfo bool
	native     bool
	metadata   bool
	// meta, with send_metadata_interval > 0, is when each family's
	// metadata was last put in a request.
	meta       *metaClock
	targetName string
	// scratch holds *scratch: a batch's working state, reused by the
	// next batch (see scratch).
	scratch sync.Pool
}

func newTranslator(c *Config) *translator {
	strategy := otlptranslator.TranslationStrategyOption(c.TranslationStrategy)
	t := &translator{
		namer: otlptranslator.NewMetricNamer(c.Namespace, strategy),
		labelNamer: otlptranslator.LabelNamer{
			UTF8Allowed: !strategy.ShouldEscape(),
			// Deprecated upstream but still what Prometheus's own
			// label_name_underscore_sanitization sets.
			//lint:ignore SA1019 Prometheus v0.316.0 sets it the same way
			UnderscoreLabelSanitization: c.LabelNameUnderscoreSanitization,
			PreserveMultipleUnderscores: c.LabelNamePreserveMultipleUnderscores,
		},
		promoteAll: c.ResourceToTelemetryConversion,
		targetInfo: c.TargetInfo,
		native:     c.SendNativeHistograms,
		metadata:   c.SendMetadata,
		targetName: otlptranslator.TargetInfoMetricName,
	}
	if c.SendMetadata && c.SendMetadataInterval > 0 {
		t.meta = &metaClock{every: c.SendMetadataInterval, now: time.Now, sent: map[string]time.Time{}}
	}
	if c.Namespace != "" {
		t.targetName = c.Namespace + "_" + t.targetName
	}
	for k, v := range c.ExternalLabels {
		t.external = append(t.external, prompb.Label{Name: k, Value: v})
	}
	slices.SortFunc(t.external, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
	if len(c.PromoteResourceAttributes) > 0 || c.PromoteNodeAttributes {
		t.promote = map[string]bool{}
		for _, a := range c.PromoteResourceAttributes {
			t.promote[a] = true
		}
		if c.PromoteNodeAttributes {
			t.promote[pipeline.AttrNodeName] = true
			t.promote[pipeline.AttrNodeSite] = true
			t.promote[pipeline.AttrNodeRegion] = true
		}
	}
	return t
}

// batch builds one WriteRequest. Samples of one series are merged into one
// TimeSeries and put in time order when the request is finished.
//
// A batch allocates little per data point: the series' samples, exemplars
// and histograms (with their spans, deltas and counts) are collected in
// flat, reused lists and copied, in finish, into one allocation of the
// exact size each; their labels go to one list that becomes the
// request's; label names, metric names, formatted numbers and bucket
// bounds are translated once and cached (see scratch). Of the request,
// only the exemplars' trace and span IDs are strings the batch makes per
// point, and they are cut from one string.
type batch struct {
	t   *translator
	req prompb.WriteRequest
	// Points is the number of OTLP data points translated.
	Points int
	// Dropped counts the data points left out, by reason.
	Dropped map[string]int

	s   *scratch // nil once finished
	res resourceLabels
}

// scratch is the working state of a batch that its request does not
// reference: the series index, the samples, histograms and exemplars
// waiting to be put in their series, reused buffers, and caches of
// translated names and formatted numbers. A translator keeps scratches in
// a sync.Pool, so that a stream of small batches does not build its maps
// anew each time. The caches hold only what the configuration decides
// (the same for every batch of a translator) and are bounded.
type scratch struct {
	series   []seriesState
	index    map[uint64]int32    // hash of a series' labels → its first index in series
	points   map[uint64]struct{} // (family, labels, timestamp) of points taken
	families map[string]bool     // metric families given metadata
	meta     []prompb.MetricMetadata
	samples  []pendingSample
	hists    []pendingHistogram
	exemps   []pendingExemplar
	// The labels of the series and exemplars, and the spans and deltas
	// of the histograms, that the pending lists point into. lbuf becomes
	// the request's labels as it is (copying labels costs write
	// barriers): each batch starts a new one, sized for its data points
	// by the labels per point of the last batch.
	lbuf           []prompb.Label
	labelsPerPoint float64
	sbuf           []prompb.BucketSpan
	dbuf           []int64
	// ids holds the exemplars' trace and span IDs in hex; finish makes it
	// one string and sets the label values of idLabels from it.
	ids      []byte
	idLabels []idLabel

	attrs    []attr
	promoted []prompb.Label
	base     []prompb.Label
	exs      []pendingExemplar
	exLabels []prompb.Label
	num      []byte
	key      []byte

	// labels is the scratch base with __name__=prepName and, when
	// prepExtra is set, prepExtra at labels[extraAt]: seriesFor reuses
	// it for the series of one point that differ only in that value (a
	// histogram's buckets). baseGen counts the changes of base; prepGen
	// is the one labels was made from.
	labels           []prompb.Label
	prepName         string
	prepExtra        string
	extraAt          int
	baseGen, prepGen int

	names   map[string]labelName // attribute key → label name
	metrics map[metricKey]*family
	values  map[string]string // formatted integers, interned
	floats  map[uint64]string // formatted bucket bounds and quantiles, by bits
	cached  int               // bytes of the strings in the caches
}

// seriesState is a series being built: its labels (in lbuf) and how many
// samples, histograms and exemplars it has so far; next is the next
// series whose labels have the same hash, or -1.
type seriesState struct {
	labels                 span
	next                   int32
	samples, hists, exemps int32
}

// idLabel is a label in lbuf whose value is ids[id].
type idLabel struct {
	label int32
	id    span
}

// span is a part of one of a scratch's buffers.
type span struct{ off, n int32 }

// of is the part sp of labels, its capacity cut at its end.
func (sp span) of(labels []prompb.Label) []prompb.Label {
	return labels[sp.off : sp.off+sp.n : sp.off+sp.n]
}

type pendingSample struct {
	series int32
	prompb.Sample
}

// pendingHistogram is a histogram without its spans, deltas and counts,
// which finish puts in.
type pendingHistogram struct {
	series                                   int32
	h                                        prompb.Histogram
	count, zeroCount                         uint64
	posSpans, posDeltas, negSpans, negDeltas span
}

// pendingExemplar is an exemplar without its labels, which finish puts
// in.
type pendingExemplar struct {
	series int32
	labels span
	prompb.Exemplar
}

type labelName struct {
	name string
	ok   bool
}

type metricKey struct {
	name, unit string
	typ        otlptranslator.MetricType
}

// family is a metric's translated names: its family name, the names of
// its _sum, _count and _bucket series, and its unit for metadata; ok is
// false when the name cannot be made valid.
type family struct {
	name, sum, count, bucket, unit string
	ok                             bool
}

// Cache bounds of a scratch: a cache over either bound is emptied before
// it takes more, so that odd input (a new attribute key in every batch)
// cannot make it grow without end.
const (
	maxCacheEntries = 4096
	maxCacheBytes   = 1 << 20
)

// Scratches whose maps grew past this many entries are not reused: a
// cleared Go map keeps its size, and one huge batch should not pin its
// index for the small ones after it.
const maxReusedEntries = 1 << 16

// resourceLabels are the labels one resource gives its series.
type resourceLabels struct {
	job, instance string
	promoted      []prompb.Label // sanitised, merged
	invalid       bool           // a promoted attribute has no valid name
}

type attr struct{ key, value string }

func (t *translator) newBatch() *batch {
	s, _ := t.scratch.Get().(*scratch)
	if s == nil {
		s = &scratch{
			index:    map[uint64]int32{},
			points:   map[uint64]struct{}{},
			families: map[string]bool{},
			names:    map[string]labelName{},
			metrics:  map[metricKey]*family{},
			values:   map[string]string{},
			floats:   map[uint64]string{},
			prepGen:  -1,
		}
	}
	return &batch{t: t, s: s, Dropped: map[string]int{}}
}

// release empties s of the batch's state and gives it back to t for the
// next batch (the caches stay).
func (t *translator) release(s *scratch) {
	if len(s.points) > maxReusedEntries || len(s.index) > maxReusedEntries {
		return
	}
	s.lbuf = nil // the request's now
	// The long lists only grow during a batch: their used part is all
	// there is to clear. The short ones are cleared whole.
	clear(s.series)
	clear(s.samples)
	clear(s.hists)
	clear(s.exemps)
	s.series, s.samples, s.hists, s.exemps = s.series[:0], s.samples[:0], s.hists[:0], s.exemps[:0]
	s.sbuf, s.dbuf, s.ids, s.idLabels = s.sbuf[:0], s.dbuf[:0], s.ids[:0], s.idLabels[:0]
	s.meta, s.exs, s.promoted, s.base = reset(s.meta), reset(s.exs), reset(s.promoted), reset(s.base)
	s.labels, s.exLabels, s.attrs = reset(s.labels), reset(s.exLabels), reset(s.attrs)
	clear(s.index)
	clear(s.points)
	clear(s.families)
	s.prepName, s.prepExtra, s.prepGen = "", "", -1
	t.scratch.Put(s)
}

// reset empties s, up to its capacity, so that a pooled buffer keeps no
// strings of the batch alive.
func reset[T any](s []T) []T {
	clear(s[:cap(s)])
	return s[:0]
}

// reserve makes room in the caches for one more entry of size bytes:
// over either bound, they are all emptied.
func (s *scratch) reserve(size int) {
	if len(s.names)+len(s.metrics)+len(s.values)+len(s.floats) >= maxCacheEntries || s.cached+size > maxCacheBytes {
		clear(s.names)
		clear(s.metrics)
		clear(s.values)
		clear(s.floats)
		s.cached = 0
	}
	s.cached += size
}

// labelName is the label name of an attribute key, translated once.
func (b *batch) labelName(key string) (string, bool) {
	s := b.s
	if n, ok := s.names[key]; ok {
		return n.name, n.ok
	}
	name, err := b.t.labelNamer.Build(key)
	n := labelName{name: name, ok: err == nil}
	s.reserve(len(key) + len(name))
	s.names[key] = n
	return n.name, n.ok
}

// valueString is an attribute value as pdata's AsString writes it;
// integers are formatted once per batch stream (interned), strings and
// booleans never allocate.
func (b *batch) valueString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		s := b.s
		s.num = strconv.AppendInt(s.num[:0], v.Int(), 10)
		if str, ok := s.values[string(s.num)]; ok {
			return str
		}
		str := string(s.num)
		s.reserve(len(str))
		s.values[str] = str
		return str
	}
	return v.AsString()
}

// intern returns a+b+c, built once per batch stream.
func (b *batch) intern(a, sep, c string) string {
	s := b.s
	s.num = append(append(append(s.num[:0], a...), sep...), c...)
	if str, ok := s.values[string(s.num)]; ok {
		return str
	}
	str := string(s.num)
	s.reserve(len(str))
	s.values[str] = str
	return str
}

// floatString is formatFloat(f), formatted once per batch stream.
func (b *batch) floatString(f float64) string {
	s := b.s
	bits := math.Float64bits(f)
	if str, ok := s.floats[bits]; ok {
		return str
	}
	str := formatFloat(f)
	s.reserve(len(str))
	s.floats[bits] = str
	return str
}

// family is the translated names of m, or nil if its name cannot be made
// valid.
func (b *batch) family(tm otlptranslator.Metric) *family {
	s := b.s
	k := metricKey{tm.Name, tm.Unit, tm.Type}
	f, ok := s.metrics[k]
	if !ok {
		name, err := b.t.namer.Build(tm)
		f = &family{name: name, ok: err == nil && name != ""}
		if f.ok {
			f.unit = b.t.unitNamer.Build(tm.Unit)
			switch tm.Type {
			case otlptranslator.MetricTypeHistogram, otlptranslator.MetricTypeSummary:
				f.sum, f.count, f.bucket = name+"_sum", name+"_count", name+"_bucket"
			}
		}
		s.reserve(len(tm.Name) + len(tm.Unit) + 4*len(name))
		s.metrics[k] = f
	}
	if !f.ok {
		return nil
	}
	return f
}

// translate is the whole mapping of md into one request, target_info
// included: what the exporter does without priority lanes.
func (t *translator) translate(md pmetric.Metrics) *batch {
	b := t.newBatch()
	b.addMetrics(md)
	b.addTargetInfo(md)
	b.finish()
	return b
}

func (b *batch) drop(reason string, n int) {
	if n > 0 {
		b.Dropped[reason] += n
	}
}

// DroppedTotal is the number of data points dropped.
func (b *batch) DroppedTotal() int {
	n := 0
	for _, v := range b.Dropped {
		n += v
	}
	return n
}

// setResource computes the labels res gives every series.
func (b *batch) setResource(res pcommon.Resource) {
	attrs := res.Attributes()
	b.res = resourceLabels{}
	if v, ok := attrs.Get(attrServiceName); ok {
		b.res.job = b.valueString(v)
		if ns, ok := attrs.Get(attrServiceNamespace); ok {
			if nss := b.valueString(ns); nss != "" {
				b.res.job = b.intern(nss, "/", b.res.job)
			}
		}
	}
	if v, ok := attrs.Get(attrServiceInstance); ok {
		b.res.instance = b.valueString(v)
	}
	if !b.t.promoteAll && b.t.promote == nil {
		return
	}
	s := b.s
	s.attrs = s.attrs[:0]
	for k, v := range attrs.All() {
		if b.t.promoteAll || b.t.promote[k] {
			s.attrs = append(s.attrs, attr{k, b.valueString(v)})
		}
	}
	var ok bool
	s.promoted, ok = b.sanitise(s.promoted[:0], s.attrs)
	b.res.promoted, b.res.invalid = s.promoted, !ok
}

// sanitise appends to dst the labels of attrs: sorted by attribute key,
// names made valid by the strategy, values made valid UTF-8; attributes
// whose names collide once sanitised are joined with ";" as Prometheus
// does; empty values are left out (an empty label is no label). It
// reports false if a name cannot be made valid.
func (b *batch) sanitise(dst []prompb.Label, attrs []attr) ([]prompb.Label, bool) {
	if len(attrs) > 1 {
		slices.SortFunc(attrs, func(x, y attr) int { return strings.Compare(x.key, y.key) })
	}
	start := len(dst)
	for _, a := range attrs {
		if a.value == "" || a.key == "__name__" {
			continue
		}
		name, ok := b.labelName(a.key)
		if !ok {
			return dst, false
		}
		v := validUTF8(a.value)
		merged := false
		for i := start; i < len(dst); i++ {
			if dst[i].Name == name {
				dst[i].Value += ";" + v
				merged = true
				break
			}
		}
		if !merged {
			dst = append(dst, prompb.Label{Name: name, Value: v})
		}
	}
	return dst, true
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// pointLabels sets the scratch base to a data point's labels without
// __name__: attributes, promoted resource attributes, job, instance and
// external labels, sorted. It reports false if a name cannot be made
// valid.
func (b *batch) pointLabels(attrs pcommon.Map) bool {
	if b.res.invalid {
		return false
	}
	s := b.s
	s.attrs = s.attrs[:0]
	for k, v := range attrs.All() {
		s.attrs = append(s.attrs, attr{k, b.valueString(v)})
	}
	var ok bool
	s.base, ok = b.sanitise(s.base[:0], s.attrs)
	if !ok {
		return false
	}
	b.withResource()
	return true
}

// withResource adds to the scratch base what the resource and the
// configuration add to every series, then sorts it.
func (b *batch) withResource() {
	base := b.s.base
	n := len(base)
	for _, l := range b.res.promoted {
		if !has(base[:n], l.Name) {
			base = append(base, l)
		}
	}
	if b.res.job != "" {
		base = set(base, "job", b.res.job)
	}
	if b.res.instance != "" {
		base = set(base, "instance", b.res.instance)
	}
	for _, l := range b.t.external {
		if !has(base, l.Name) {
			base = append(base, l)
		}
	}
	sortLabels(base)
	b.s.base = base
	b.s.baseGen++
}

func has(ls []prompb.Label, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

// set sets name to value in ls (an empty value removes it).
func set(ls []prompb.Label, name, value string) []prompb.Label {
	for i, l := range ls {
		if l.Name == name {
			if value == "" {
				return slices.Delete(ls, i, i+1)
			}
			ls[i].Value = value
			return ls
		}
	}
	if value == "" {
		return ls
	}
	return append(ls, prompb.Label{Name: name, Value: value})
}

// setSorted sets name to value in ls, sorted by name, keeping it sorted;
// it returns ls and the label's index.
func setSorted(ls []prompb.Label, name, value string) ([]prompb.Label, int) {
	i, found := slices.BinarySearchFunc(ls, name, func(l prompb.Label, n string) int { return strings.Compare(l.Name, n) })
	if found {
		ls[i].Value = value
		return ls, i
	}
	return slices.Insert(ls, i, prompb.Label{Name: name, Value: value}), i
}

func sortLabels(ls []prompb.Label) {
	if len(ls) > 1 {
		slices.SortFunc(ls, func(a, b prompb.Label) int { return strings.Compare(a.Name, b.Name) })
	}
}

// takePoint reports whether the point of family with the scratch base at
// ts is the first of its series and timestamp in this batch (and
// remembers it).
func (b *batch) takePoint(family string, ts int64) bool {
	s := b.s
	key := append(s.key[:0], family...)
	for _, l := range s.base {
		key = append(key, 0xff)
		key = append(key, l.Name...)
		key = append(key, 0xfe)
		key = append(key, l.Value...)
	}
	key = binary.LittleEndian.AppendUint64(key, uint64(ts))
	s.key = key
	k := xxhash.Sum64(key)
	if _, dup := b.s.points[k]; dup {
		return false
	}
	b.s.points[k] = struct{}{}
	return true
}

// seriesFor returns the index of the series of the scratch base plus
// __name__=name and, when extraName is set, extraName=extraValue; the
// series is created on first use.
func (b *batch) seriesFor(name, extraName, extraValue string) int32 {
	s := b.s
	if s.prepGen != s.baseGen || name != s.prepName || extraName != s.prepExtra {
		s.labels = append(s.labels[:0], s.base...)
		s.labels, _ = setSorted(s.labels, "__name__", name)
		s.extraAt = -1
		if extraName != "" {
			s.labels, s.extraAt = setSorted(s.labels, extraName, extraValue)
		}
		s.prepGen, s.prepName, s.prepExtra = s.baseGen, name, extraName
	} else if s.extraAt >= 0 {
		s.labels[s.extraAt].Value = extraValue
	}
	key := s.key[:0]
	for _, l := range s.labels {
		key = append(key, l.Name...)
		key = append(key, 0xff)
		key = append(key, l.Value...)
		key = append(key, 0xff)
	}
	s.key = key
	k := xxhash.Sum64(key)
	first, found := s.index[k]
	if found {
		// Labels with the same hash: the chain from first holds every
		// series with it.
		for i := first; ; {
			if equalLabels(s.series[i].labels.of(s.lbuf), s.labels) {
				return i
			}
			if s.series[i].next < 0 {
				break
			}
			i = s.series[i].next
		}
	}
	i := int32(len(s.series))
	next := int32(-1)
	if found {
		// Put the new series second in the chain: first stays the entry.
		next = s.series[first].next
		s.series[first].next = i
	} else {
		s.index[k] = i
	}
	s.series = append(s.series, seriesState{labels: s.addLabels(s.labels), next: next})
	return i
}

// expect makes room in lbuf for the labels of points more data points,
// as many per point as the last batch had (8 at first), and an eighth
// more: one allocation when batches are alike, and no large one for a
// small batch after a large one.
func (b *batch) expect(points int) {
	s := b.s
	per := s.labelsPerPoint
	if per == 0 {
		per = 8
	}
	if want := int(per*float64(points)*1.125) + 16; points > 0 && cap(s.lbuf)-len(s.lbuf) < want {
		s.lbuf = slices.Grow(s.lbuf, want)
	}
}

// addLabels copies ls to lbuf.
func (s *scratch) addLabels(ls []prompb.Label) span {
	if s.lbuf == nil {
		s.lbuf = make([]prompb.Label, 0, max(len(ls), 16))
	}
	sp := span{int32(len(s.lbuf)), int32(len(ls))}
	s.lbuf = append(s.lbuf, ls...)
	return sp
}

func equalLabels(a, b []prompb.Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

func (b *batch) sample(name, extraName, extraValue string, ts int64, v float64, exs []pendingExemplar) {
	i := b.seriesFor(name, extraName, extraValue)
	s := b.s
	s.samples = append(s.samples, pendingSample{series: i, Sample: prompb.Sample{Value: v, Timestamp: ts}})
	s.series[i].samples++
	b.addExemplars(i, exs)
}

func (b *batch) addExemplars(series int32, exs []pendingExemplar) {
	s := b.s
	for _, e := range exs {
		e.series = series
		s.exemps = append(s.exemps, e)
	}
	s.series[series].exemps += int32(len(exs))
}

func (b *batch) addMetadata(family string, typ prompb.MetricMetadata_MetricType, unit, help string) {
	if !b.t.metadata || b.s.families[family] {
		return
	}
	b.s.families[family] = true
	if b.t.meta != nil && !b.t.meta.due(family) {
		return
	}
	b.s.meta = append(b.s.meta, prompb.MetricMetadata{
		Type: typ, MetricFamilyName: family, Unit: unit, Help: validUTF8(help),
	})
}

// value returns v, or the stale marker for a point flagged as having no
// recorded value.
func value(v float64, flags pmetric.DataPointFlags) float64 {
	if flags.NoRecordedValue() {
		return math.Float64frombits(staleNaN)
	}
	return v
}

func millis(ts pcommon.Timestamp) int64 { return int64(ts / 1e6) }

// addMetrics translates every data point of md.
func (b *batch) addMetrics(md pmetric.Metrics) {
	b.expect(md.DataPointCount())
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		b.setResource(rm.Resource())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				b.addMetric(ms.At(k))
			}
		}
	}
}

func pointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

func (b *batch) addMetric(m pmetric.Metric) {
	n := pointCount(m)
	if n == 0 {
		return
	}
	tm := otlptranslator.Metric{Name: m.Name(), Unit: m.Unit()}
	var temporality pmetric.AggregationTemporality
	var typ prompb.MetricMetadata_MetricType
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		tm.Type, typ = otlptranslator.MetricTypeGauge, prompb.MetricMetadata_GAUGE
	case pmetric.MetricTypeSum:
		temporality = m.Sum().AggregationTemporality()
		if m.Sum().IsMonotonic() {
			tm.Type, typ = otlptranslator.MetricTypeMonotonicCounter, prompb.MetricMetadata_COUNTER
		} else {
			tm.Type, typ = otlptranslator.MetricTypeNonMonotonicCounter, prompb.MetricMetadata_GAUGE
		}
	case pmetric.MetricTypeHistogram:
		temporality = m.Histogram().AggregationTemporality()
		tm.Type, typ = otlptranslator.MetricTypeHistogram, prompb.MetricMetadata_HISTOGRAM
	case pmetric.MetricTypeExponentialHistogram:
		temporality = m.ExponentialHistogram().AggregationTemporality()
		tm.Type, typ = otlptranslator.MetricTypeExponentialHistogram, prompb.MetricMetadata_HISTOGRAM
		if !b.t.native {
			b.drop(ReasonNativeHistogramsDisabled, n)
			return
		}
	case pmetric.MetricTypeSummary:
		tm.Type, typ = otlptranslator.MetricTypeSummary, prompb.MetricMetadata_SUMMARY
	}
	switch m.Type() {
	case pmetric.MetricTypeSum, pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram:
		switch temporality {
		case pmetric.AggregationTemporalityCumulative:
		case pmetric.AggregationTemporalityDelta:
			b.drop(ReasonDelta, n)
			return
		default:
			b.drop(ReasonUnspecifiedTemporality, n)
			return
		}
	}
	f := b.family(tm)
	if f == nil {
		b.drop(ReasonInvalidName, n)
		return
	}
	before := b.Points
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		b.addNumbers(f.name, m.Gauge().DataPoints(), false)
	case pmetric.MetricTypeSum:
		b.addNumbers(f.name, m.Sum().DataPoints(), m.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		b.addHistograms(f, m.Histogram().DataPoints())
	case pmetric.MetricTypeExponentialHistogram:
		b.addExponential(f.name, m.ExponentialHistogram().DataPoints())
	case pmetric.MetricTypeSummary:
		b.addSummaries(f, m.Summary().DataPoints())
	}
	if b.Points > before {
		b.addMetadata(f.name, typ, f.unit, m.Description())
	}
}

// point checks a data point's timestamp and labels and claims its series
// and timestamp; it reports whether to translate it.
func (b *batch) point(family string, ts pcommon.Timestamp, attrs pcommon.Map) bool {
	switch {
	case ts == 0:
		b.drop(ReasonNoTimestamp, 1)
	case !b.pointLabels(attrs):
		b.drop(ReasonInvalidName, 1)
	case !b.takePoint(family, millis(ts)):
		b.drop(ReasonDuplicate, 1)
	default:
		b.Points++
		return true
	}
	return false
}

func (b *batch) addNumbers(family string, dps pmetric.NumberDataPointSlice, counter bool) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !b.point(family, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		var v float64
		switch dp.ValueType() {
		case pmetric.NumberDataPointValueTypeInt:
			v = float64(dp.IntValue())
		case pmetric.NumberDataPointValueTypeDouble:
			v = dp.DoubleValue()
		}
		var exs []pendingExemplar
		if counter {
			// Prometheus's OTLP endpoint keeps exemplars of counters and
			// histograms only.
			exs = b.exemplars(dp.Exemplars())
		}
		b.sample(family, "", "", millis(dp.Timestamp()), value(v, dp.Flags()), exs)
	}
}

func (b *batch) addHistograms(f *family, dps pmetric.HistogramDataPointSlice) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !b.point(f.name, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		ts, flags := millis(dp.Timestamp()), dp.Flags()
		if dp.HasSum() {
			b.sample(f.sum, "", "", ts, value(dp.Sum(), flags), nil)
		}
		b.sample(f.count, "", "", ts, value(float64(dp.Count()), flags), nil)
		exs := b.exemplars(dp.Exemplars())
		if len(exs) > 1 {
			slices.SortFunc(exs, func(x, y pendingExemplar) int { return cmp.Compare(x.Value, y.Value) })
		}
		var cum uint64
		bounds, counts := dp.ExplicitBounds(), dp.BucketCounts()
		for j := 0; j < bounds.Len() && j < counts.Len(); j++ {
			bound := bounds.At(j)
			cum += counts.At(j)
			// Exemplars go to the first bucket whose bound holds them.
			k := 0
			for k < len(exs) && exs[k].Value <= bound {
				k++
			}
			b.sample(f.bucket, "le", b.floatString(bound), ts, value(float64(cum), flags), exs[:k])
			exs = exs[k:]
		}
		b.sample(f.bucket, "le", "+Inf", ts, value(float64(dp.Count()), flags), exs)
	}
}

func (b *batch) addSummaries(f *family, dps pmetric.SummaryDataPointSlice) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !b.point(f.name, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		ts, flags := millis(dp.Timestamp()), dp.Flags()
		b.sample(f.sum, "", "", ts, value(dp.Sum(), flags), nil)
		b.sample(f.count, "", "", ts, value(float64(dp.Count()), flags), nil)
		qs := dp.QuantileValues()
		for j := 0; j < qs.Len(); j++ {
			q := qs.At(j)
			b.sample(f.name, "quantile", b.floatString(q.Quantile()), ts, value(q.Value(), flags), nil)
		}
	}
}

func (b *batch) addExponential(family string, dps pmetric.ExponentialHistogramDataPointSlice) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !validNative(dp) {
			b.drop(ReasonInvalidHistogram, 1)
			continue
		}
		if !b.point(family, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		series := b.seriesFor(family, "", "")
		s := b.s
		s.hists = append(s.hists, b.nativeHistogram(series, dp))
		s.series[series].hists++
		b.addExemplars(series, b.exemplars(dp.Exemplars()))
	}
}

// validNative reports whether Prometheus would take dp as a native
// histogram: a scale of at least -4 (a finer one than 8 is merged down),
// and bucket counts that do not exceed the total count. A point it would
// refuse fails the whole request.
func validNative(dp pmetric.ExponentialHistogramDataPoint) bool {
	if dp.Scale() < minSchema {
		return false
	}
	var inBuckets uint64
	for _, c := range dp.Positive().BucketCounts().All() {
		inBuckets += c
	}
	for _, c := range dp.Negative().BucketCounts().All() {
		inBuckets += c
	}
	return dp.Count() >= inBuckets+dp.ZeroCount()
}

// nativeHistogram converts an exponential histogram point that
// validNative accepts as Prometheus's OTLP endpoint does: the scale is
// the schema (a finer scale than 8 is merged down to 8), buckets are
// delta-encoded in spans, the counter reset is left to Prometheus to
// detect. Its spans and deltas go to the scratch's buffers.
func (b *batch) nativeHistogram(series int32, dp pmetric.ExponentialHistogramDataPoint) pendingHistogram {
	scale := dp.Scale()
	var scaleDown int32
	if scale > maxSchema {
		scaleDown = scale - maxSchema
		scale = maxSchema
	}
	s := b.s
	p := pendingHistogram{series: series, zeroCount: dp.ZeroCount()}
	p.posSpans, p.posDeltas = span{off: int32(len(s.sbuf))}, span{off: int32(len(s.dbuf))}
	s.sbuf, s.dbuf = appendBucketLayout(s.sbuf, s.dbuf, dp.Positive().BucketCounts(), dp.Positive().Offset(), scaleDown)
	p.posSpans.n, p.posDeltas.n = int32(len(s.sbuf))-p.posSpans.off, int32(len(s.dbuf))-p.posDeltas.off
	p.negSpans, p.negDeltas = span{off: int32(len(s.sbuf))}, span{off: int32(len(s.dbuf))}
	s.sbuf, s.dbuf = appendBucketLayout(s.sbuf, s.dbuf, dp.Negative().BucketCounts(), dp.Negative().Offset(), scaleDown)
	p.negSpans.n, p.negDeltas.n = int32(len(s.sbuf))-p.negSpans.off, int32(len(s.dbuf))-p.negDeltas.off
	zt := dp.ZeroThreshold()
	if !(zt > 0) || math.IsInf(zt, 0) {
		zt = defaultZeroThreshold
	}
	p.h = prompb.Histogram{
		Schema:        scale,
		ZeroThreshold: zt,
		ResetHint:     prompb.Histogram_UNKNOWN,
		Timestamp:     millis(dp.Timestamp()),
	}
	if dp.Flags().NoRecordedValue() {
		p.h.Sum = math.Float64frombits(staleNaN)
		p.count = staleNaN
	} else {
		if dp.HasSum() {
			p.h.Sum = dp.Sum()
		}
		p.count = dp.Count()
	}
	return p
}

// bucketLayout turns OTLP bucket counts (index offset+i holds counts[i])
// into native histogram spans and deltas, merging 2^scaleDown neighbouring
// buckets into one; see appendBucketLayout.
func bucketLayout(counts []uint64, offset, scaleDown int32) ([]prompb.BucketSpan, []int64) {
	s := pcommon.NewUInt64Slice()
	s.FromRaw(counts)
	return appendBucketLayout(nil, nil, s, offset, scaleDown)
}

// appendBucketLayout appends to spans and deltas the layout of counts
// (index offset+i holds counts[i]), merging 2^scaleDown neighbouring
// buckets into one. OTLP bucket i covers (base^i, base^(i+1)] and a
// native histogram's bucket i covers (base^(i-1), base^i], hence the +1 on
// every index. Empty buckets are left out: a gap of one or two buckets is
// written as zero deltas inside the current span (cheaper than a new
// span), a longer one starts a new span.
func appendBucketLayout(spans []prompb.BucketSpan, deltas []int64, counts pcommon.UInt64Slice, offset, scaleDown int32) ([]prompb.BucketSpan, []int64) {
	var (
		prevCount int64
		lastIdx   int32 // index of the last bucket written
		cur       int32
		sum       int64
		have      bool
	)
	first := len(spans)
	write := func(idx int32, n int64) {
		switch gap := idx - lastIdx - 1; {
		case len(spans) == first:
			spans = append(spans, prompb.BucketSpan{Offset: idx})
		case gap > 2:
			spans = append(spans, prompb.BucketSpan{Offset: gap})
		default:
			for range gap {
				spans[len(spans)-1].Length++
				deltas = append(deltas, -prevCount)
				prevCount = 0
			}
		}
		spans[len(spans)-1].Length++
		deltas = append(deltas, n-prevCount)
		prevCount, lastIdx = n, idx
	}
	for i, c := range counts.All() {
		idx := (offset+int32(i))>>scaleDown + 1
		if have && idx != cur {
			if sum > 0 {
				write(cur, sum)
			}
			sum = 0
		}
		cur, have = idx, true
		sum += int64(c)
	}
	if have && sum > 0 {
		write(cur, sum)
	}
	return spans, deltas
}

// exemplars converts a point's exemplars, their labels put in lbuf; the
// result is valid until the next call.
func (b *batch) exemplars(es pmetric.ExemplarSlice) []pendingExemplar {
	s := b.s
	s.exs = s.exs[:0]
	for i := 0; i < es.Len(); i++ {
		e := es.At(i)
		var v float64
		switch e.ValueType() {
		case pmetric.ExemplarValueTypeInt:
			v = float64(e.IntValue())
		case pmetric.ExemplarValueTypeDouble:
			v = e.DoubleValue()
		default:
			continue
		}
		ls := s.exLabels[:0]
		runes := 0
		// The IDs' values are set in finish, from one string for all.
		var traceHex, spanHex span
		if id := e.TraceID(); !id.IsEmpty() {
			traceHex = span{int32(len(s.ids)), 32}
			s.ids = hex.AppendEncode(s.ids, id[:])
			ls = append(ls, prompb.Label{Name: otlptranslator.ExemplarTraceIDKey})
			runes += len(otlptranslator.ExemplarTraceIDKey) + 32
		}
		if id := e.SpanID(); !id.IsEmpty() {
			spanHex = span{int32(len(s.ids)), 16}
			s.ids = hex.AppendEncode(s.ids, id[:])
			ls = append(ls, prompb.Label{Name: otlptranslator.ExemplarSpanIDKey})
			runes += len(otlptranslator.ExemplarSpanIDKey) + 16
		}
		extra := 0
		attrs := e.FilteredAttributes()
		for k, v := range attrs.All() {
			extra += utf8.RuneCountInString(k) + utf8.RuneCountInString(b.valueString(v))
		}
		if runes+extra <= maxExemplarRunes {
			for k, v := range attrs.All() {
				name, ok := b.labelName(k)
				if vs := b.valueString(v); ok && vs != "" && !has(ls, name) {
					ls = append(ls, prompb.Label{Name: name, Value: validUTF8(vs)})
				}
			}
		}
		sortLabels(ls)
		s.exLabels = ls
		at := s.addLabels(ls)
		for i, l := range ls {
			switch {
			case l.Name == otlptranslator.ExemplarTraceIDKey && traceHex.n > 0:
				s.idLabels = append(s.idLabels, idLabel{at.off + int32(i), traceHex})
			case l.Name == otlptranslator.ExemplarSpanIDKey && spanHex.n > 0:
				s.idLabels = append(s.idLabels, idLabel{at.off + int32(i), spanHex})
			}
		}
		s.exs = append(s.exs, pendingExemplar{labels: at, Exemplar: prompb.Exemplar{Value: v, Timestamp: millis(e.Timestamp())}})
	}
	return s.exs
}

// addTargetInfo adds, for each resource of md with attributes other than
// those that make job and instance, one target_info sample (value 1) at
// the latest timestamp of the resource's data points, labelled with those
// attributes, job, instance and the external labels.
func (b *batch) addTargetInfo(md pmetric.Metrics) {
	if !b.t.targetInfo {
		return
	}
	s := b.s
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		latest := latestTimestamp(rm)
		if latest == 0 {
			continue
		}
		// Job and instance, not the promoted attributes: target_info
		// carries every attribute anyway.
		b.setResource(rm.Resource())
		b.res.promoted, b.res.invalid = nil, false
		s.attrs = s.attrs[:0]
		for k, v := range rm.Resource().Attributes().All() {
			switch k {
			case attrServiceName, attrServiceNamespace, attrServiceInstance:
			default:
				s.attrs = append(s.attrs, attr{k, b.valueString(v)})
			}
		}
		if len(s.attrs) == 0 {
			continue // job and instance say it all
		}
		var ok bool
		s.base, ok = b.sanitise(s.base[:0], s.attrs)
		if !ok {
			continue
		}
		b.withResource()
		if b.res.job == "" && b.res.instance == "" {
			continue // nothing to join it with
		}
		ts := millis(latest)
		if !b.takePoint(b.t.targetName, ts) {
			continue
		}
		b.sample(b.t.targetName, "", "", ts, 1, nil)
		b.addMetadata(b.t.targetName, prompb.MetricMetadata_GAUGE, "", "Target metadata")
	}
}

// latestTimestamp is the latest timestamp of rm's data points, or 0.
func latestTimestamp(rm pmetric.ResourceMetrics) pcommon.Timestamp {
	var latest pcommon.Timestamp
	sms := rm.ScopeMetrics()
	for j := 0; j < sms.Len(); j++ {
		ms := sms.At(j).Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			switch m.Type() {
			case pmetric.MetricTypeGauge:
				latest = max(latest, latestNumber(m.Gauge().DataPoints()))
			case pmetric.MetricTypeSum:
				latest = max(latest, latestNumber(m.Sum().DataPoints()))
			case pmetric.MetricTypeHistogram:
				dps := m.Histogram().DataPoints()
				for i := 0; i < dps.Len(); i++ {
					latest = max(latest, dps.At(i).Timestamp())
				}
			case pmetric.MetricTypeExponentialHistogram:
				dps := m.ExponentialHistogram().DataPoints()
				for i := 0; i < dps.Len(); i++ {
					latest = max(latest, dps.At(i).Timestamp())
				}
			case pmetric.MetricTypeSummary:
				dps := m.Summary().DataPoints()
				for i := 0; i < dps.Len(); i++ {
					latest = max(latest, dps.At(i).Timestamp())
				}
			}
		}
	}
	return latest
}

func latestNumber(dps pmetric.NumberDataPointSlice) pcommon.Timestamp {
	var latest pcommon.Timestamp
	for i := 0; i < dps.Len(); i++ {
		latest = max(latest, dps.At(i).Timestamp())
	}
	return latest
}

// finish builds the request's series: the labels, samples, histograms
// (with their spans, deltas and counts) and exemplars of all series are
// copied, in the order they were added, into one allocation per kind;
// samples and histograms are then put in time order, as Prometheus
// requires within a request. (Points of one series and timestamp were
// already reduced to one by takePoint.) The batch takes no more data
// afterwards; its scratch goes back to the translator.
func (b *batch) finish() {
	s := b.s
	if s == nil {
		return
	}
	b.s = nil
	defer b.t.release(s)
	if len(s.meta) > 0 {
		b.req.Metadata = slices.Clone(s.meta)
	}
	if len(s.series) == 0 {
		return
	}
	ts := make([]prompb.TimeSeries, len(s.series))
	labels := s.lbuf
	if b.Points > 0 {
		s.labelsPerPoint = float64(len(labels)) / float64(b.Points)
	}
	if len(s.idLabels) > 0 {
		ids := string(s.ids)
		for _, l := range s.idLabels {
			labels[l.label].Value = ids[l.id.off : l.id.off+l.id.n]
		}
	}
	for i, st := range s.series {
		ts[i].Labels = st.labels.of(labels)
	}
	if len(s.samples) > 0 {
		all := make([]prompb.Sample, len(s.samples))
		off := int32(0)
		for i, st := range s.series {
			if st.samples > 0 {
				ts[i].Samples = all[off:off:(off + st.samples)]
				off += st.samples
			}
		}
		for _, p := range s.samples {
			ts[p.series].Samples = append(ts[p.series].Samples, p.Sample)
		}
	}
	if len(s.hists) > 0 {
		all := make([]prompb.Histogram, len(s.hists))
		spans := make([]prompb.BucketSpan, 0, len(s.sbuf))
		deltas := make([]int64, 0, len(s.dbuf))
		// The counts, as the oneof wrappers they must be, in one
		// allocation.
		counts := make([]struct {
			count     prompb.Histogram_CountInt
			zeroCount prompb.Histogram_ZeroCountInt
		}, len(s.hists))
		off := int32(0)
		for i, st := range s.series {
			if st.hists > 0 {
				ts[i].Histograms = all[off:off:(off + st.hists)]
				off += st.hists
			}
		}
		for i, p := range s.hists {
			h := p.h
			c := &counts[i]
			c.count.CountInt, c.zeroCount.ZeroCountInt = p.count, p.zeroCount
			h.Count, h.ZeroCount = &c.count, &c.zeroCount
			h.PositiveSpans, spans = tail(spans, s.sbuf, p.posSpans)
			h.PositiveDeltas, deltas = tail(deltas, s.dbuf, p.posDeltas)
			h.NegativeSpans, spans = tail(spans, s.sbuf, p.negSpans)
			h.NegativeDeltas, deltas = tail(deltas, s.dbuf, p.negDeltas)
			ts[p.series].Histograms = append(ts[p.series].Histograms, h)
		}
	}
	if len(s.exemps) > 0 {
		all := make([]prompb.Exemplar, len(s.exemps))
		off := int32(0)
		for i, st := range s.series {
			if st.exemps > 0 {
				ts[i].Exemplars = all[off:off:(off + st.exemps)]
				off += st.exemps
			}
		}
		for _, p := range s.exemps {
			e := p.Exemplar
			e.Labels = p.labels.of(labels)
			ts[p.series].Exemplars = append(ts[p.series].Exemplars, e)
		}
	}
	for i := range ts {
		t := &ts[i]
		if len(t.Samples) > 1 {
			slices.SortStableFunc(t.Samples, func(x, y prompb.Sample) int { return cmp.Compare(x.Timestamp, y.Timestamp) })
			t.Samples = slices.CompactFunc(t.Samples, func(x, y prompb.Sample) bool { return x.Timestamp == y.Timestamp })
		}
		if len(t.Histograms) > 1 {
			slices.SortStableFunc(t.Histograms, func(x, y prompb.Histogram) int { return cmp.Compare(x.Timestamp, y.Timestamp) })
			t.Histograms = slices.CompactFunc(t.Histograms, func(x, y prompb.Histogram) bool { return x.Timestamp == y.Timestamp })
		}
	}
	b.req.Timeseries = ts
}

// tail appends buf[sp] to dst, whose capacity it must not exceed, and
// returns the appended part (nil if empty) and dst.
func tail[T any](dst []T, buf []T, sp span) ([]T, []T) {
	if sp.n == 0 {
		return nil, dst
	}
	start := len(dst)
	dst = append(dst, buf[sp.off:sp.off+sp.n]...)
	return dst[start:len(dst):len(dst)], dst
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// maxMetaFamilies bounds metaClock's memory: past it, the clock forgets
// every family, which then sends its metadata once more.
const maxMetaFamilies = 1 << 16

// metaClock says when a family's metadata is due again
// (send_metadata_interval). It is shared by the batches of one exporter,
// which may be translated concurrently.
type metaClock struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	sent  map[string]time.Time
}

// due reports whether family's metadata goes in the request being built,
// and if so counts it as sent now.
func (c *metaClock) due(family string) bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.sent[family]; ok && now.Sub(last) < c.every {
		return false
	}
	if len(c.sent) >= maxMetaFamilies {
		clear(c.sent)
	}
	c.sent[family] = now
	return true
}
