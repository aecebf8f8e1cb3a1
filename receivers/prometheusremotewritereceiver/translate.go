package prometheusremotewritereceiver

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// ScopeName is the instrumentation scope of every metric the receiver
// makes.
const ScopeName = "github.com/outpost-edge/outpost/receivers/prometheusremotewritereceiver"

// Resource attributes that job and instance become, as the OpenTelemetry
// Prometheus compatibility specification says.
const (
	attrServiceName     = "service.name"
	attrServiceInstance = "service.instance.id"
)

// Reasons of data points refused during translation (the reason label of
// outpost_receiver_refused_items_total).
const (
	// reasonUnsupported: a native histogram with custom buckets (schema
	// -53) or a float histogram whose counts are not whole numbers: OTLP
	// exponential histograms cannot hold them.
	reasonUnsupported = "unsupported"
	// reasonInvalid: a series without a metric name, or a native
	// histogram whose schema, spans or counts do not add up.
	reasonInvalid = "invalid"
)

// staleNaN is Prometheus's stale marker (model/value.StaleNaN).
const staleNaN uint64 = 0x7ff0000000000002

// kind is the pdata shape of a series' data points.
type kind uint8

const (
	kindGauge kind = iota
	kindCounter
	kindExponential
)

// family is what is known of a metric family's metadata.
type family struct {
	typ  prompb.MetricMetadata_MetricType // UNKNOWN when not known
	unit string
	help string
}

// metadataCache remembers remote-write 1.0 metadata by metric family name,
// up to a fixed number of families (further ones are not remembered).
// Safe for concurrent use.
type metadataCache struct {
	max      int
	mu       sync.RWMutex
	families map[string]family
}

func newMetadataCache(max int) *metadataCache {
	if max <= 0 {
		return nil
	}
	return &metadataCache{max: max, families: map[string]family{}}
}

func (c *metadataCache) put(md []prompb.MetricMetadata) {
	if c == nil || len(md) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range md {
		if m.MetricFamilyName == "" {
			continue
		}
		if _, ok := c.families[m.MetricFamilyName]; !ok && len(c.families) >= c.max {
			continue
		}
		c.families[m.MetricFamilyName] = family{typ: m.Type, unit: m.Unit, help: m.Help}
	}
}

// lookup finds the family of a series name: the name itself (a counter
// scraped from the text format has its family named foo_total), or the
// name without a _total, _bucket, _sum, _count or _created suffix.
func (c *metadataCache) lookup(name string) (family, bool) {
	if c == nil {
		return family{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if f, ok := c.families[name]; ok {
		return f, true
	}
	for _, s := range []string{"_total", "_bucket", "_sum", "_count", "_created"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			if f, ok := c.families[base]; ok {
				return f, true
			}
		}
	}
	return family{}, false
}

// kindOf decides how a float series becomes pdata: a counter (cumulative
// monotonic sum) when its metadata says counter, or no metadata says
// anything and its name ends in _total, provided the name ends in _total
// (outpost's remote-write exporter, as Prometheus's own OTLP endpoint,
// names every monotonic sum with _total, so a counter named otherwise
// would come back renamed); a gauge otherwise.
func kindOf(name string, typ prompb.MetricMetadata_MetricType) kind {
	if !strings.HasSuffix(name, "_total") {
		return kindGauge
	}
	switch typ {
	case prompb.MetricMetadata_COUNTER, prompb.MetricMetadata_UNKNOWN:
		return kindCounter
	}
	return kindGauge
}

// unitOf is the pdata unit of a series: the metadata's unit when the name
// already ends with it (before _total), so that the exporter adds no
// suffix; empty otherwise.
func unitOf(name, unit string) string {
	if unit == "" {
		return ""
	}
	base := strings.TrimSuffix(name, "_total")
	if strings.HasSuffix(base, "_"+unit) {
		return unit
	}
	return ""
}

// result is a request translated to pdata.
type result struct {
	md pmetric.Metrics
	// samples, histograms and exemplars are what md holds: the
	// remote-write 2.0 written counts.
	samples, histograms, exemplars int
	// refused counts the data points left out, by reason.
	refused map[string]int
	// exemplarsDropped counts exemplars left out, by reason.
	exemplarsDropped map[string]int
}

func (r *result) refuse(reason string, n int) {
	if n <= 0 {
		return
	}
	if r.refused == nil {
		r.refused = map[string]int{}
	}
	r.refused[reason] += n
}

func (r *result) dropExemplars(reason string, n int) {
	if n <= 0 {
		return
	}
	if r.exemplarsDropped == nil {
		r.exemplarsDropped = map[string]int{}
	}
	r.exemplarsDropped[reason] += n
}

// Reasons of exemplars left out.
const (
	// exemplarNoPoint: no data point of the exemplar's series is in the
	// same request (Prometheus's remote write 1.0 often sends exemplars
	// in entries of their own), and an OTLP exemplar belongs to a point.
	exemplarNoPoint = "no_data_point"
)

// builder assembles pdata from series: one resource per (job, instance),
// one scope, one metric per (resource, name, kind), one data point per
// sample or histogram.
type builder struct {
	res        result
	resources  map[string]pmetric.MetricSlice
	metrics    map[metricKey]pmetric.Metric
	points     map[string]point // series key → its latest data point
	bucketRoom int              // dense buckets this request may still allocate
	attrs      []label          // scratch
	key        []byte           // scratch
}

type metricKey struct {
	res  string
	name string
	kind kind
}

// point is the latest data point of a series in the request, where its
// exemplars go.
type point struct {
	ts       int64
	number   pmetric.NumberDataPoint
	exp      pmetric.ExponentialHistogramDataPoint
	isNumber bool
}

type label struct{ name, value string }

func newBuilder(bodyBytes int) *builder {
	return &builder{
		res:       result{md: pmetric.NewMetrics()},
		resources: map[string]pmetric.MetricSlice{},
		metrics:   map[metricKey]pmetric.Metric{},
		points:    map[string]point{},
		// Native histograms are stored densely in OTLP: a few bytes of
		// spans can declare a long run of empty buckets. One bucket (8
		// bytes) per 2 bytes of decoded body is within what the memory
		// limit charges for the request (memlimit.Expansion per byte).
		bucketRoom: max(bodyBytes/2, 1024),
	}
}

// series is one remote-write series with its labels resolved.
type series struct {
	labels []label // as sent, __name__ among them
	fam    family
}

// split returns the metric name, the resource key and the attributes
// other than __name__, job and instance.
func (b *builder) split(s series) (name, job, instance string) {
	b.attrs = b.attrs[:0]
	for _, l := range s.labels {
		switch l.name {
		case "__name__":
			name = l.value
		case "job":
			job = l.value
		case "instance":
			instance = l.value
		default:
			if l.value != "" {
				b.attrs = append(b.attrs, l)
			}
		}
	}
	return name, job, instance
}

// seriesKey identifies a series within the request, for its exemplars.
func (b *builder) seriesKey(ls []label) string {
	b.key = b.key[:0]
	for _, l := range ls {
		b.key = append(b.key, l.name...)
		b.key = append(b.key, 0xff)
		b.key = append(b.key, l.value...)
		b.key = append(b.key, 0xfe)
	}
	return string(b.key)
}

func (b *builder) metricSlice(job, instance string) (pmetric.MetricSlice, string) {
	key := job + "\xff" + instance
	if ms, ok := b.resources[key]; ok {
		return ms, key
	}
	rm := b.res.md.ResourceMetrics().AppendEmpty()
	if job != "" {
		rm.Resource().Attributes().PutStr(attrServiceName, job)
	}
	if instance != "" {
		rm.Resource().Attributes().PutStr(attrServiceInstance, instance)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	b.resources[key] = sm.Metrics()
	return sm.Metrics(), key
}

func (b *builder) metric(name string, k kind, fam family, job, instance string) pmetric.Metric {
	ms, rk := b.metricSlice(job, instance)
	mk := metricKey{rk, name, k}
	if m, ok := b.metrics[mk]; ok {
		return m
	}
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(fam.help)
	m.SetUnit(unitOf(name, fam.unit))
	switch k {
	case kindGauge:
		m.SetEmptyGauge()
	case kindCounter:
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case kindExponential:
		m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	}
	b.metrics[mk] = m
	return m
}

func (b *builder) putAttrs(m pcommon.Map) {
	m.EnsureCapacity(len(b.attrs))
	for _, l := range b.attrs {
		m.PutStr(l.name, l.value)
	}
}

func nanos(ms int64) pcommon.Timestamp { return pcommon.Timestamp(ms * 1e6) }

// addSamples adds float samples of a series; start is the start
// timestamp of each sample (nil: none).
func (b *builder) addSamples(s series, n int, at func(i int) (ts int64, v float64, start int64)) {
	if n == 0 {
		return
	}
	name, job, instance := b.split(s)
	if name == "" {
		b.res.refuse(reasonInvalid, n)
		return
	}
	k := kindOf(name, s.fam.typ)
	m := b.metric(name, k, s.fam, job, instance)
	var dps pmetric.NumberDataPointSlice
	if k == kindCounter {
		dps = m.Sum().DataPoints()
	} else {
		dps = m.Gauge().DataPoints()
	}
	key := b.seriesKey(s.labels)
	latest, has := b.points[key]
	for i := range n {
		ts, v, start := at(i)
		dp := dps.AppendEmpty()
		b.putAttrs(dp.Attributes())
		dp.SetTimestamp(nanos(ts))
		if start != 0 {
			dp.SetStartTimestamp(nanos(start))
		}
		dp.SetDoubleValue(v)
		if math.Float64bits(v) == staleNaN {
			dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
		if !has || ts >= latest.ts {
			latest, has = point{ts: ts, number: dp, isNumber: true}, true
		}
	}
	b.points[key] = latest
	b.res.samples += n
}

// nativeHistogram is what remote write 1.0 and 2.0 histograms have in
// common.
type nativeHistogram struct {
	ts, start     int64
	schema        int32
	zeroThreshold float64
	sum           float64
	isFloat       bool
	count         float64 // integer histograms: the integer, as float64 (exact up to 2^53)
	countInt      uint64
	zeroInt       uint64
	zeroFloat     float64
	custom        bool
	posSpans      []bucketSpan
	posDeltas     []int64
	posCounts     []float64
	negSpans      []bucketSpan
	negDeltas     []int64
	negCounts     []float64
}

type bucketSpan struct {
	offset int32
	length uint32
}

func (b *builder) addHistograms(s series, n int, at func(i int) nativeHistogram) {
	if n == 0 {
		return
	}
	name, job, instance := b.split(s)
	if name == "" {
		b.res.refuse(reasonInvalid, n)
		return
	}
	var m pmetric.Metric
	var dps pmetric.ExponentialHistogramDataPointSlice
	key := b.seriesKey(s.labels)
	latest, has := b.points[key]
	for i := range n {
		h := at(i)
		if h.custom {
			b.res.refuse(reasonUnsupported, 1)
			continue
		}
		if h.schema < -4 || h.schema > 8 {
			b.res.refuse(reasonInvalid, 1)
			continue
		}
		if m == (pmetric.Metric{}) {
			m = b.metric(name, kindExponential, s.fam, job, instance)
			dps = m.ExponentialHistogram().DataPoints()
		}
		dp := pmetric.NewExponentialHistogramDataPoint()
		if reason := b.fillExponential(dp, h); reason != "" {
			b.res.refuse(reason, 1)
			continue
		}
		b.putAttrs(dp.Attributes())
		dp.MoveTo(dps.AppendEmpty())
		dp = dps.At(dps.Len() - 1)
		if !has || h.ts >= latest.ts {
			latest, has = point{ts: h.ts, exp: dp}, true
		}
		b.res.histograms++
	}
	if has {
		b.points[key] = latest
	}
}

// fillExponential sets dp from h; it returns the reason when h cannot be
// represented. Prometheus's bucket index i is (base^(i-1), base^i]; OTLP's
// index k is (base^k, base^(k+1)]: k = i-1.
func (b *builder) fillExponential(dp pmetric.ExponentialHistogramDataPoint, h nativeHistogram) string {
	dp.SetTimestamp(nanos(h.ts))
	if h.start != 0 {
		dp.SetStartTimestamp(nanos(h.start))
	}
	dp.SetScale(h.schema)
	dp.SetZeroThreshold(h.zeroThreshold)
	if math.Float64bits(h.sum) == staleNaN {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		return ""
	}
	dp.SetSum(h.sum)
	if h.isFloat {
		c, ok := whole(h.count)
		z, okz := whole(h.zeroFloat)
		if !ok || !okz {
			return reasonUnsupported
		}
		dp.SetCount(c)
		dp.SetZeroCount(z)
	} else {
		dp.SetCount(h.countInt)
		dp.SetZeroCount(h.zeroInt)
	}
	if r := b.fillBuckets(dp.Positive(), h.posSpans, h.posDeltas, h.posCounts, h.isFloat); r != "" {
		return r
	}
	return b.fillBuckets(dp.Negative(), h.negSpans, h.negDeltas, h.negCounts, h.isFloat)
}

// whole converts a float count that must be a non-negative whole number.
func whole(f float64) (uint64, bool) {
	if f < 0 || f != math.Trunc(f) || f > 1<<63 || math.IsNaN(f) {
		return 0, false
	}
	return uint64(f), true
}

func (b *builder) fillBuckets(dst pmetric.ExponentialHistogramDataPointBuckets, spans []bucketSpan, deltas []int64, counts []float64, isFloat bool) string {
	if len(spans) == 0 {
		if len(deltas) != 0 || len(counts) != 0 {
			return reasonInvalid
		}
		return ""
	}
	// Index range and number of buckets.
	var total uint64
	idx := int64(0)
	first, last := int64(0), int64(0)
	for i, sp := range spans {
		if i == 0 {
			idx = int64(sp.offset)
			first = idx
		} else {
			if sp.offset < 0 {
				// Spans after the first are gaps: never backwards.
				return reasonInvalid
			}
			idx += int64(sp.offset)
		}
		if sp.length == 0 {
			continue
		}
		idx += int64(sp.length)
		last = idx - 1
		total += uint64(sp.length)
	}
	if isFloat && uint64(len(counts)) != total || !isFloat && uint64(len(deltas)) != total {
		return reasonInvalid
	}
	if total == 0 {
		return ""
	}
	dense := last - first + 1
	if dense <= 0 || dense > int64(b.bucketRoom) {
		return reasonInvalid
	}
	b.bucketRoom -= int(dense)
	out := make([]uint64, dense)
	idx = 0
	j := 0
	var cur int64
	for i, sp := range spans {
		if i == 0 {
			idx = int64(sp.offset)
		} else {
			idx += int64(sp.offset)
		}
		for range sp.length {
			if isFloat {
				c, ok := whole(counts[j])
				if !ok {
					return reasonUnsupported
				}
				out[idx-first] = c
			} else {
				cur += deltas[j]
				if cur < 0 {
					return reasonInvalid
				}
				out[idx-first] = uint64(cur)
			}
			idx++
			j++
		}
	}
	dst.SetOffset(int32(first - 1))
	dst.BucketCounts().FromRaw(out)
	return ""
}

// addExemplars attaches exemplars to the latest data point of their
// series in the request.
func (b *builder) addExemplars(s series, n int, at func(i int) (ls []label, v float64, ts int64)) {
	if n == 0 {
		return
	}
	p, ok := b.points[b.seriesKey(s.labels)]
	if !ok {
		b.res.dropExemplars(exemplarNoPoint, n)
		return
	}
	var es pmetric.ExemplarSlice
	if p.isNumber {
		es = p.number.Exemplars()
	} else {
		es = p.exp.Exemplars()
	}
	for i := range n {
		ls, v, ts := at(i)
		e := es.AppendEmpty()
		e.SetDoubleValue(v)
		e.SetTimestamp(nanos(ts))
		for _, l := range ls {
			switch {
			case l.name == "trace_id" && len(l.value) == 32:
				var id pcommon.TraceID
				if _, err := hex.Decode(id[:], []byte(l.value)); err == nil {
					e.SetTraceID(id)
					continue
				}
			case l.name == "span_id" && len(l.value) == 16:
				var id pcommon.SpanID
				if _, err := hex.Decode(id[:], []byte(l.value)); err == nil {
					e.SetSpanID(id)
					continue
				}
			}
			e.FilteredAttributes().PutStr(l.name, l.value)
		}
		b.res.exemplars++
	}
}

// translateV1 turns a remote-write 1.0 request into pdata. Metadata in the
// request is remembered in cache first, so that it types its own series.
func translateV1(req *prompb.WriteRequest, cache *metadataCache, bodyBytes int) result {
	cache.put(req.Metadata)
	b := newBuilder(bodyBytes)
	ser := make([]series, len(req.Timeseries))
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		ls := make([]label, len(ts.Labels))
		var name string
		for j, l := range ts.Labels {
			ls[j] = label{l.Name, l.Value}
			if l.Name == "__name__" {
				name = l.Value
			}
		}
		fam, _ := cache.lookup(name)
		ser[i] = series{labels: ls, fam: fam}
		b.addSamples(ser[i], len(ts.Samples), func(j int) (int64, float64, int64) {
			return ts.Samples[j].Timestamp, ts.Samples[j].Value, 0
		})
		b.addHistograms(ser[i], len(ts.Histograms), func(j int) nativeHistogram { return fromV1(&ts.Histograms[j]) })
	}
	// Exemplars after every point, so that an entry carrying only
	// exemplars finds its series' point wherever it is in the request.
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		b.addExemplars(ser[i], len(ts.Exemplars), func(j int) ([]label, float64, int64) {
			e := ts.Exemplars[j]
			ls := make([]label, len(e.Labels))
			for k, l := range e.Labels {
				ls[k] = label{l.Name, l.Value}
			}
			return ls, e.Value, e.Timestamp
		})
	}
	return b.res
}

func fromV1(h *prompb.Histogram) nativeHistogram {
	n := nativeHistogram{
		ts: h.Timestamp, schema: h.Schema, zeroThreshold: h.ZeroThreshold, sum: h.Sum,
		isFloat: h.IsFloatHistogram(), countInt: h.GetCountInt(), count: h.GetCountFloat(),
		zeroInt: h.GetZeroCountInt(), zeroFloat: h.GetZeroCountFloat(),
		custom:    h.Schema == customBucketsSchema || len(h.CustomValues) > 0,
		posDeltas: h.PositiveDeltas, posCounts: h.PositiveCounts,
		negDeltas: h.NegativeDeltas, negCounts: h.NegativeCounts,
	}
	for _, s := range h.PositiveSpans {
		n.posSpans = append(n.posSpans, bucketSpan{s.Offset, s.Length})
	}
	for _, s := range h.NegativeSpans {
		n.negSpans = append(n.negSpans, bucketSpan{s.Offset, s.Length})
	}
	return n
}

// customBucketsSchema is the schema of native histograms with custom
// buckets (NHCB).
const customBucketsSchema = -53

// errSymbol is a remote-write 2.0 reference outside the symbol table.
type errSymbol struct {
	ref uint32
	n   int
}

func (e errSymbol) Error() string {
	return fmt.Sprintf("symbol reference %d outside the symbol table of %d entries", e.ref, e.n)
}

// translateV2 turns a remote-write 2.0 request into pdata. A reference
// outside the symbol table, or labels references not in pairs, make the
// whole request invalid (an error; nothing is translated).
func translateV2(req *writev2.Request, bodyBytes int) (result, error) {
	syms := req.Symbols
	sym := func(ref uint32) (string, error) {
		if int(ref) >= len(syms) {
			return "", errSymbol{ref, len(syms)}
		}
		return syms[ref], nil
	}
	labelsOf := func(refs []uint32) ([]label, error) {
		if len(refs)%2 != 0 {
			return nil, fmt.Errorf("odd number (%d) of label references", len(refs))
		}
		ls := make([]label, len(refs)/2)
		for i := range ls {
			n, err := sym(refs[2*i])
			if err != nil {
				return nil, err
			}
			v, err := sym(refs[2*i+1])
			if err != nil {
				return nil, err
			}
			ls[i] = label{n, v}
		}
		return ls, nil
	}
	// Resolve everything first, so that an invalid request translates to
	// nothing.
	ser := make([]series, len(req.Timeseries))
	exs := make([][][]label, len(req.Timeseries))
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		ls, err := labelsOf(ts.LabelsRefs)
		if err != nil {
			return result{}, fmt.Errorf("timeseries %d: %w", i, err)
		}
		help, err := sym(ts.Metadata.HelpRef)
		if err != nil {
			return result{}, fmt.Errorf("timeseries %d: help: %w", i, err)
		}
		unit, err := sym(ts.Metadata.UnitRef)
		if err != nil {
			return result{}, fmt.Errorf("timeseries %d: unit: %w", i, err)
		}
		ser[i] = series{labels: ls, fam: family{typ: typeV2(ts.Metadata.Type), unit: unit, help: help}}
		for j := range ts.Exemplars {
			els, err := labelsOf(ts.Exemplars[j].LabelsRefs)
			if err != nil {
				return result{}, fmt.Errorf("timeseries %d: exemplar %d: %w", i, j, err)
			}
			exs[i] = append(exs[i], els)
		}
	}
	b := newBuilder(bodyBytes)
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		b.addSamples(ser[i], len(ts.Samples), func(j int) (int64, float64, int64) {
			s := ts.Samples[j]
			return s.Timestamp, s.Value, s.StartTimestamp
		})
		b.addHistograms(ser[i], len(ts.Histograms), func(j int) nativeHistogram { return fromV2(&ts.Histograms[j]) })
	}
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		b.addExemplars(ser[i], len(ts.Exemplars), func(j int) ([]label, float64, int64) {
			return exs[i][j], ts.Exemplars[j].Value, ts.Exemplars[j].Timestamp
		})
	}
	return b.res, nil
}

// typeV2 maps a remote-write 2.0 metric type to remote write 1.0's.
func typeV2(t writev2.Metadata_MetricType) prompb.MetricMetadata_MetricType {
	switch t {
	case writev2.Metadata_METRIC_TYPE_COUNTER:
		return prompb.MetricMetadata_COUNTER
	case writev2.Metadata_METRIC_TYPE_GAUGE:
		return prompb.MetricMetadata_GAUGE
	case writev2.Metadata_METRIC_TYPE_HISTOGRAM:
		return prompb.MetricMetadata_HISTOGRAM
	case writev2.Metadata_METRIC_TYPE_GAUGEHISTOGRAM:
		return prompb.MetricMetadata_GAUGEHISTOGRAM
	case writev2.Metadata_METRIC_TYPE_SUMMARY:
		return prompb.MetricMetadata_SUMMARY
	case writev2.Metadata_METRIC_TYPE_INFO:
		return prompb.MetricMetadata_INFO
	case writev2.Metadata_METRIC_TYPE_STATESET:
		return prompb.MetricMetadata_STATESET
	}
	return prompb.MetricMetadata_UNKNOWN
}

func fromV2(h *writev2.Histogram) nativeHistogram {
	n := nativeHistogram{
		ts: h.Timestamp, start: h.StartTimestamp, schema: h.Schema, zeroThreshold: h.ZeroThreshold, sum: h.Sum,
		isFloat: h.IsFloatHistogram(), countInt: h.GetCountInt(), count: h.GetCountFloat(),
		zeroInt: h.GetZeroCountInt(), zeroFloat: h.GetZeroCountFloat(),
		custom:    h.Schema == customBucketsSchema || len(h.CustomValues) > 0,
		posDeltas: h.PositiveDeltas, posCounts: h.PositiveCounts,
		negDeltas: h.NegativeDeltas, negCounts: h.NegativeCounts,
	}
	for _, s := range h.PositiveSpans {
		n.posSpans = append(n.posSpans, bucketSpan{s.Offset, s.Length})
	}
	for _, s := range h.NegativeSpans {
		n.negSpans = append(n.negSpans, bucketSpan{s.Offset, s.Length})
	}
	return n
}
