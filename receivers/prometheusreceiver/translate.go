package prometheusreceiver

import (
	"encoding/hex"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/scrape"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Resource attribute keys (OpenTelemetry semantic conventions).
const (
	attrServiceName       = "service.name"
	attrServiceInstanceID = "service.instance.id"
	attrServerAddress     = "server.address"
	attrServerPort        = "server.port"
	attrURLScheme         = "url.scheme"
)

// scopeName is the instrumentation scope of scraped metrics.
const scopeName = "github.com/outpost-edge/outpost/receivers/prometheusreceiver"

// maxDenseBuckets bounds the buckets of one native histogram once its
// sparse spans are laid out densely (OTLP's layout); a wider one is
// refused (reason invalid_histogram). Schema 8 spans 2^8 buckets per power
// of two, so 32768 covers 2^128 of range.
const maxDenseBuckets = 1 << 15

// targetInfo is the metric family whose labels are resource attributes
// (OpenTelemetry Prometheus compatibility specification).
const targetInfo = "target_info"

// translation is the outcome of translating one scrape.
type translation struct {
	md      pmetric.Metrics
	points  int // data points in md
	invalid int // samples refused as malformed (invalid_histogram)
}

// targetAttrs are the resource attributes that come from where the target
// was scraped.
type targetAttrs struct {
	scheme, host string
	port         int64
}

func attrsOf(t *scrape.Target) targetAttrs {
	var ta targetAttrs
	if t == nil {
		return ta
	}
	u := t.URL()
	if u == nil {
		return ta
	}
	ta.scheme = u.Scheme
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		ta.host = u.Host
		return ta
	}
	ta.host = host
	if p, err := strconv.ParseInt(port, 10, 32); err == nil {
		ta.port = p
	}
	return ta
}

type resKey struct{ job, instance string }

type famKey struct {
	name string
	typ  pmetric.MetricType
}

// translator builds the pmetric of one scrape.
type translator struct {
	meta  scrape.MetricMetadataStore // may be nil
	ta    targetAttrs
	res   map[resKey]*resBuilder
	order []*resBuilder
	out   translation
}

type resBuilder struct {
	key      resKey
	info     labels.Labels // target_info labels, if the target exposes them
	families map[famKey]*famBuilder
	order    []*famBuilder
}

type famBuilder struct {
	key        famKey
	unit, help string
	numbers    []*sample // gauge and sum points
	natives    []*sample // exponential and custom-bucket histogram points
	groups     map[string]*group
	gorder     []*group
}

// group gathers the series of one classic histogram or summary point.
type group struct {
	attrs     labels.Labels
	t, st     int64
	stale     bool
	buckets   []bound // histogram: le → cumulative count
	quantiles []bound // summary: quantile → value
	sum       float64
	hasSum    bool
	count     float64
	hasCount  bool
	exemplars []exemplar.Exemplar
}

type bound struct{ at, v float64 }

// translate turns one scrape's samples (target may be nil) into pmetric.
//
// The mapping (OpenTelemetry's Prometheus compatibility specification):
// job and instance become the resource's service.name and
// service.instance.id (one resource per job/instance pair, so that
// honor_labels keeps federated series apart), with server.address,
// server.port and url.scheme of the scrape URL; target_info's labels
// become resource attributes. Counters become monotonic cumulative sums,
// gauges, untyped (unknown), info, stateset and gauge-histogram series
// gauges, classic histograms and summaries one point per label set
// (without le/quantile) from their _bucket/_sum/_count series, native
// histograms exponential histograms (custom-bucket ones explicit-bucket
// histograms). Metric names are the series names Prometheus stores (a
// counter keeps its _total), and a unit is kept only when the name
// carries it, so that a remote-write exporter adding Prometheus's suffixes
// writes the same names. Staleness markers become
// points flagged NoRecordedValue. Start timestamps (OpenMetrics _created,
// protobuf created timestamps) set StartTimestamp; without one it is left
// unset.
func translate(ss []sample, target *scrape.Target, meta scrape.MetricMetadataStore) translation {
	tr := &translator{meta: meta, ta: attrsOf(target), res: map[resKey]*resBuilder{}}
	for i := range ss {
		tr.add(&ss[i])
	}
	tr.build()
	return tr.out
}

func (tr *translator) resource(job, instance string) *resBuilder {
	k := resKey{job, instance}
	rb := tr.res[k]
	if rb == nil {
		rb = &resBuilder{key: k, families: map[famKey]*famBuilder{}}
		tr.res[k] = rb
		tr.order = append(tr.order, rb)
	}
	return rb
}

func (rb *resBuilder) family(name string, typ pmetric.MetricType, s *sample) *famBuilder {
	k := famKey{name, typ}
	fb := rb.families[k]
	if fb == nil {
		fb = &famBuilder{key: k}
		rb.families[k] = fb
		rb.order = append(rb.order, fb)
	}
	if fb.unit == "" && unitInName(name, s.unit) {
		fb.unit = s.unit
	}
	if fb.help == "" {
		fb.help = s.help
	}
	return fb
}

// unitInName reports whether the unit is one of name's "_"-separated
// words. A unit is kept only then: an exporter that adds Prometheus's
// unit suffixes would otherwise write another name than the one the target
// exposes (Prometheus gives `up` the unit "targets").
func unitInName(name, unit string) bool {
	if unit == "" {
		return false
	}
	return slices.Contains(strings.Split(name, "_"), unit)
}

// lookup finds the family and type of a sample appended without metadata
// (a staleness marker): the metadata of the series name, or of the name
// without the suffix its family type gives it.
func (tr *translator) lookup(name string) (string, model.MetricType) {
	if tr.meta == nil {
		return "", ""
	}
	if md, ok := tr.meta.GetMetadata(name); ok && md.Type != "" {
		return name, md.Type
	}
	for _, suf := range []struct {
		s     string
		types []model.MetricType
	}{
		{"_bucket", []model.MetricType{model.MetricTypeHistogram, model.MetricTypeGaugeHistogram}},
		{"_sum", []model.MetricType{model.MetricTypeHistogram, model.MetricTypeSummary}},
		{"_count", []model.MetricType{model.MetricTypeHistogram, model.MetricTypeSummary}},
		{"_total", []model.MetricType{model.MetricTypeCounter}},
		{"_gsum", []model.MetricType{model.MetricTypeGaugeHistogram}},
		{"_gcount", []model.MetricType{model.MetricTypeGaugeHistogram}},
		{"_info", []model.MetricType{model.MetricTypeInfo}},
	} {
		base, ok := strings.CutSuffix(name, suf.s)
		if !ok || base == "" {
			continue
		}
		if md, ok := tr.meta.GetMetadata(base); ok && slices.Contains(suf.types, md.Type) {
			return base, md.Type
		}
	}
	return "", ""
}

// pointAttrs are a series' labels without __name__, job, instance and the
// labels named in drop.
func pointAttrs(ls labels.Labels, drop ...string) labels.Labels {
	b := labels.NewScratchBuilder(ls.Len())
	ls.Range(func(l labels.Label) {
		switch l.Name {
		case model.MetricNameLabel, model.JobLabel, model.InstanceLabel:
			return
		}
		if slices.Contains(drop, l.Name) {
			return
		}
		b.Add(l.Name, l.Value)
	})
	return b.Labels()
}

func (tr *translator) add(s *sample) {
	name := s.ls.Get(model.MetricNameLabel)
	rb := tr.resource(s.ls.Get(model.JobLabel), s.ls.Get(model.InstanceLabel))
	if s.fh != nil {
		typ := pmetric.MetricTypeExponentialHistogram
		if histogram.IsCustomBucketsSchema(s.fh.Schema) {
			typ = pmetric.MetricTypeHistogram
		}
		fb := rb.family(name, typ, s)
		fb.natives = append(fb.natives, s)
		return
	}
	family, typ := s.family, s.typ
	if family == "" || typ == "" {
		family, typ = tr.lookup(name)
	}
	if name == targetInfo || (family == targetInfo && typ != "") {
		if !s.stale() {
			rb.info = pointAttrs(s.ls)
		}
		return
	}
	switch typ {
	case model.MetricTypeCounter:
		fb := rb.family(name, pmetric.MetricTypeSum, s)
		fb.numbers = append(fb.numbers, s)
		return
	case model.MetricTypeHistogram:
		switch name {
		case family + "_bucket":
			le, err := strconv.ParseFloat(s.ls.Get(model.BucketLabel), 64)
			if err != nil {
				break
			}
			g := tr.group(rb, family, pmetric.MetricTypeHistogram, s, model.BucketLabel)
			g.buckets = append(g.buckets, bound{le, s.v})
			g.exemplars = append(g.exemplars, s.exemplars...)
			return
		case family + "_sum":
			g := tr.group(rb, family, pmetric.MetricTypeHistogram, s)
			g.sum, g.hasSum = s.v, true
			return
		case family + "_count":
			g := tr.group(rb, family, pmetric.MetricTypeHistogram, s)
			g.count, g.hasCount = s.v, true
			return
		case family:
			// A float sample with the family's own name: the staleness
			// marker of a native histogram.
			if s.stale() {
				fb := rb.family(name, pmetric.MetricTypeExponentialHistogram, s)
				fb.natives = append(fb.natives, s)
				return
			}
		}
	case model.MetricTypeSummary:
		switch name {
		case family:
			q, err := strconv.ParseFloat(s.ls.Get(model.QuantileLabel), 64)
			if err != nil {
				break
			}
			g := tr.group(rb, family, pmetric.MetricTypeSummary, s, model.QuantileLabel)
			g.quantiles = append(g.quantiles, bound{q, s.v})
			return
		case family + "_sum":
			g := tr.group(rb, family, pmetric.MetricTypeSummary, s)
			g.sum, g.hasSum = s.v, true
			return
		case family + "_count":
			g := tr.group(rb, family, pmetric.MetricTypeSummary, s)
			g.count, g.hasCount = s.v, true
			return
		}
	}
	// Gauges, unknown (untyped), info, stateset and gauge histogram
	// series, and series that do not fit their family's type.
	fb := rb.family(name, pmetric.MetricTypeGauge, s)
	fb.numbers = append(fb.numbers, s)
}

// group returns the histogram or summary point s belongs to.
func (tr *translator) group(rb *resBuilder, family string, typ pmetric.MetricType, s *sample, drop ...string) *group {
	fb := rb.family(family, typ, s)
	attrs := pointAttrs(s.ls, drop...)
	k := attrs.String()
	if fb.groups == nil {
		fb.groups = map[string]*group{}
	}
	g := fb.groups[k]
	if g == nil {
		g = &group{attrs: attrs}
		fb.groups[k] = g
		fb.gorder = append(fb.gorder, g)
	}
	g.t = max(g.t, s.t)
	if s.st != 0 {
		g.st = s.st
	}
	if s.stale() {
		g.stale = true
	}
	return g
}

func (tr *translator) build() {
	md := pmetric.NewMetrics()
	for _, rb := range tr.order {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		rb.info.Range(func(l labels.Label) { ra.PutStr(l.Name, l.Value) })
		if rb.key.job != "" {
			ra.PutStr(attrServiceName, rb.key.job)
		}
		if rb.key.instance != "" {
			ra.PutStr(attrServiceInstanceID, rb.key.instance)
		}
		if tr.ta.host != "" {
			ra.PutStr(attrServerAddress, tr.ta.host)
		}
		if tr.ta.port != 0 {
			ra.PutInt(attrServerPort, tr.ta.port)
		}
		if tr.ta.scheme != "" {
			ra.PutStr(attrURLScheme, tr.ta.scheme)
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		ms := sm.Metrics()
		ms.EnsureCapacity(len(rb.order))
		for _, fb := range rb.order {
			tr.buildFamily(ms, fb)
		}
	}
	// A resource whose series were all target_info (or malformed) has
	// nothing to carry.
	md.ResourceMetrics().RemoveIf(func(x pmetric.ResourceMetrics) bool {
		return x.ScopeMetrics().At(0).Metrics().Len() == 0
	})
	tr.out.md = md
}

func putAttrs(m pcommon.Map, ls labels.Labels) {
	m.EnsureCapacity(ls.Len())
	ls.Range(func(l labels.Label) { m.PutStr(l.Name, l.Value) })
}

func ts(ms int64) pcommon.Timestamp { return pcommon.Timestamp(ms * 1e6) }

func (tr *translator) buildFamily(ms pmetric.MetricSlice, fb *famBuilder) {
	m := pmetric.NewMetric()
	m.SetName(fb.key.name)
	m.SetUnit(fb.unit)
	m.SetDescription(fb.help)
	switch fb.key.typ {
	case pmetric.MetricTypeGauge:
		dps := m.SetEmptyGauge().DataPoints()
		dps.EnsureCapacity(len(fb.numbers))
		for _, s := range fb.numbers {
			numberPoint(dps.AppendEmpty(), s, false)
		}
	case pmetric.MetricTypeSum:
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := sum.DataPoints()
		dps.EnsureCapacity(len(fb.numbers))
		for _, s := range fb.numbers {
			numberPoint(dps.AppendEmpty(), s, true)
		}
	case pmetric.MetricTypeHistogram:
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := h.DataPoints()
		for _, g := range fb.gorder {
			classicHistogramPoint(dps.AppendEmpty(), g)
		}
		for _, s := range fb.natives {
			if !customBucketsPoint(dps, s) {
				tr.out.invalid++
			}
		}
	case pmetric.MetricTypeSummary:
		dps := m.SetEmptySummary().DataPoints()
		for _, g := range fb.gorder {
			summaryPoint(dps.AppendEmpty(), g)
		}
	case pmetric.MetricTypeExponentialHistogram:
		eh := m.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dps := eh.DataPoints()
		for _, s := range fb.natives {
			if !exponentialPoint(dps, s) {
				tr.out.invalid++
			}
		}
	}
	n := pointsOf(m)
	if n == 0 {
		return
	}
	tr.out.points += n
	m.MoveTo(ms.AppendEmpty())
}

func pointsOf(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	}
	return 0
}

// putSeriesAttrs puts a series' labels, but __name__, job and instance,
// into m.
func putSeriesAttrs(m pcommon.Map, ls labels.Labels) {
	m.EnsureCapacity(ls.Len())
	ls.Range(func(l labels.Label) {
		switch l.Name {
		case model.MetricNameLabel, model.JobLabel, model.InstanceLabel:
			return
		}
		m.PutStr(l.Name, l.Value)
	})
}

func numberPoint(dp pmetric.NumberDataPoint, s *sample, cumulative bool) {
	putSeriesAttrs(dp.Attributes(), s.ls)
	dp.SetTimestamp(ts(s.t))
	if cumulative && s.st != 0 {
		dp.SetStartTimestamp(ts(s.st))
	}
	if s.stale() {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		dp.SetDoubleValue(0)
		return
	}
	dp.SetDoubleValue(s.v)
	addExemplars(dp.Exemplars(), s.exemplars)
}

// toCount converts a Prometheus count (a float) to an OTLP count.
func toCount(f float64) uint64 {
	if !(f > 0) || math.IsInf(f, 0) {
		return 0
	}
	if f >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(f)
}

func classicHistogramPoint(dp pmetric.HistogramDataPoint, g *group) {
	putAttrs(dp.Attributes(), g.attrs)
	dp.SetTimestamp(ts(g.t))
	if g.st != 0 {
		dp.SetStartTimestamp(ts(g.st))
	}
	slices.SortFunc(g.buckets, func(a, b bound) int { return cmpFloat(a.at, b.at) })
	bounds := make([]float64, 0, len(g.buckets))
	counts := make([]uint64, 0, len(g.buckets)+1)
	var prev float64
	var total float64
	for _, b := range g.buckets {
		if math.IsInf(b.at, 1) {
			total = b.v
			continue
		}
		if math.IsNaN(b.at) {
			continue
		}
		bounds = append(bounds, b.at)
		counts = append(counts, toCount(b.v-prev))
		prev = max(prev, b.v)
		total = max(total, b.v)
	}
	if g.hasCount {
		total = g.count
	}
	if len(g.buckets) > 0 {
		counts = append(counts, toCount(total-prev))
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(counts)
	}
	if g.stale {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		dp.BucketCounts().FromRaw(make([]uint64, len(counts)))
		if g.hasSum {
			dp.SetSum(0)
		}
		return
	}
	dp.SetCount(toCount(total))
	if g.hasSum {
		dp.SetSum(g.sum)
	}
	if len(g.exemplars) > 0 {
		slices.SortFunc(g.exemplars, exemplar.Compare)
		addExemplars(dp.Exemplars(), g.exemplars)
	}
}

func summaryPoint(dp pmetric.SummaryDataPoint, g *group) {
	putAttrs(dp.Attributes(), g.attrs)
	dp.SetTimestamp(ts(g.t))
	if g.st != 0 {
		dp.SetStartTimestamp(ts(g.st))
	}
	slices.SortFunc(g.quantiles, func(a, b bound) int { return cmpFloat(a.at, b.at) })
	qs := dp.QuantileValues()
	qs.EnsureCapacity(len(g.quantiles))
	for _, q := range g.quantiles {
		qv := qs.AppendEmpty()
		qv.SetQuantile(q.at)
		if !g.stale {
			qv.SetValue(q.v)
		}
	}
	if g.stale {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		return
	}
	dp.SetSum(g.sum)
	dp.SetCount(toCount(g.count))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// validNative reports whether a native histogram's layout is consistent
// (spans against buckets), so that iterating it is safe.
func validNative(fh *histogram.FloatHistogram) bool {
	return fh.Validate() == nil
}

// customBucketsPoint appends a custom-bucket native histogram (NHCB) as
// an explicit-bucket point. It reports false, appending nothing, for a
// malformed histogram.
func customBucketsPoint(dps pmetric.HistogramDataPointSlice, s *sample) bool {
	fh := s.fh
	if !validNative(fh) || len(fh.CustomValues) >= maxDenseBuckets {
		return false
	}
	counts := make([]uint64, len(fh.CustomValues)+1)
	it := fh.PositiveBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Index < 0 || int(b.Index) >= len(counts) {
			return false
		}
		counts[b.Index] = toCount(b.Count)
	}
	dp := dps.AppendEmpty()
	putSeriesAttrs(dp.Attributes(), s.ls)
	dp.SetTimestamp(ts(s.t))
	if s.st != 0 {
		dp.SetStartTimestamp(ts(s.st))
	}
	dp.ExplicitBounds().FromRaw(fh.CustomValues)
	if s.stale() {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		dp.BucketCounts().FromRaw(make([]uint64, len(counts)))
		return true
	}
	dp.BucketCounts().FromRaw(counts)
	dp.SetCount(toCount(fh.Count))
	dp.SetSum(fh.Sum)
	addExemplars(dp.Exemplars(), s.exemplars)
	return true
}

// exponentialPoint appends a native histogram (or the staleness marker of
// one, s.fh nil) as an exponential histogram point. Prometheus's bucket i
// covers (base^(i-1), base^i] and OTLP's bucket i (base^i, base^(i+1)],
// hence the offset one below the first Prometheus index. It reports false,
// appending nothing, for a malformed histogram.
func exponentialPoint(dps pmetric.ExponentialHistogramDataPointSlice, s *sample) bool {
	fh := s.fh
	if fh == nil {
		dp := dps.AppendEmpty()
		putSeriesAttrs(dp.Attributes(), s.ls)
		dp.SetTimestamp(ts(s.t))
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		return true
	}
	if !validNative(fh) || fh.Schema < histogram.ExponentialSchemaMin || fh.Schema > histogram.ExponentialSchemaMax {
		return false
	}
	pos, posOff, ok := dense(fh.PositiveBucketIterator())
	if !ok {
		return false
	}
	neg, negOff, ok := dense(fh.NegativeBucketIterator())
	if !ok {
		return false
	}
	dp := dps.AppendEmpty()
	putSeriesAttrs(dp.Attributes(), s.ls)
	dp.SetTimestamp(ts(s.t))
	if s.st != 0 {
		dp.SetStartTimestamp(ts(s.st))
	}
	dp.SetScale(fh.Schema)
	dp.SetZeroThreshold(fh.ZeroThreshold)
	if s.stale() {
		dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		return true
	}
	dp.SetZeroCount(toCount(fh.ZeroCount))
	dp.SetCount(toCount(fh.Count))
	dp.SetSum(fh.Sum)
	dp.Positive().SetOffset(posOff)
	dp.Positive().BucketCounts().FromRaw(pos)
	dp.Negative().SetOffset(negOff)
	dp.Negative().BucketCounts().FromRaw(neg)
	addExemplars(dp.Exemplars(), s.exemplars)
	return true
}

// dense lays a native histogram's sparse buckets out densely from the
// first populated index, and returns the OTLP offset.
func dense(it histogram.BucketIterator[float64]) ([]uint64, int32, bool) {
	var out []uint64
	var first int32
	started := false
	for it.Next() {
		b := it.At()
		if !started {
			first, started = b.Index, true
		}
		i := int64(b.Index) - int64(first)
		if i < 0 || i >= maxDenseBuckets {
			return nil, 0, false
		}
		for int64(len(out)) < i {
			out = append(out, 0)
		}
		out = append(out, toCount(b.Count))
	}
	if !started {
		return nil, 0, true
	}
	return out, first - 1, true
}

// addExemplars converts exemplars: trace_id and span_id (hex) become the
// exemplar's trace and span ids, the other labels its filtered
// attributes.
func addExemplars(dst pmetric.ExemplarSlice, exs []exemplar.Exemplar) {
	if len(exs) == 0 {
		return
	}
	dst.EnsureCapacity(len(exs))
	for _, e := range exs {
		x := dst.AppendEmpty()
		x.SetDoubleValue(e.Value)
		if e.HasTs {
			x.SetTimestamp(ts(e.Ts))
		}
		fa := x.FilteredAttributes()
		e.Labels.Range(func(l labels.Label) {
			switch l.Name {
			case "trace_id":
				var id pcommon.TraceID
				if b, err := hex.DecodeString(l.Value); err == nil && len(b) == len(id) {
					copy(id[:], b)
					x.SetTraceID(id)
					return
				}
			case "span_id":
				var id pcommon.SpanID
				if b, err := hex.DecodeString(l.Value); err == nil && len(b) == len(id) {
					copy(id[:], b)
					x.SetSpanID(id)
					return
				}
			}
			fa.PutStr(l.Name, l.Value)
		})
	}
}
