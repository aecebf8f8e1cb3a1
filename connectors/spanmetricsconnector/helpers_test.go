package spanmetricsconnector

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// sink is the metrics pipeline: it keeps what it accepts; fail, when set,
// decides the answer to each batch first.
type sink struct {
	mu      sync.Mutex
	batches []pmetric.Metrics
	fail    func(n int) error // n: batches offered so far, this one included
	offered int
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offered++
	if s.fail != nil {
		if err := s.fail(s.offered); err != nil {
			return err
		}
	}
	s.batches = append(s.batches, md)
	return nil
}

func (s *sink) last(t *testing.T) pmetric.Metrics {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.batches) == 0 {
		t.Fatal("no batch sent")
	}
	return s.batches[len(s.batches)-1]
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// span describes one test span.
type span struct {
	service string // "" : no service.name
	res     map[string]any
	name    string
	kind    ptrace.SpanKind
	status  ptrace.StatusCode
	dur     time.Duration
	attrs   map[string]any
	events  []map[string]any
	trace   byte // trace and span id byte
}

var epoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// traces builds one batch, one resource per span.
func traces(spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		_ = rs.Resource().Attributes().FromRaw(s.res)
		if s.service != "" {
			rs.Resource().Attributes().PutStr("service.name", s.service)
		}
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.Status().SetCode(s.status)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(epoch))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(epoch.Add(s.dur)))
		_ = sp.Attributes().FromRaw(s.attrs)
		if s.trace != 0 {
			sp.SetTraceID(pcommon.TraceID{s.trace, 1})
			sp.SetSpanID(pcommon.SpanID{s.trace, 2})
		}
		for _, ev := range s.events {
			_ = sp.Events().AppendEmpty().Attributes().FromRaw(ev)
		}
	}
	return td
}

// point is a data point reduced to what the tests compare.
type point struct {
	value     int64 // sums
	count     uint64
	sum       float64
	buckets   []uint64 // explicit
	scale     int32    // exponential
	offset    int32
	expo      []uint64
	zero      uint64
	exemplars []string // trace id byte and value
	start     pcommon.Timestamp
}

// points indexes md by "metric{attrs}" (sorted attributes, the resource's
// service.name first as svc=).
func points(t *testing.T, md pmetric.Metrics) map[string]point {
	t.Helper()
	out := map[string]point{}
	for _, rm := range md.ResourceMetrics().All() {
		svc := ""
		if v, ok := rm.Resource().Attributes().Get("service.name"); ok {
			svc = v.AsString()
		}
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				add := func(attrs pcommon.Map, p point, exs pmetric.ExemplarSlice) {
					var kv []string
					for k, v := range attrs.All() {
						kv = append(kv, k+"="+v.AsString())
					}
					sort.Strings(kv)
					for _, e := range exs.All() {
						p.exemplars = append(p.exemplars, fmt.Sprintf("%d:%g", e.TraceID()[0], e.DoubleValue()))
					}
					key := m.Name() + "{svc=" + svc + "|" + strings.Join(kv, ",") + "}"
					if _, dup := out[key]; dup {
						t.Fatalf("two points %s", key)
					}
					out[key] = p
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						add(dp.Attributes(), point{value: dp.IntValue(), start: dp.StartTimestamp()}, dp.Exemplars())
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						add(dp.Attributes(), point{count: dp.Count(), sum: dp.Sum(), buckets: dp.BucketCounts().AsRaw(), start: dp.StartTimestamp()}, dp.Exemplars())
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						add(dp.Attributes(), point{count: dp.Count(), sum: dp.Sum(), scale: dp.Scale(), offset: dp.Positive().Offset(),
							expo: dp.Positive().BucketCounts().AsRaw(), zero: dp.ZeroCount(), start: dp.StartTimestamp()}, dp.Exemplars())
					}
				default:
					t.Fatalf("metric %s of type %s", m.Name(), m.Type())
				}
			}
		}
	}
	return out
}

// calls sums the calls points whose key contains every part.
func calls(pts map[string]point, parts ...string) int64 {
	var n int64
next:
	for k, p := range pts {
		if !strings.HasPrefix(k, "traces.span.metrics.calls{") {
			continue
		}
		for _, part := range parts {
			if !strings.Contains(k, part) {
				continue next
			}
		}
		n += p.value
	}
	return n
}

type env struct {
	k    *connector
	sink *sink
	tel  *selftelemetry.Metrics
}

// newEnv makes a connector (not started) with cfg edited by edit.
func newEnv(t testing.TB, edit func(*Config), mem *memlimit.Limiter) *env {
	t.Helper()
	cfg := createDefaultConfig()
	if edit != nil {
		edit(cfg)
	}
	e := &env{sink: &sink{}, tel: selftelemetry.New()}
	k, err := newConnector(pipeline.Settings{ID: pipeline.MustID("spanmetrics"), Telemetry: e.tel, Memory: mem}, cfg, pipeline.Consumers{Metrics: e.sink})
	if err != nil {
		t.Fatal(err)
	}
	e.k = k
	return e
}

func (e *env) consume(t *testing.T, spans ...span) {
	t.Helper()
	if err := e.k.ConsumeTraces(context.Background(), traces(spans...)); err != nil {
		t.Fatal(err)
	}
}

// flush flushes and returns the points sent.
func (e *env) flush(t *testing.T) map[string]point {
	t.Helper()
	before := e.sink.count()
	if err := e.k.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if e.sink.count() == before {
		return map[string]point{}
	}
	return points(t, e.sink.last(t))
}
