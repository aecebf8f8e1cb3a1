package prometheusremotewriteexporter

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/otlptranslator"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
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
	targetName string
}

func newTranslator(c *Config) *translator {
	strategy := otlptranslator.TranslationStrategyOption(c.TranslationStrategy)
	t := &translator{
		namer:      otlptranslator.NewMetricNamer(c.Namespace, strategy),
		labelNamer: otlptranslator.LabelNamer{UTF8Allowed: !strategy.ShouldEscape()},
		promoteAll: c.ResourceToTelemetryConversion,
		targetInfo: c.TargetInfo,
		native:     c.SendNativeHistograms,
		metadata:   c.SendMetadata,
		targetName: otlptranslator.TargetInfoMetricName,
	}
	if c.Namespace != "" {
		t.targetName = c.Namespace + "_" + t.targetName
	}
	for k, v := range c.ExternalLabels {
		t.external = append(t.external, prompb.Label{Name: k, Value: v})
	}
	slices.SortFunc(t.external, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
	if len(c.PromoteResourceAttributes) > 0 {
		t.promote = map[string]bool{}
		for _, a := range c.PromoteResourceAttributes {
			t.promote[a] = true
		}
	}
	return t
}

// batch builds one WriteRequest. Samples of one series are merged into one
// TimeSeries and put in time order when the request is finished.
type batch struct {
	t        *translator
	req      prompb.WriteRequest
	series   map[string]int // label key → index in req.Timeseries
	families map[string]bool
	points   map[uint64]struct{} // (family, labels, timestamp) of points taken
	// Points is the number of OTLP data points translated.
	Points int
	// Dropped counts the data points left out, by reason.
	Dropped map[string]int

	res     resourceLabels
	attrs   []attr
	base    []prompb.Label
	scratch []prompb.Label
	key     []byte
	exs     []prompb.Exemplar
}

// resourceLabels are the labels one resource gives its series.
type resourceLabels struct {
	job, instance string
	promoted      []prompb.Label // sanitised, merged
	invalid       bool           // a promoted attribute has no valid name
}

type attr struct{ key, value string }

func (t *translator) newBatch() *batch {
	return &batch{
		t:        t,
		series:   map[string]int{},
		families: map[string]bool{},
		points:   map[uint64]struct{}{},
		Dropped:  map[string]int{},
	}
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
		b.res.job = v.AsString()
		if ns, ok := attrs.Get(attrServiceNamespace); ok && ns.AsString() != "" {
			b.res.job = ns.AsString() + "/" + b.res.job
		}
	}
	if v, ok := attrs.Get(attrServiceInstance); ok {
		b.res.instance = v.AsString()
	}
	if !b.t.promoteAll && b.t.promote == nil {
		return
	}
	b.attrs = b.attrs[:0]
	attrs.Range(func(k string, v pcommon.Value) bool {
		if b.t.promoteAll || b.t.promote[k] {
			b.attrs = append(b.attrs, attr{k, v.AsString()})
		}
		return true
	})
	var ok bool
	b.res.promoted, ok = b.sanitise(nil, b.attrs)
	b.res.invalid = !ok
}

// sanitise appends to dst the labels of attrs: sorted by attribute key,
// names made valid by the strategy, values made valid UTF-8; attributes
// whose names collide once sanitised are joined with ";" as Prometheus
// does; empty values are left out (an empty label is no label). It
// reports false if a name cannot be made valid.
func (b *batch) sanitise(dst []prompb.Label, attrs []attr) ([]prompb.Label, bool) {
	slices.SortFunc(attrs, func(x, y attr) int { return cmp.Compare(x.key, y.key) })
	start := len(dst)
	for _, a := range attrs {
		if a.value == "" || a.key == "__name__" {
			continue
		}
		name, err := b.t.labelNamer.Build(a.key)
		if err != nil {
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

// pointLabels sets b.base to a data point's labels without __name__:
// attributes, promoted resource attributes, job, instance and external
// labels, sorted. It reports false if a name cannot be made valid.
func (b *batch) pointLabels(attrs pcommon.Map) bool {
	if b.res.invalid {
		return false
	}
	b.attrs = b.attrs[:0]
	attrs.Range(func(k string, v pcommon.Value) bool {
		b.attrs = append(b.attrs, attr{k, v.AsString()})
		return true
	})
	var ok bool
	b.base, ok = b.sanitise(b.base[:0], b.attrs)
	if !ok {
		return false
	}
	b.withResource()
	return true
}

// withResource adds to b.base what the resource and the configuration
// add to every series, then sorts it.
func (b *batch) withResource() {
	n := len(b.base)
	for _, l := range b.res.promoted {
		if !has(b.base[:n], l.Name) {
			b.base = append(b.base, l)
		}
	}
	if b.res.job != "" {
		b.base = set(b.base, "job", b.res.job)
	}
	if b.res.instance != "" {
		b.base = set(b.base, "instance", b.res.instance)
	}
	for _, l := range b.t.external {
		if !has(b.base, l.Name) {
			b.base = append(b.base, l)
		}
	}
	sortLabels(b.base)
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

// setSorted sets name to value in ls, sorted by name, keeping it sorted.
func setSorted(ls []prompb.Label, name, value string) []prompb.Label {
	i, found := slices.BinarySearchFunc(ls, name, func(l prompb.Label, n string) int { return cmp.Compare(l.Name, n) })
	if found {
		ls[i].Value = value
		return ls
	}
	return slices.Insert(ls, i, prompb.Label{Name: name, Value: value})
}

func sortLabels(ls []prompb.Label) {
	slices.SortFunc(ls, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
}

// takePoint reports whether the point of family with b.base at ts is the
// first of its series and timestamp in this batch (and remembers it).
func (b *batch) takePoint(family string, ts int64) bool {
	h := xxhash.New()
	_, _ = h.WriteString(family)
	for _, l := range b.base {
		_, _ = h.Write([]byte{0xff})
		_, _ = h.WriteString(l.Name)
		_, _ = h.Write([]byte{0xfe})
		_, _ = h.WriteString(l.Value)
	}
	var tsb [8]byte
	binary.LittleEndian.PutUint64(tsb[:], uint64(ts))
	_, _ = h.Write(tsb[:])
	k := h.Sum64()
	if _, dup := b.points[k]; dup {
		return false
	}
	b.points[k] = struct{}{}
	return true
}

// seriesFor returns the TimeSeries of b.base plus __name__=name and, when
// extraName is set, extraName=extraValue; it is created on first use.
func (b *batch) seriesFor(name, extraName, extraValue string) *prompb.TimeSeries {
	b.scratch = append(b.scratch[:0], b.base...)
	b.scratch = setSorted(b.scratch, "__name__", name)
	if extraName != "" {
		b.scratch = setSorted(b.scratch, extraName, extraValue)
	}
	b.key = b.key[:0]
	for _, l := range b.scratch {
		b.key = append(b.key, l.Name...)
		b.key = append(b.key, 0xff)
		b.key = append(b.key, l.Value...)
		b.key = append(b.key, 0xff)
	}
	if i, ok := b.series[string(b.key)]; ok {
		return &b.req.Timeseries[i]
	}
	b.series[string(b.key)] = len(b.req.Timeseries)
	b.req.Timeseries = append(b.req.Timeseries, prompb.TimeSeries{Labels: slices.Clone(b.scratch)})
	return &b.req.Timeseries[len(b.req.Timeseries)-1]
}

func (b *batch) sample(name, extraName, extraValue string, ts int64, v float64, exs []prompb.Exemplar) {
	s := b.seriesFor(name, extraName, extraValue)
	s.Samples = append(s.Samples, prompb.Sample{Value: v, Timestamp: ts})
	s.Exemplars = append(s.Exemplars, exs...)
}

func (b *batch) addMetadata(family string, typ prompb.MetricMetadata_MetricType, unit, help string) {
	if !b.t.metadata || b.families[family] {
		return
	}
	b.families[family] = true
	b.req.Metadata = append(b.req.Metadata, prompb.MetricMetadata{
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
	family, err := b.t.namer.Build(tm)
	if err != nil || family == "" {
		b.drop(ReasonInvalidName, n)
		return
	}
	before := b.Points
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		b.addNumbers(family, m.Gauge().DataPoints(), false)
	case pmetric.MetricTypeSum:
		b.addNumbers(family, m.Sum().DataPoints(), m.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		b.addHistograms(family, m.Histogram().DataPoints())
	case pmetric.MetricTypeExponentialHistogram:
		b.addExponential(family, m.ExponentialHistogram().DataPoints())
	case pmetric.MetricTypeSummary:
		b.addSummaries(family, m.Summary().DataPoints())
	}
	if b.Points > before {
		b.addMetadata(family, typ, b.t.unitNamer.Build(m.Unit()), m.Description())
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
		var exs []prompb.Exemplar
		if counter {
			// Prometheus's OTLP endpoint keeps exemplars of counters and
			// histograms only.
			exs = b.exemplars(dp.Exemplars())
		}
		b.sample(family, "", "", millis(dp.Timestamp()), value(v, dp.Flags()), exs)
	}
}

func (b *batch) addHistograms(family string, dps pmetric.HistogramDataPointSlice) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !b.point(family, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		ts, flags := millis(dp.Timestamp()), dp.Flags()
		if dp.HasSum() {
			b.sample(family+"_sum", "", "", ts, value(dp.Sum(), flags), nil)
		}
		b.sample(family+"_count", "", "", ts, value(float64(dp.Count()), flags), nil)
		exs := b.exemplars(dp.Exemplars())
		slices.SortFunc(exs, func(x, y prompb.Exemplar) int { return cmp.Compare(x.Value, y.Value) })
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
			b.sample(family+"_bucket", "le", formatFloat(bound), ts, value(float64(cum), flags), exs[:k])
			exs = exs[k:]
		}
		b.sample(family+"_bucket", "le", "+Inf", ts, value(float64(dp.Count()), flags), exs)
	}
}

func (b *batch) addSummaries(family string, dps pmetric.SummaryDataPointSlice) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if !b.point(family, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		ts, flags := millis(dp.Timestamp()), dp.Flags()
		b.sample(family+"_sum", "", "", ts, value(dp.Sum(), flags), nil)
		b.sample(family+"_count", "", "", ts, value(float64(dp.Count()), flags), nil)
		qs := dp.QuantileValues()
		for j := 0; j < qs.Len(); j++ {
			q := qs.At(j)
			b.sample(family, "quantile", formatFloat(q.Quantile()), ts, value(q.Value(), flags), nil)
		}
	}
}

func (b *batch) addExponential(family string, dps pmetric.ExponentialHistogramDataPointSlice) {
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		h, ok := nativeHistogram(dp)
		if !ok {
			b.drop(ReasonInvalidHistogram, 1)
			continue
		}
		if !b.point(family, dp.Timestamp(), dp.Attributes()) {
			continue
		}
		s := b.seriesFor(family, "", "")
		s.Histograms = append(s.Histograms, h)
		s.Exemplars = append(s.Exemplars, b.exemplars(dp.Exemplars())...)
	}
}

// nativeHistogram converts an exponential histogram point as Prometheus's
// OTLP endpoint does: the scale is the schema (a finer scale than 8 is
// merged down to 8), buckets are delta-encoded in spans, the counter reset
// is left to Prometheus to detect. It reports false for a point Prometheus
// would refuse, which would fail the whole request.
func nativeHistogram(dp pmetric.ExponentialHistogramDataPoint) (prompb.Histogram, bool) {
	scale := dp.Scale()
	if scale < minSchema {
		return prompb.Histogram{}, false
	}
	var scaleDown int32
	if scale > maxSchema {
		scaleDown = scale - maxSchema
		scale = maxSchema
	}
	var inBuckets uint64
	for _, bs := range []pmetric.ExponentialHistogramDataPointBuckets{dp.Positive(), dp.Negative()} {
		for i := 0; i < bs.BucketCounts().Len(); i++ {
			inBuckets += bs.BucketCounts().At(i)
		}
	}
	if dp.Count() < inBuckets+dp.ZeroCount() {
		return prompb.Histogram{}, false
	}
	pSpans, pDeltas := bucketLayout(dp.Positive().BucketCounts().AsRaw(), dp.Positive().Offset(), scaleDown)
	nSpans, nDeltas := bucketLayout(dp.Negative().BucketCounts().AsRaw(), dp.Negative().Offset(), scaleDown)
	zt := dp.ZeroThreshold()
	if !(zt > 0) || math.IsInf(zt, 0) {
		zt = defaultZeroThreshold
	}
	h := prompb.Histogram{
		Schema:         scale,
		ZeroThreshold:  zt,
		ZeroCount:      &prompb.Histogram_ZeroCountInt{ZeroCountInt: dp.ZeroCount()},
		PositiveSpans:  pSpans,
		PositiveDeltas: pDeltas,
		NegativeSpans:  nSpans,
		NegativeDeltas: nDeltas,
		ResetHint:      prompb.Histogram_UNKNOWN,
		Timestamp:      millis(dp.Timestamp()),
	}
	if dp.Flags().NoRecordedValue() {
		h.Sum = math.Float64frombits(staleNaN)
		h.Count = &prompb.Histogram_CountInt{CountInt: staleNaN}
	} else {
		if dp.HasSum() {
			h.Sum = dp.Sum()
		}
		h.Count = &prompb.Histogram_CountInt{CountInt: dp.Count()}
	}
	return h, true
}

// bucketLayout turns OTLP bucket counts (index offset+i holds counts[i])
// into native histogram spans and deltas, merging 2^scaleDown neighbouring
// buckets into one. OTLP bucket i covers (base^i, base^(i+1)] and a native
// histogram's bucket i covers (base^(i-1), base^i], hence the +1 on every
// index. Empty buckets are left out: a gap of one or two buckets is written
// as zero deltas inside the current span (cheaper than a new span), a
// longer one starts a new span.
func bucketLayout(counts []uint64, offset, scaleDown int32) ([]prompb.BucketSpan, []int64) {
	var (
		spans     []prompb.BucketSpan
		deltas    []int64
		prevCount int64
		lastIdx   int32 // index of the last bucket written
	)
	write := func(idx int32, n int64) {
		switch gap := idx - lastIdx - 1; {
		case len(spans) == 0:
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
	var cur int32
	var sum int64
	have := false
	for i, c := range counts {
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

// exemplars converts a point's exemplars; the result is valid until the
// next call.
func (b *batch) exemplars(es pmetric.ExemplarSlice) []prompb.Exemplar {
	b.exs = b.exs[:0]
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
		var ls []prompb.Label
		runes := 0
		if id := e.TraceID(); !id.IsEmpty() {
			ls = append(ls, prompb.Label{Name: otlptranslator.ExemplarTraceIDKey, Value: hex.EncodeToString(id[:])})
			runes += len(otlptranslator.ExemplarTraceIDKey) + 32
		}
		if id := e.SpanID(); !id.IsEmpty() {
			ls = append(ls, prompb.Label{Name: otlptranslator.ExemplarSpanIDKey, Value: hex.EncodeToString(id[:])})
			runes += len(otlptranslator.ExemplarSpanIDKey) + 16
		}
		extra := 0
		e.FilteredAttributes().Range(func(k string, v pcommon.Value) bool {
			extra += utf8.RuneCountInString(k) + utf8.RuneCountInString(v.AsString())
			return true
		})
		if runes+extra <= maxExemplarRunes {
			e.FilteredAttributes().Range(func(k string, v pcommon.Value) bool {
				name, err := b.t.labelNamer.Build(k)
				if err == nil && v.AsString() != "" && !has(ls, name) {
					ls = append(ls, prompb.Label{Name: name, Value: validUTF8(v.AsString())})
				}
				return true
			})
		}
		sortLabels(ls)
		b.exs = append(b.exs, prompb.Exemplar{Labels: ls, Value: v, Timestamp: millis(e.Timestamp())})
	}
	return b.exs
}

// addTargetInfo adds, for each resource of md with attributes other than
// those that make job and instance, one target_info sample (value 1) at
// the latest timestamp of the resource's data points, labelled with those
// attributes, job, instance and the external labels.
func (b *batch) addTargetInfo(md pmetric.Metrics) {
	if !b.t.targetInfo {
		return
	}
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
		b.attrs = b.attrs[:0]
		rm.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			switch k {
			case attrServiceName, attrServiceNamespace, attrServiceInstance:
			default:
				b.attrs = append(b.attrs, attr{k, v.AsString()})
			}
			return true
		})
		if len(b.attrs) == 0 {
			continue // job and instance say it all
		}
		var ok bool
		b.base, ok = b.sanitise(b.base[:0], b.attrs)
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

// finish puts the samples of each series in time order, as Prometheus
// requires within a request. (Points of one series and timestamp were
// already reduced to one by takePoint.)
func (b *batch) finish() {
	for i := range b.req.Timeseries {
		s := &b.req.Timeseries[i]
		slices.SortStableFunc(s.Samples, func(x, y prompb.Sample) int { return cmp.Compare(x.Timestamp, y.Timestamp) })
		slices.SortStableFunc(s.Histograms, func(x, y prompb.Histogram) int { return cmp.Compare(x.Timestamp, y.Timestamp) })
		s.Samples = slices.CompactFunc(s.Samples, func(x, y prompb.Sample) bool { return x.Timestamp == y.Timestamp })
		s.Histograms = slices.CompactFunc(s.Histograms, func(x, y prompb.Histogram) bool { return x.Timestamp == y.Timestamp })
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
