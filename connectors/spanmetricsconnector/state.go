package spanmetricsconnector

import (
	"sort"

	"github.com/lightstep/go-expohisto/structure"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// seriesKind tells the metrics a series feeds.
type seriesKind byte

const (
	kindSpan  seriesKind = 's' // calls and duration
	kindEvent seriesKind = 'e' // events
)

// Estimated bytes of the state, charged to memory_limit (see the package
// documentation).
const (
	seriesOverhead   = 320 // series, accumulator, map slot, attribute map
	resourceOverhead = 512
	exemplarBytes    = 48
	bucketBytes      = 8
)

// exemplar is one span kept as an exemplar.
type exemplar struct {
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
	time    pcommon.Timestamp
	value   float64 // duration in the histogram's unit
}

// accum is what a series has counted: since it started (cumulative) or
// since the last flush (delta).
type accum struct {
	calls   uint64
	sum     float64            // of durations, in the histogram's unit
	buckets []uint64           // explicit histogram; len(bounds)+1
	expo    *structure.Float64 // exponential histogram
}

// series is one attribute set of one resource.
type series struct {
	key      string // within its resource; starts with its kind
	kind     seriesKind
	overflow bool
	attrs    pcommon.Map
	start    pcommon.Timestamp // cumulative start; delta: end of the last flush
	lastSeen int64             // unix nanoseconds of the last span counted
	acc      accum
	// pending counts the spans (events) counted since the last flush the
	// next consumer accepted: those lost if the series goes now.
	pending   uint64
	exemplars []exemplar // ring of the latest, at most max_per_data_point
	exNext    int
	bytes     int64
}

// resource is the series of one resource (by resource_metrics_key_attributes).
type resource struct {
	key      string
	attrs    pcommon.Map // of the first resource seen with this key
	schema   string
	series   map[string]*series
	spans    int // series of kind span, overflow excluded
	events   int // series of kind event, overflow excluded
	bytes    int64
	overflow bool // the overflow resource
}

// sortedSeries returns r's series in key order, so that output is stable.
func (r *resource) sortedSeries() []*series {
	out := make([]*series, 0, len(r.series))
	for _, s := range r.series {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// add counts one span (or event) of duration d (in the histogram's unit)
// into a.
func (a *accum) add(d float64, bounds []float64) {
	a.calls++
	a.sum += d
	if a.buckets != nil {
		a.buckets[sort.SearchFloat64s(bounds, d)]++
	}
	if a.expo != nil {
		a.expo.Update(d)
	}
}

// merge adds o into a (same configuration).
func (a *accum) merge(o *accum) {
	a.calls += o.calls
	a.sum += o.sum
	for i, n := range o.buckets {
		a.buckets[i] += n
	}
	if a.expo != nil && o.expo != nil {
		a.expo.MergeFrom(o.expo)
	}
}

// addExemplar keeps e among the latest max exemplars of s.
func (s *series) addExemplar(e exemplar, max int) {
	if len(s.exemplars) < max {
		s.exemplars = append(s.exemplars, e)
		return
	}
	s.exemplars[s.exNext] = e
	s.exNext = (s.exNext + 1) % max
}

// orderedExemplars returns the exemplars oldest first.
func (s *series) orderedExemplars() []exemplar {
	if s.exNext == 0 {
		return s.exemplars
	}
	return append(append([]exemplar(nil), s.exemplars[s.exNext:]...), s.exemplars[:s.exNext]...)
}
