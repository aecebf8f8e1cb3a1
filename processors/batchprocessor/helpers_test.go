package batchprocessor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// sink is a next consumer that records what it gets. With block set, each
// call waits until it can receive from block (or block is closed, or ctx
// ends). errFor, if set, decides each call's error by its 0-based index.
type sink[T any] struct {
	count  func(T) int
	block  chan struct{}
	errFor func(call int) error

	mu      sync.Mutex
	calls   int
	batches []T
	sizes   []int
}

func newSink[T any](ops signalOps[T]) *sink[T] { return &sink[T]{count: ops.count} }

func (s *sink[T]) consume(ctx context.Context, d T) error {
	s.mu.Lock()
	call := s.calls
	s.calls++
	s.mu.Unlock()
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	s.batches = append(s.batches, d)
	s.sizes = append(s.sizes, s.count(d))
	s.mu.Unlock()
	if s.errFor != nil {
		return s.errFor(call)
	}
	return nil
}

func (s *sink[T]) snapshot() (calls int, sizes []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, append([]int(nil), s.sizes...)
}

func (s *sink[T]) total() int {
	_, sizes := s.snapshot()
	n := 0
	for _, x := range sizes {
		n += x
	}
	return n
}

type testEnv[T any] struct {
	b    *batcher[T]
	sink *sink[T]
	tel  *selftelemetry.Metrics
}

// newTestBatcher builds and starts a batcher for ops around a fresh sink;
// cfgFn edits the default config. The caller shuts it down.
func newTestBatcher[T any](t *testing.T, ops signalOps[T], cfgFn func(*Config), sinkFn func(*sink[T])) testEnv[T] {
	t.Helper()
	cfg := createDefaultConfig()
	if cfgFn != nil {
		cfgFn(cfg)
	}
	s := newSink(ops)
	if sinkFn != nil {
		sinkFn(s)
	}
	tel := selftelemetry.New()
	b, err := newBatcher(pipeline.Settings{ID: pipeline.MustID("batch/test"), Telemetry: tel}, cfg, ops, s.consume)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return testEnv[T]{b: b, sink: s, tel: tel}
}

func (e testEnv[T]) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// flushes returns outpost_processor_batch_flushes_total for a trigger.
func (e testEnv[T]) flushes(t *testing.T, trigger string) int {
	t.Helper()
	mfs, err := e.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "outpost_processor_batch_flushes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "trigger" && l.GetValue() == trigger {
					return int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return 0
}

// batchSizeSum returns the sum and count of
// outpost_processor_batch_size_items.
func (e testEnv[T]) batchSizeSum(t *testing.T) (sum float64, count uint64) {
	t.Helper()
	mfs, err := e.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "outpost_processor_batch_size_items" {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
				count += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return sum, count
}

// result is a caller's outcome, collected from a goroutine.
type result struct {
	err  error
	done bool
}

// goConsume runs consume in a goroutine and returns a function that
// reports whether it has returned and with what.
func goConsume[T any](ctx context.Context, b *batcher[T], data T) func() result {
	var (
		mu  sync.Mutex
		res result
	)
	go func() {
		err := b.consume(ctx, data)
		mu.Lock()
		res = result{err: err, done: true}
		mu.Unlock()
	}()
	return func() result {
		mu.Lock()
		defer mu.Unlock()
		return res
	}
}

// Test data. Every item carries an "i" attribute with its global index, so
// that flattening shows order and content; resources and scopes are named
// after their position.

func genTraces(resources, scopes, spans, first int) ptrace.Traces {
	td := ptrace.NewTraces()
	i := first
	for r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl(fmt.Sprintf("schema-r%d", r))
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		for s := range scopes {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprintf("scope-%d.%d", r, s))
			ss.Scope().SetVersion("v1")
			ss.SetSchemaUrl(fmt.Sprintf("schema-s%d", s))
			for range spans {
				sp := ss.Spans().AppendEmpty()
				sp.SetName(fmt.Sprintf("span-%d", i))
				sp.Attributes().PutInt("i", int64(i))
				i++
			}
		}
	}
	return td
}

func flattenTraces(td ptrace.Traces) []string {
	var out []string
	for _, rs := range td.ResourceSpans().All() {
		r := fmt.Sprintf("%s %v", rs.SchemaUrl(), rs.Resource().Attributes().AsRaw())
		for _, ss := range rs.ScopeSpans().All() {
			s := fmt.Sprintf("%s %s@%s", ss.SchemaUrl(), ss.Scope().Name(), ss.Scope().Version())
			for _, sp := range ss.Spans().All() {
				out = append(out, fmt.Sprintf("%s | %s | %s %v", r, s, sp.Name(), sp.Attributes().AsRaw()))
			}
		}
	}
	return out
}

func genLogs(resources, scopes, records, first int) plog.Logs {
	ld := plog.NewLogs()
	i := first
	for r := range resources {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.SetSchemaUrl(fmt.Sprintf("schema-r%d", r))
		rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		for s := range scopes {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fmt.Sprintf("scope-%d.%d", r, s))
			sl.SetSchemaUrl(fmt.Sprintf("schema-s%d", s))
			for range records {
				lr := sl.LogRecords().AppendEmpty()
				lr.Body().SetStr(fmt.Sprintf("line %d", i))
				lr.Attributes().PutInt("i", int64(i))
				i++
			}
		}
	}
	return ld
}

func flattenLogs(ld plog.Logs) []string {
	var out []string
	for _, rl := range ld.ResourceLogs().All() {
		r := fmt.Sprintf("%s %v", rl.SchemaUrl(), rl.Resource().Attributes().AsRaw())
		for _, sl := range rl.ScopeLogs().All() {
			s := fmt.Sprintf("%s %s", sl.SchemaUrl(), sl.Scope().Name())
			for _, lr := range sl.LogRecords().All() {
				out = append(out, fmt.Sprintf("%s | %s | %s %v", r, s, lr.Body().Str(), lr.Attributes().AsRaw()))
			}
		}
	}
	return out
}

// genMetrics makes, per resource and scope, one metric of each type with
// dps data points each.
func genMetrics(resources, scopes, dps, first int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	i := first
	next := func() int64 { i++; return int64(i - 1) }
	for r := range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.SetSchemaUrl(fmt.Sprintf("schema-r%d", r))
		rm.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", r))
		for s := range scopes {
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(fmt.Sprintf("scope-%d.%d", r, s))
			sm.SetSchemaUrl(fmt.Sprintf("schema-s%d", s))
			meta := func(m pmetric.Metric, name string) {
				m.SetName(name)
				m.SetDescription("about " + name)
				m.SetUnit("{things}")
				m.Metadata().PutStr("origin", name)
			}
			m := sm.Metrics().AppendEmpty()
			meta(m, "gauge")
			g := m.SetEmptyGauge()
			for range dps {
				dp := g.DataPoints().AppendEmpty()
				dp.Attributes().PutInt("i", next())
				dp.SetDoubleValue(1.5)
			}
			m = sm.Metrics().AppendEmpty()
			meta(m, "sum")
			sum := m.SetEmptySum()
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			sum.SetIsMonotonic(true)
			for range dps {
				dp := sum.DataPoints().AppendEmpty()
				dp.Attributes().PutInt("i", next())
				dp.SetIntValue(7)
			}
			m = sm.Metrics().AppendEmpty()
			meta(m, "histogram")
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
			for range dps {
				dp := h.DataPoints().AppendEmpty()
				dp.Attributes().PutInt("i", next())
				dp.SetCount(3)
				dp.ExplicitBounds().FromRaw([]float64{1, 2})
				dp.BucketCounts().FromRaw([]uint64{1, 1, 1})
			}
			m = sm.Metrics().AppendEmpty()
			meta(m, "exphistogram")
			eh := m.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for range dps {
				dp := eh.DataPoints().AppendEmpty()
				dp.Attributes().PutInt("i", next())
				dp.SetScale(2)
				dp.SetCount(4)
			}
			m = sm.Metrics().AppendEmpty()
			meta(m, "summary")
			su := m.SetEmptySummary()
			for range dps {
				dp := su.DataPoints().AppendEmpty()
				dp.Attributes().PutInt("i", next())
				dp.SetSum(9)
			}
		}
	}
	return md
}

func flattenMetrics(md pmetric.Metrics) []string {
	var out []string
	for _, rm := range md.ResourceMetrics().All() {
		r := fmt.Sprintf("%s %v", rm.SchemaUrl(), rm.Resource().Attributes().AsRaw())
		for _, sm := range rm.ScopeMetrics().All() {
			s := fmt.Sprintf("%s %s", sm.SchemaUrl(), sm.Scope().Name())
			for _, m := range sm.Metrics().All() {
				desc := fmt.Sprintf("%s %q %s %v %s", m.Name(), m.Description(), m.Unit(), m.Metadata().AsRaw(), m.Type())
				add := func(detail string, attrs map[string]any) {
					out = append(out, fmt.Sprintf("%s | %s | %s %s %v", r, s, desc, detail, attrs))
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						add(fmt.Sprint(dp.DoubleValue()), dp.Attributes().AsRaw())
					}
				case pmetric.MetricTypeSum:
					sum := m.Sum()
					for _, dp := range sum.DataPoints().All() {
						add(fmt.Sprint(sum.AggregationTemporality(), sum.IsMonotonic(), dp.IntValue()), dp.Attributes().AsRaw())
					}
				case pmetric.MetricTypeHistogram:
					h := m.Histogram()
					for _, dp := range h.DataPoints().All() {
						add(fmt.Sprint(h.AggregationTemporality(), dp.Count(), dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()), dp.Attributes().AsRaw())
					}
				case pmetric.MetricTypeExponentialHistogram:
					h := m.ExponentialHistogram()
					for _, dp := range h.DataPoints().All() {
						add(fmt.Sprint(h.AggregationTemporality(), dp.Scale(), dp.Count()), dp.Attributes().AsRaw())
					}
				case pmetric.MetricTypeSummary:
					for _, dp := range m.Summary().DataPoints().All() {
						add(fmt.Sprint(dp.Sum()), dp.Attributes().AsRaw())
					}
				}
			}
		}
	}
	return out
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: item %d:\n got %s\nwant %s\n(first lines: %s)", what, i, got[i], want[i], strings.Join(got[:min(3, len(got))], "\n"))
		}
	}
}

func testSettings() pipeline.Settings {
	return pipeline.Settings{ID: pipeline.MustID("batch/test"), Telemetry: selftelemetry.New()}
}
