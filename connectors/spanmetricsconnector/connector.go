package spanmetricsconnector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lightstep/go-expohisto/structure"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/attrkey"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Overflow and drop reasons (label values).
const (
	reasonLimit         = "limit"
	reasonMaxSeries     = "max_series"
	reasonMemoryLimit   = "memory_limit"
	reasonResourceLimit = "resource_limit"
	reasonRefused       = "refused"
	reasonShutdown      = "shutdown"
	reasonExpired       = "expired"
)

// OverflowAttribute is the attribute of overflow series (and of the
// overflow resource), as the OpenTelemetry metrics SDK names it.
const OverflowAttribute = "otel.metric.overflow"

// unknownService is service.name for spans whose resource has none, as
// the OpenTelemetry SDKs default it.
const unknownService = "unknown_service"

var (
	errShutdown = consumererror.NewRetryableError(errors.New("spanmetrics connector is shut down"))
	errNoNext   = errors.New("spanmetrics connector: no metrics pipeline takes data from it")
)

// telemetry is the connector's metric handles; nil without telemetry.
type telemetry struct {
	spans          prometheus.Counter
	overflow       map[string]prometheus.Counter // metric/reason
	dropped        map[string]prometheus.Counter // reason
	refusedFlushes prometheus.Counter
	series         prometheus.Gauge
	stateBytes     prometheus.Gauge
}

func (t *telemetry) add(c prometheus.Counter, n uint64) {
	if c != nil && n > 0 {
		c.Add(float64(n))
	}
}

// connector is the spanmetrics connector.
type connector struct {
	cfg       Config
	next      consumer.Metrics
	logger    *slog.Logger
	tel       telemetry
	hist      histogramKind
	bounds    []float64 // explicit histogram bounds, in the unit
	dims      []Dimension
	excluded  map[string]bool
	delta     bool
	exemplars int // max per point; 0: off

	mu        sync.Mutex
	enc       attrkey.Encoder
	resources map[string]*resource
	overflowR *resource // resource of spans no resource slot was found for
	nSeries   int       // all series, overflow series excluded
	nOverflow int       // overflow series
	empty     pcommon.Map
	bytes     int64
	charge    *memlimit.Charge // nil: no memory limit
	closed    bool
	started   bool
	aborted   bool   // Shutdown's deadline passed during a flush
	inflight  uint64 // undelivered spans in the flush in flight

	flushMu sync.Mutex // one flush at a time
	cancel  context.CancelFunc
	done    chan struct{}
}

func newConnector(set pipeline.Settings, cfg pipeline.Config, next pipeline.Consumers) (*connector, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("spanmetrics connector: config is %T, want *spanmetricsconnector.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next.Metrics == nil {
		return nil, errNoNext
	}
	k := &connector{
		cfg:       *c,
		next:      next.Metrics,
		logger:    set.Logger,
		hist:      c.histogramKind(),
		dims:      c.Dimensions,
		excluded:  map[string]bool{},
		delta:     c.AggregationTemporality == TemporalityDelta,
		resources: map[string]*resource{},
		empty:     pcommon.NewMap(),
	}
	if k.hist == histExplicit {
		k.bounds = c.bounds()
	}
	if c.Exemplars.Enabled {
		k.exemplars = c.Exemplars.MaxPerDataPoint
	}
	for _, d := range c.ExcludeDimensions {
		k.excluded[d] = true
	}
	if k.logger == nil {
		k.logger = slog.New(slog.DiscardHandler)
	}
	if set.Memory != nil {
		ch, err := set.Memory.Admit(0)
		if err != nil {
			return nil, fmt.Errorf("spanmetrics connector: memory charge: %w", err)
		}
		k.charge = ch
	}
	if tel := set.Telemetry; tel != nil {
		id := set.ID.String()
		sm := tel.SpanMetrics
		k.tel = telemetry{
			spans:          sm.Spans.WithLabelValues(id),
			overflow:       map[string]prometheus.Counter{},
			dropped:        map[string]prometheus.Counter{},
			refusedFlushes: sm.RefusedFlushes.WithLabelValues(id),
			series:         sm.Series.WithLabelValues(id),
			stateBytes:     sm.StateBytes.WithLabelValues(id),
		}
		for _, m := range []string{"calls", "events"} {
			for _, r := range []string{reasonLimit, reasonMaxSeries, reasonMemoryLimit, reasonResourceLimit} {
				k.tel.overflow[m+"/"+r] = sm.Overflow.WithLabelValues(id, m, r)
			}
		}
		for _, r := range []string{reasonRefused, reasonShutdown, reasonExpired} {
			k.tel.dropped[r] = sm.Dropped.WithLabelValues(id, r)
		}
	}
	return k, nil
}

// Capabilities reports that the connector does not change the spans it
// reads; the metrics it sends are its own.
func (k *connector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start launches the flush loop, which flushes every
// metrics_flush_interval from Start (not aligned to the wall clock).
func (k *connector) Start(context.Context, pipeline.Host) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.started || k.closed {
		return nil
	}
	k.started = true
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	k.done = make(chan struct{})
	go k.loop(ctx)
	return nil
}

func (k *connector) loop(ctx context.Context) {
	defer close(k.done)
	t := time.NewTicker(k.cfg.MetricsFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.flush(ctx, false) // counted and logged by flush
		}
	}
}

// Shutdown stops the flush loop and flushes once more within ctx. Spans
// that flush cannot deliver are counted as dropped (reason shutdown).
// Later calls to ConsumeTraces get a retryable error.
func (k *connector) Shutdown(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	cancel, done := k.cancel, k.done
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.charge.Release()
		k.mu.Unlock()
	}()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			k.dropAll()
			return ctx.Err()
		}
	}
	return k.flush(ctx, true)
}

// dropAll counts every undelivered span as dropped at shutdown, but those
// of a flush in flight: that flush counts them if it fails.
func (k *connector) dropAll() {
	k.mu.Lock()
	k.aborted = true
	var n uint64
	for _, r := range k.allResources() {
		for _, s := range r.series {
			if s.kind == kindSpan {
				n += s.pending
			}
			s.pending = 0
		}
	}
	n -= min(n, k.inflight)
	k.mu.Unlock()
	k.tel.add(k.tel.dropped[reasonShutdown], n)
}

// allResources returns the resources, the overflow resource last.
func (k *connector) allResources() []*resource {
	out := make([]*resource, 0, len(k.resources)+1)
	for _, r := range k.resources {
		out = append(out, r)
	}
	if k.overflowR != nil {
		out = append(out, k.overflowR)
	}
	return out
}

// ConsumeTraces counts every span (and, with events enabled, every span
// event) into its series. It never fails except after Shutdown.
func (k *connector) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	now := time.Now().UnixNano()
	overflow := map[string]uint64{}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return errShutdown
	}
	var spans uint64
	for _, rs := range td.ResourceSpans().All() {
		var r *resource
		resReason := ""
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				if r == nil {
					r, resReason = k.resourceLocked(rs)
				}
				spans++
				k.countSpanLocked(r, resReason, rs.Resource().Attributes(), sp, now, overflow)
			}
		}
	}
	k.reportLocked()
	k.mu.Unlock()
	k.tel.add(k.tel.spans, spans)
	for key, n := range overflow {
		k.tel.add(k.tel.overflow[key], n)
	}
	return nil
}

// resourceLocked returns the resource for rs, creating it if there is room;
// else the overflow resource and the reason.
func (k *connector) resourceLocked(rs ptrace.ResourceSpans) (*resource, string) {
	attrs := rs.Resource().Attributes()
	k.enc.Reset()
	if len(k.cfg.ResourceMetricsKeyAttributes) == 0 {
		k.enc.Map(attrs)
	} else {
		for _, name := range k.cfg.ResourceMetricsKeyAttributes {
			if v, ok := attrs.Get(name); ok {
				k.enc.Buf = append(k.enc.Buf, 1)
				k.enc.Value(v)
			} else {
				k.enc.Buf = append(k.enc.Buf, 0)
			}
		}
	}
	if r, ok := k.resources[string(k.enc.Buf)]; ok {
		return r, ""
	}
	reason := ""
	size := resourceOverhead + 3*int64(len(k.enc.Buf))
	switch {
	case len(k.resources) >= k.cfg.ResourceMetricsCacheSize:
		reason = reasonResourceLimit
	case !k.reserveLocked(size):
		reason = reasonMemoryLimit
	}
	if reason != "" {
		if k.overflowR == nil {
			k.overflowR = &resource{key: "", attrs: pcommon.NewMap(), series: map[string]*series{}, overflow: true, bytes: resourceOverhead}
			k.overflowR.attrs.PutBool(OverflowAttribute, true)
			k.forceLocked(resourceOverhead)
		}
		return k.overflowR, reason
	}
	r := &resource{key: string(k.enc.Buf), attrs: pcommon.NewMap(), schema: rs.SchemaUrl(), series: map[string]*series{}, bytes: size}
	attrs.CopyTo(r.attrs)
	k.resources[r.key] = r
	return r, ""
}

// countSpanLocked counts sp (and its events) in r.
func (k *connector) countSpanLocked(r *resource, resReason string, resAttrs pcommon.Map, sp ptrace.Span, now int64, overflow map[string]uint64) {
	d := 0.0
	if end, start := sp.EndTimestamp(), sp.StartTimestamp(); end > start {
		d = k.cfg.inUnit(time.Duration(end - start))
	}
	k.spanKeyLocked(resAttrs, sp)
	s, created := k.seriesLocked(r, resReason, kindSpan, now, overflow)
	if created {
		k.spanAttrs(s.attrs, resAttrs, sp)
	}
	s.acc.add(d, k.bounds)
	s.pending++
	s.lastSeen = now
	if k.exemplars > 0 && !sp.TraceID().IsEmpty() {
		s.addExemplar(exemplar{traceID: sp.TraceID(), spanID: sp.SpanID(), time: sp.EndTimestamp(), value: d}, k.exemplars)
	}
	if !k.cfg.Events.Enabled {
		return
	}
	for _, ev := range sp.Events().All() {
		k.spanKeyLocked(resAttrs, sp)
		k.enc.Buf[0] = byte(kindEvent)
		k.dimsKey(k.cfg.Events.Dimensions, ev.Attributes(), k.empty)
		es, created := k.seriesLocked(r, resReason, kindEvent, now, overflow)
		if created {
			k.spanAttrs(es.attrs, resAttrs, sp)
			putDims(es.attrs, k.cfg.Events.Dimensions, ev.Attributes(), k.empty)
		}
		es.acc.calls++
		es.pending++
		es.lastSeen = now
	}
}

// spanKeyLocked writes the series key of sp to k.enc.Buf: kind, then each
// default dimension that is not excluded, then each configured one.
func (k *connector) spanKeyLocked(resAttrs pcommon.Map, sp ptrace.Span) {
	k.enc.Reset()
	k.enc.Buf = append(k.enc.Buf, byte(kindSpan))
	if !k.excluded[DimServiceName] {
		k.enc.Str(serviceName(resAttrs))
	}
	if !k.excluded[DimSpanName] {
		k.enc.Str(sp.Name())
	}
	if !k.excluded[DimSpanKind] {
		k.enc.Buf = append(k.enc.Buf, byte(sp.Kind()))
	}
	if !k.excluded[DimStatusCode] {
		k.enc.Buf = append(k.enc.Buf, byte(sp.Status().Code()))
	}
	k.dimsKey(k.dims, sp.Attributes(), resAttrs)
}

// dimsKey appends the values of dims, looked up in first then second.
func (k *connector) dimsKey(dims []Dimension, first, second pcommon.Map) {
	for _, dim := range dims {
		v, ok := first.Get(dim.Name)
		if !ok {
			v, ok = second.Get(dim.Name)
		}
		switch {
		case ok:
			k.enc.Buf = append(k.enc.Buf, 1)
			k.enc.Value(v)
		case dim.Default != nil:
			k.enc.Buf = append(k.enc.Buf, 2)
			k.enc.Str(*dim.Default)
		default:
			k.enc.Buf = append(k.enc.Buf, 0)
		}
	}
}

// spanAttrs writes the attributes of sp's series to m.
func (k *connector) spanAttrs(m pcommon.Map, resAttrs pcommon.Map, sp ptrace.Span) {
	if !k.excluded[DimServiceName] {
		m.PutStr(DimServiceName, serviceName(resAttrs))
	}
	if !k.excluded[DimSpanName] {
		m.PutStr(DimSpanName, sp.Name())
	}
	if !k.excluded[DimSpanKind] {
		m.PutStr(DimSpanKind, spanKindString(sp.Kind()))
	}
	if !k.excluded[DimStatusCode] {
		m.PutStr(DimStatusCode, statusCodeString(sp.Status().Code()))
	}
	putDims(m, k.dims, sp.Attributes(), resAttrs)
}

func putDims(m pcommon.Map, dims []Dimension, first, second pcommon.Map) {
	for _, dim := range dims {
		v, ok := first.Get(dim.Name)
		if !ok {
			v, ok = second.Get(dim.Name)
		}
		switch {
		case ok:
			v.CopyTo(m.PutEmpty(dim.Name))
		case dim.Default != nil:
			m.PutStr(dim.Name, *dim.Default)
		}
	}
}

func serviceName(resAttrs pcommon.Map) string {
	if v, ok := resAttrs.Get(DimServiceName); ok {
		return v.AsString()
	}
	return unknownService
}

// spanKindString and statusCodeString name kinds and codes as the
// Collector's connector does (the OTLP enum names).
func spanKindString(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindInternal:
		return "SPAN_KIND_INTERNAL"
	case ptrace.SpanKindServer:
		return "SPAN_KIND_SERVER"
	case ptrace.SpanKindClient:
		return "SPAN_KIND_CLIENT"
	case ptrace.SpanKindProducer:
		return "SPAN_KIND_PRODUCER"
	case ptrace.SpanKindConsumer:
		return "SPAN_KIND_CONSUMER"
	}
	return "SPAN_KIND_UNSPECIFIED"
}

func statusCodeString(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "STATUS_CODE_OK"
	case ptrace.StatusCodeError:
		return "STATUS_CODE_ERROR"
	}
	return "STATUS_CODE_UNSET"
}

// seriesLocked returns the series of r whose key is in k.enc.Buf, creating
// it if there is room (created: the caller fills its attributes), else r's
// overflow series of that kind. resReason, when set, sends everything to
// the overflow series for that reason.
func (k *connector) seriesLocked(r *resource, resReason string, kind seriesKind, now int64, overflow map[string]uint64) (s *series, created bool) {
	if resReason == "" {
		if s, ok := r.series[string(k.enc.Buf)]; ok {
			return s, false
		}
	}
	reason := resReason
	if reason == "" {
		n := r.spans
		if kind == kindEvent {
			n = r.events
		}
		size := k.seriesSize(kind) + 2*int64(len(k.enc.Buf))
		switch {
		case k.cfg.AggregationCardinalityLimit > 0 && n >= k.cfg.AggregationCardinalityLimit:
			reason = reasonLimit
		case k.nSeries >= k.cfg.MaxSeries:
			reason = reasonMaxSeries
		case !k.reserveLocked(size):
			reason = reasonMemoryLimit
		}
		if reason == "" {
			s := k.newSeries(string(k.enc.Buf), kind, now)
			s.bytes = size
			r.series[s.key] = s
			r.bytes += size
			k.nSeries++
			if kind == kindEvent {
				r.events++
			} else {
				r.spans++
			}
			return s, true
		}
	}
	metric := "calls"
	if kind == kindEvent {
		metric = "events"
	}
	overflow[metric+"/"+reason]++
	key := string([]byte{byte(kind), 'o'}) // no dimension key starts so
	if s, ok := r.series[key]; ok {
		return s, false
	}
	s = k.newSeries(key, kind, now)
	s.overflow = true
	s.bytes = k.seriesSize(kind)
	s.attrs.PutBool(OverflowAttribute, true)
	r.series[key] = s
	r.bytes += s.bytes
	k.forceLocked(s.bytes)
	k.nOverflow++
	return s, false
}

func (k *connector) newSeries(key string, kind seriesKind, now int64) *series {
	s := &series{key: key, kind: kind, attrs: pcommon.NewMap(), start: pcommon.Timestamp(now), lastSeen: now}
	if kind == kindSpan {
		s.acc = k.newAccum()
	}
	return s
}

func (k *connector) newAccum() accum {
	var a accum
	switch k.hist {
	case histExplicit:
		a.buckets = make([]uint64, len(k.bounds)+1)
	case histExponential:
		a.expo = new(structure.Float64)
		a.expo.Init(structure.NewConfig(structure.WithMaxSize(k.cfg.Histogram.Exponential.MaxSize)))
	}
	return a
}

// seriesSize is the estimated bytes of a series of kind, key excluded.
func (k *connector) seriesSize(kind seriesKind) int64 {
	n := int64(seriesOverhead)
	if kind == kindEvent {
		return n
	}
	switch k.hist {
	case histExplicit:
		n += bucketBytes * int64(len(k.bounds)+1)
	case histExponential:
		n += bucketBytes * int64(k.cfg.Histogram.Exponential.MaxSize)
	}
	if k.delta {
		n *= 2 // a flush in flight holds a second accumulator
	}
	return n + exemplarBytes*int64(k.exemplars)
}

// reserveLocked charges n bytes if memory_limit allows.
func (k *connector) reserveLocked(n int64) bool {
	if k.charge != nil {
		if err := k.charge.Grow(n); err != nil {
			return false
		}
	}
	k.bytes += n
	return true
}

// forceLocked charges n bytes for state that must exist (overflow series
// and resource, bounded in number by the resources): counted even when
// memory_limit refuses them.
func (k *connector) forceLocked(n int64) {
	k.bytes += n
	if k.charge != nil {
		_ = k.charge.Grow(n) // refused: held uncharged, still counted in bytes
	}
}

// releaseLocked gives back n bytes.
func (k *connector) releaseLocked(n int64) {
	k.bytes -= n
	if k.charge != nil && k.charge.Held() > k.bytes {
		_ = k.charge.Resize(k.bytes) // shrinking never fails
	}
}

func (k *connector) reportLocked() {
	if k.tel.series != nil {
		k.tel.series.Set(float64(k.nSeries + k.nOverflow))
		k.tel.stateBytes.Set(float64(k.bytes))
	}
}
