package aggregateprocessor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
)

// dp is one input point for the dedup tests: each is built under its own
// ResourceMetrics, so that the output's grouping is the processor's.
type dp struct {
	res    string        // service.name of the resource
	scope  string        // scope name
	series string        // point attribute s
	ts     time.Duration // timestamp, after base
	v      int           // value (histograms: counts and sum derive from it)
	start  time.Duration // start time, after base - 1h (0: base - 1h)
	stale  bool          // flagged "no recorded value"
}

// base is the synctest bubble's start, where the processor is created.
var base = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// dedupReq builds a request of points of one metric of the given type and
// temporality, with description, unit, start times, exemplars and flags.
func dedupReq(typ pmetric.MetricType, temporality pmetric.AggregationTemporality, pts ...dp) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for _, p := range pts {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		rm.Resource().Attributes().PutStr("service.name", p.res)
		rm.Resource().Attributes().PutStr("node.name", "edge-1")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(p.scope)
		sm.Scope().SetVersion("1.2.3")
		m := sm.Metrics().AppendEmpty()
		m.SetName("m_" + strings.ToLower(typ.String()))
		m.SetDescription("what m measures")
		m.SetUnit("By")
		start := pcommon.NewTimestampFromTime(base.Add(-time.Hour + p.start))
		ts := pcommon.NewTimestampFromTime(base.Add(p.ts))
		flags := pmetric.DefaultDataPointFlags.WithNoRecordedValue(p.stale)
		exemplar := func(es pmetric.ExemplarSlice) {
			e := es.AppendEmpty()
			e.SetTimestamp(ts)
			e.SetDoubleValue(float64(p.v) / 2)
			e.SetTraceID(pcommon.TraceID{1, 2, 3, byte(p.v)})
			e.FilteredAttributes().PutStr("pod", "p"+p.series)
		}
		var attrs pcommon.Map
		switch typ {
		case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
			var dps pmetric.NumberDataPointSlice
			if typ == pmetric.MetricTypeGauge {
				dps = m.SetEmptyGauge().DataPoints()
			} else {
				s := m.SetEmptySum()
				s.SetAggregationTemporality(temporality)
				s.SetIsMonotonic(true)
				dps = s.DataPoints()
			}
			d := dps.AppendEmpty()
			d.SetStartTimestamp(start)
			d.SetTimestamp(ts)
			d.SetIntValue(int64(p.v))
			d.SetFlags(flags)
			exemplar(d.Exemplars())
			attrs = d.Attributes()
		case pmetric.MetricTypeHistogram:
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(temporality)
			d := h.DataPoints().AppendEmpty()
			d.SetStartTimestamp(start)
			d.SetTimestamp(ts)
			d.ExplicitBounds().FromRaw([]float64{1, 2})
			d.BucketCounts().FromRaw([]uint64{uint64(p.v), uint64(p.v), 1})
			d.SetCount(uint64(2*p.v + 1))
			d.SetSum(float64(3 * p.v))
			d.SetMin(0.5)
			d.SetMax(float64(p.v))
			d.SetFlags(flags)
			exemplar(d.Exemplars())
			attrs = d.Attributes()
		case pmetric.MetricTypeExponentialHistogram:
			h := m.SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(temporality)
			d := h.DataPoints().AppendEmpty()
			d.SetStartTimestamp(start)
			d.SetTimestamp(ts)
			d.SetScale(3)
			d.SetZeroCount(1)
			d.SetZeroThreshold(1e-9)
			d.Positive().SetOffset(int32(p.v))
			d.Positive().BucketCounts().FromRaw([]uint64{1, uint64(p.v)})
			d.Negative().SetOffset(-2)
			d.Negative().BucketCounts().FromRaw([]uint64{2})
			d.SetCount(uint64(p.v + 4))
			d.SetSum(float64(p.v))
			d.SetFlags(flags)
			exemplar(d.Exemplars())
			attrs = d.Attributes()
		case pmetric.MetricTypeSummary:
			d := m.SetEmptySummary().DataPoints().AppendEmpty()
			d.SetStartTimestamp(start)
			d.SetTimestamp(ts)
			d.SetCount(uint64(p.v))
			d.SetSum(float64(2 * p.v))
			q := d.QuantileValues().AppendEmpty()
			q.SetQuantile(0.5)
			q.SetValue(float64(p.v))
			d.SetFlags(flags)
			attrs = d.Attributes()
		}
		attrs.PutStr("s", p.series)
		attrs.PutInt("n", 7)
	}
	return md
}

// canon renders every point of md with its whole resource, scope and
// metric, one self-contained request in JSON per point, sorted: two
// requests with the same canon hold the same points, unchanged.
func canon(t *testing.T, md pmetric.Metrics) []string {
	t.Helper()
	var out []string
	var m pmetric.JSONMarshaler
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, mt := range sm.Metrics().All() {
				n := 0
				switch mt.Type() {
				case pmetric.MetricTypeGauge:
					n = mt.Gauge().DataPoints().Len()
				case pmetric.MetricTypeSum:
					n = mt.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					n = mt.Histogram().DataPoints().Len()
				case pmetric.MetricTypeExponentialHistogram:
					n = mt.ExponentialHistogram().DataPoints().Len()
				case pmetric.MetricTypeSummary:
					n = mt.Summary().DataPoints().Len()
				}
				for i := range n {
					one := pmetric.NewMetrics()
					orm := one.ResourceMetrics().AppendEmpty()
					rm.Resource().CopyTo(orm.Resource())
					orm.SetSchemaUrl(rm.SchemaUrl())
					osm := orm.ScopeMetrics().AppendEmpty()
					sm.Scope().CopyTo(osm.Scope())
					osm.SetSchemaUrl(sm.SchemaUrl())
					om := osm.Metrics().AppendEmpty()
					mt.CopyTo(om)
					j := 0
					keep := func() bool { j++; return j-1 != i }
					switch om.Type() {
					case pmetric.MetricTypeGauge:
						om.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return keep() })
					case pmetric.MetricTypeSum:
						om.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return keep() })
					case pmetric.MetricTypeHistogram:
						om.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { return keep() })
					case pmetric.MetricTypeExponentialHistogram:
						om.ExponentialHistogram().DataPoints().RemoveIf(func(pmetric.ExponentialHistogramDataPoint) bool { return keep() })
					case pmetric.MetricTypeSummary:
						om.Summary().DataPoints().RemoveIf(func(pmetric.SummaryDataPoint) bool { return keep() })
					}
					b, err := m.MarshalMetrics(one)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, string(b))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// takeMetrics returns what the sink received since the last take.
func (s *sink) takeMetrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.batches
	s.batches = nil
	return b
}

func canonAll(t *testing.T, mds []pmetric.Metrics) []string {
	t.Helper()
	var out []string
	for _, md := range mds {
		out = append(out, canon(t, md)...)
	}
	slices.Sort(out)
	return out
}

func equalCanon(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %d points\n\t%s\nwant %d\n\t%s", what, len(got), strings.Join(got, "\n\t"), len(want), strings.Join(want, "\n\t"))
	}
}

func dedupConfig(d time.Duration, rs ...Rule) *Config {
	c := createDefaultConfig()
	c.DedupInterval = d
	c.Rules = rs
	return c
}

func TestDedupKeepsLatestUnchanged(t *testing.T) {
	cum := pmetric.AggregationTemporalityCumulative
	for _, typ := range []pmetric.MetricType{
		pmetric.MetricTypeGauge, pmetric.MetricTypeSum, pmetric.MetricTypeHistogram,
		pmetric.MetricTypeExponentialHistogram, pmetric.MetricTypeSummary,
	} {
		t.Run(typ.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, s, tel := newTest(t, dedupConfig(10*time.Second))
				// Three streams with the same point attributes: two
				// resources, two scopes; each must stay apart.
				var in, want []dp
				for _, rs := range [][2]string{{"a", "s1"}, {"a", "s2"}, {"b", "s1"}} {
					in = append(in,
						dp{res: rs[0], scope: rs[1], series: "x", ts: time.Second, v: 1},
						dp{res: rs[0], scope: rs[1], series: "x", ts: 3 * time.Second, v: 3},
						dp{res: rs[0], scope: rs[1], series: "x", ts: 2 * time.Second, v: 2}, // older: left out
						dp{res: rs[0], scope: rs[1], series: "y", ts: time.Second, v: 5},
					)
					want = append(want,
						dp{res: rs[0], scope: rs[1], series: "x", ts: 3 * time.Second, v: 3},
						dp{res: rs[0], scope: rs[1], series: "y", ts: time.Second, v: 6}, // the tie, arrived last
					)
				}
				consume(t, p, dedupReq(typ, cum, in...))
				wait(2 * time.Second)
				consume(t, p, dedupReq(typ, cum,
					dp{res: "a", scope: "s1", series: "y", ts: time.Second, v: 6},
					dp{res: "a", scope: "s2", series: "y", ts: time.Second, v: 6},
					dp{res: "b", scope: "s1", series: "y", ts: time.Second, v: 6}))
				if got := s.takeMetrics(); len(got) != 0 {
					t.Fatalf("points went on before the window's end: %v", canonAll(t, got))
				}
				wait(8 * time.Second)
				got := s.takeMetrics()
				equalCanon(t, "window 1", canonAll(t, got), canon(t, dedupReq(typ, cum, want...)))
				// Compact: one ResourceMetrics per resource, one
				// ScopeMetrics per scope, one Metric per metric.
				if len(got) != 1 || got[0].ResourceMetrics().Len() != 2 {
					t.Fatalf("%d batches; want 1 with 2 resources", len(got))
				}
				for _, rm := range got[0].ResourceMetrics().All() {
					name, _ := rm.Resource().Attributes().Get("service.name")
					wantScopes := map[string]int{"a": 2, "b": 1}[name.Str()]
					if rm.ScopeMetrics().Len() != wantScopes {
						t.Errorf("resource %s: %d scopes, want %d", name.Str(), rm.ScopeMetrics().Len(), wantScopes)
					}
					for _, sm := range rm.ScopeMetrics().All() {
						if sm.Metrics().Len() != 1 {
							t.Errorf("resource %s scope %s: %d metrics, want 1", name.Str(), sm.Scope().Name(), sm.Metrics().Len())
						}
					}
				}
				if n := gaugeValue(t, tel, "outpost_processor_aggregate_deduplicated_points_total"); n != 3*3 {
					t.Errorf("deduplicated = %v, want 9 (two of x and one of y per stream)", n)
				}
				// No point in a window: nothing.
				wait(10 * time.Second)
				equalCanon(t, "window 2 (no points)", canonAll(t, s.takeMetrics()), nil)
				// A counter reset inside a window: the last point goes on,
				// with its new start time.
				consume(t, p, dedupReq(typ, cum,
					dp{res: "a", scope: "s1", series: "x", ts: 21 * time.Second, v: 40},
					dp{res: "a", scope: "s1", series: "x", ts: 22 * time.Second, v: 1, start: time.Hour + 21500*time.Millisecond}))
				wait(10 * time.Second)
				equalCanon(t, "window 3 (reset)", canonAll(t, s.takeMetrics()), canon(t, dedupReq(typ, cum,
					dp{res: "a", scope: "s1", series: "x", ts: 22 * time.Second, v: 1, start: time.Hour + 21500*time.Millisecond})))
				if got := gaugeValue(t, tel, "outpost_processor_aggregate_state_bytes"); got != 0 {
					t.Errorf("state bytes after the windows: %v", got)
				}
			})
		})
	}
}

func TestDedupDeltaPassesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, tel := newTest(t, dedupConfig(time.Minute))
		delta := pmetric.AggregationTemporalityDelta
		for _, typ := range []pmetric.MetricType{pmetric.MetricTypeSum, pmetric.MetricTypeHistogram, pmetric.MetricTypeExponentialHistogram} {
			in := dedupReq(typ, delta,
				dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 1},
				dp{res: "a", scope: "s", series: "x", ts: 2 * time.Second, v: 2},
				dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 3})
			want := canon(t, in)
			consume(t, p, in)
			equalCanon(t, typ.String()+" delta, at once", canonAll(t, s.takeMetrics()), want)
		}
		wait(time.Minute)
		equalCanon(t, "at the window's end", canonAll(t, s.takeMetrics()), nil)
		if n := gaugeValue(t, tel, "outpost_processor_aggregate_deduplicated_points_total"); n != 0 {
			t.Errorf("deduplicated = %v", n)
		}
	})
}

func TestDedupStalenessMarker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, dedupConfig(10*time.Second))
		cum := pmetric.AggregationTemporalityCumulative
		consume(t, p, dedupReq(pmetric.MetricTypeGauge, cum,
			dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 1},
			dp{res: "a", scope: "s", series: "x", ts: 2 * time.Second, stale: true},
			dp{res: "a", scope: "s", series: "y", ts: 2 * time.Second, stale: true},
			dp{res: "a", scope: "s", series: "y", ts: 3 * time.Second, v: 4}))
		wait(10 * time.Second)
		equalCanon(t, "the marker is the latest point of x", canonAll(t, s.takeMetrics()), canon(t, dedupReq(pmetric.MetricTypeGauge, cum,
			dp{res: "a", scope: "s", series: "x", ts: 2 * time.Second, stale: true},
			dp{res: "a", scope: "s", series: "y", ts: 3 * time.Second, v: 4})))
	})
}

func TestDedupWithRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, dedupConfig(10*time.Second,
			Rule{Match: Match{MetricName: "r1"}, Interval: 10 * time.Second, By: []string{}, Outputs: []string{"sum"}},
			Rule{Match: Match{MetricName: "r2"}, Interval: 10 * time.Second, By: []string{}, Outputs: []string{"count_samples"}, KeepInput: true},
		))
		t0 := time.Now()
		for i, v := range []float64{1, 2, 3} {
			ts := t0.Add(time.Duration(i) * time.Second)
			md := build(a("service.name", "svc"), "r1", gauge, pt{attrs: a("k", "1"), v: v, ts: ts}, pt{attrs: a("k", "2"), v: 10 * v, ts: ts})
			build(a("service.name", "svc"), "r2", gauge, pt{attrs: a("k", "1"), v: v, ts: ts}).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			build(a("service.name", "svc"), "other", counter, pt{attrs: a("k", "1"), v: v, ts: ts}).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			consume(t, p, md)
			wait(time.Second)
		}
		equalLines(t, "before the window's end", s.take(), nil)
		wait(7 * time.Second)
		equalLines(t, "at the window's end", s.take(), []string{
			`r1:10s_sum 66`,                     // aggregated, removed
			`r2:10s_count_samples 3`,            // aggregated
			`r2{k="1",service.name="svc"} 3`,    // and kept: deduplicated
			`other{k="1",service.name="svc"} 3`, // no rule: deduplicated
		})
	})
}

func TestDedupMaxBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// What the first series costs (resource, scope, metric, point),
		// and each next one, as the processor counts them.
		probe, err := newProcessor(pipelineSettings(), dedupConfig(time.Hour), nop)
		if err != nil {
			t.Fatal(err)
		}
		consume(t, probe, build(nil, "x", gauge, pt{attrs: a("i", "Aa"), v: 1}))
		first := probe.bytes
		consume(t, probe, build(nil, "x", gauge, pt{attrs: a("i", "Ba"), v: 1}))
		per := probe.bytes - first
		if err := probe.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}

		cfg := dedupConfig(10 * time.Second)
		cfg.MaxBytes = configsByteSize(first + 9*per)
		p, s, tel := newTest(t, cfg)
		round := func(v float64) pmetric.Metrics {
			var pts []pt
			for i := range 100 {
				pts = append(pts, pt{attrs: a("i", string(rune('A'+i%26))+string(rune('a'+i/26))), v: v})
			}
			return build(nil, "x", gauge, pts...)
		}
		consume(t, p, round(1))
		if got := len(s.take()); got != 90 {
			t.Errorf("passed at once: %d points, want 90 (10 series fit)", got)
		}
		if got := gaugeValue(t, tel, "outpost_processor_aggregate_state_bytes"); got != float64(cfg.MaxBytes) {
			t.Errorf("state bytes %v, want max_bytes %d", got, cfg.MaxBytes)
		}
		wait(time.Second)
		consume(t, p, round(2))
		got := s.take()
		if len(got) != 90 || !strings.HasSuffix(got[0], " 2") {
			t.Errorf("second round passed at once: %d points (%v...), want 90 of value 2", len(got), got[:min(1, len(got))])
		}
		wait(9 * time.Second)
		got = s.take()
		if len(got) != 10 || !strings.HasSuffix(got[0], " 2") || !strings.HasSuffix(got[9], " 2") {
			t.Errorf("at the window's end: %v, want 10 points of value 2", got)
		}
		bypassed := gaugeValue(t, tel, "outpost_processor_aggregate_dedup_bypassed_points_total")
		deduplicated := gaugeValue(t, tel, "outpost_processor_aggregate_deduplicated_points_total")
		if bypassed != 180 || deduplicated != 10 {
			t.Errorf("bypassed %v, deduplicated %v; want 180 and 10 (200 in = 180 + 10 emitted + 10)", bypassed, deduplicated)
		}
		if n := droppedCount(tel, ReasonStateFull); n != 0 {
			t.Errorf("state_full drops: %v", n)
		}
	})
}

func TestDedupShutdownAndRefusedFlush(t *testing.T) {
	t.Run("shutdown emits the window in progress", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := &sink{}
			p, err := newProcessor(pipelineSettings(), dedupConfig(time.Minute), s)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			cum := pmetric.AggregationTemporalityCumulative
			in := []dp{
				{res: "a", scope: "s", series: "x", ts: time.Second, v: 1},
				{res: "a", scope: "s", series: "x", ts: 2 * time.Second, v: 2},
			}
			consume(t, p, dedupReq(pmetric.MetricTypeSum, cum, in...))
			time.Sleep(20 * time.Second)
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			equalCanon(t, "at shutdown", canonAll(t, s.takeMetrics()), canon(t, dedupReq(pmetric.MetricTypeSum, cum, in[1])))
			if p.bytes != 0 {
				t.Errorf("state bytes after shutdown: %d", p.bytes)
			}
		})
	})
	t.Run("a refused flush is sent again before the next", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p, s, tel := newTest(t, dedupConfig(10*time.Second))
			refuse := true
			s.mu.Lock()
			s.fail = func() error {
				if refuse {
					return errors.New("queue full")
				}
				return nil
			}
			s.mu.Unlock()
			consume(t, p, build(nil, "g", gauge, pt{v: 1}))
			wait(10 * time.Second)
			equalLines(t, "refused", s.take(), nil)
			s.mu.Lock()
			refuse = false
			s.mu.Unlock()
			consume(t, p, build(nil, "g", gauge, pt{v: 2}))
			wait(10 * time.Second)
			s.mu.Lock()
			n := len(s.batches)
			s.mu.Unlock()
			if n != 2 {
				t.Errorf("%d batches after the retry, want 2 (the kept window, then the new one)", n)
			}
			equalLines(t, "retried with the next", s.take(), []string{"g 1", "g 2"})
			if n := droppedCount(tel, ReasonFlushRefused); n != 0 {
				t.Errorf("flush_refused = %v", n)
			}
		})
	})
}

func pipelineSettings() pipeline.Settings { return pipeline.Settings{} }

// TestDedupWindowsAligned: windows end at wall-clock multiples of
// dedup_interval, so the first one after start is shorter, and a point
// belongs to the window in which it arrives, whatever its timestamp.
func TestDedupWindowsAligned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(3 * time.Second)
		p, s, _ := newTest(t, dedupConfig(10*time.Second))
		cum := pmetric.AggregationTemporalityCumulative
		// Stamped in the future and in the past: both in the window of
		// their arrival.
		consume(t, p, dedupReq(pmetric.MetricTypeGauge, cum,
			dp{res: "a", scope: "s", series: "x", ts: time.Hour, v: 1},
			dp{res: "a", scope: "s", series: "y", ts: -time.Hour, v: 2}))
		wait(6 * time.Second)
		equalCanon(t, "before the boundary", canonAll(t, s.takeMetrics()), nil)
		wait(time.Second) // base + 10s
		equalCanon(t, "at base+10s, 7s after start", canonAll(t, s.takeMetrics()), canon(t, dedupReq(pmetric.MetricTypeGauge, cum,
			dp{res: "a", scope: "s", series: "x", ts: time.Hour, v: 1},
			dp{res: "a", scope: "s", series: "y", ts: -time.Hour, v: 2})))
		// The next window: x's older point is its only one, so it goes on.
		consume(t, p, dedupReq(pmetric.MetricTypeGauge, cum, dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 3}))
		wait(10 * time.Second)
		equalCanon(t, "at base+20s", canonAll(t, s.takeMetrics()), canon(t, dedupReq(pmetric.MetricTypeGauge, cum,
			dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 3})))
	})
}

// gaugePoints lists the gauge points of mds as "series@ts=v" (ts after
// base; "stale" for a staleness marker), in output order.
func gaugePoints(mds []pmetric.Metrics) []string {
	var out []string
	for _, md := range mds {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					for _, p := range m.Gauge().DataPoints().All() {
						s, _ := p.Attributes().Get("s")
						v := strconv.FormatInt(p.IntValue(), 10)
						if p.Flags().NoRecordedValue() {
							v = "stale"
						}
						out = append(out, fmt.Sprintf("%s@%v=%s", s.Str(), p.Timestamp().AsTime().Sub(base), v))
					}
				}
			}
		}
	}
	return out
}

// TestDedupReplayedBacklog: points stamped before the previous window (a
// client's retry buffer, an upstream outpost's queue draining) keep one
// point per series and window of their own timestamps, so a backlog keeps
// its resolution; points of the current and the previous window (a scrape
// stamped just before a boundary that arrives after it) share their
// series' one slot.
func TestDedupReplayedBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(10 * time.Minute)
		p, s, tel := newTest(t, dedupConfig(time.Minute))
		g, cum := pmetric.MetricTypeGauge, pmetric.AggregationTemporalityCumulative
		consume(t, p, dedupReq(g, cum,
			dp{res: "a", scope: "s", series: "x", ts: 30 * time.Second, v: 1},
			dp{res: "a", scope: "s", series: "x", ts: 70 * time.Second, v: 2},
			dp{res: "a", scope: "s", series: "x", ts: 110 * time.Second, v: 3}, // replaces 2: same minute
			dp{res: "a", scope: "s", series: "x", ts: 5 * time.Minute, v: 4},
			dp{res: "a", scope: "s", series: "x", ts: 9*time.Minute + 30*time.Second, v: 5},  // the previous window: live
			dp{res: "a", scope: "s", series: "x", ts: 10*time.Minute + 20*time.Second, v: 6}, // replaces 5
		))
		wait(time.Minute)
		got := gaugePoints(s.takeMetrics())
		slices.Sort(got)
		want := []string{"x@10m20s=6", "x@1m50s=3", "x@30s=1", "x@5m0s=4"}
		if !slices.Equal(got, want) {
			t.Errorf("backlog: got %v, want %v", got, want)
		}
		if n := gaugeValue(t, tel, "outpost_processor_aggregate_deduplicated_points_total"); n != 2 {
			t.Errorf("deduplicated = %v, want 2", n)
		}
		// Window [11m, 12m): a scrape stamped just before 11m arrives
		// now, then the next one.
		consume(t, p, dedupReq(g, cum,
			dp{res: "a", scope: "s", series: "x", ts: 11*time.Minute - 100*time.Millisecond, v: 7},
			dp{res: "a", scope: "s", series: "x", ts: 11*time.Minute + 900*time.Millisecond, v: 8}))
		wait(time.Minute)
		if got := gaugePoints(s.takeMetrics()); !slices.Equal(got, []string{"x@11m0.9s=8"}) {
			t.Errorf("late scrape: got %v, want [x@11m0.9s=8]", got)
		}
	})
}

// TestDedupStaleMarkerWithoutDescription: Prometheus's staleness markers
// come without the metric's description; the marker still takes its
// series' slot (description is not identity), so a window sends one point.
func TestDedupStaleMarkerWithoutDescription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, s, _ := newTest(t, dedupConfig(10*time.Second))
		g, cum := pmetric.MetricTypeGauge, pmetric.AggregationTemporalityCumulative
		consume(t, p, dedupReq(g, cum, dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 1}))
		marker := dedupReq(g, cum, dp{res: "a", scope: "s", series: "x", ts: 2 * time.Second, stale: true})
		marker.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetDescription("")
		consume(t, p, marker)
		wait(10 * time.Second)
		if got := gaugePoints(s.takeMetrics()); !slices.Equal(got, []string{"x@2s=stale"}) {
			t.Errorf("got %v, want [x@2s=stale]", got)
		}
	})
}
