package tailsamplingprocessor

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// sink records the spans handed on, by trace ID; errFor, if set, gives
// the error of each call by its 0-based index.
type sink struct {
	mu     sync.Mutex
	calls  int
	spans  map[pcommon.TraceID][]string // span names
	total  int
	errFor func(call int) error
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := s.calls
	s.calls++
	if s.errFor != nil {
		if err := s.errFor(call); err != nil {
			return err
		}
	}
	if s.spans == nil {
		s.spans = map[pcommon.TraceID][]string{}
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				s.spans[sp.TraceID()] = append(s.spans[sp.TraceID()], sp.Name())
				s.total++
			}
		}
	}
	return nil
}

func (s *sink) names(id pcommon.TraceID) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.spans[id]...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// traceID makes a trace ID from n (the same n, the same ID).
func traceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], n*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

// spanSpec describes one span of a test request.
type spanSpec struct {
	trace  uint64
	name   string
	status ptrace.StatusCode
	dur    time.Duration
	attrs  map[string]any
	state  string // W3C tracestate
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// request makes one request with the spans, under one resource and scope.
func request(resAttrs map[string]any, specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	_ = rs.Resource().Attributes().FromRaw(resAttrs)
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("test")
	for i, sp := range specs {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(traceID(sp.trace))
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(sid[:], uint64(i+1)<<32|sp.trace)
		s.SetSpanID(sid)
		s.SetName(sp.name)
		s.Status().SetCode(sp.status)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(epoch))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(epoch.Add(sp.dur)))
		_ = s.Attributes().FromRaw(sp.attrs)
		s.TraceState().FromRaw(sp.state)
	}
	return td
}

// newTest builds a processor with telemetry (and memory, if not nil).
func newTest(t *testing.T, cfg *Config, next consumer.Traces, mem *memlimit.Limiter) (*processor, *selftelemetry.Metrics) {
	t.Helper()
	tel := selftelemetry.New()
	p, err := newProcessor(pipeline.Settings{ID: pipeline.MustID("tail_sampling"), Telemetry: tel, Memory: mem}, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	return p, tel
}

// counts is the processor's span accounting, read from its metrics.
type counts struct {
	received, sampled, held     float64
	notSampled, late, refused   float64
	shutdown                    float64
	lateSampled, lateNotSampled float64
}

func readCounts(tel *selftelemetry.Metrics) counts {
	id, ts := "tail_sampling", tel.TailSampling
	drop := func(r string) float64 {
		return promtest.ToFloat64(tel.ProcessorDropped.WithLabelValues(id, "traces", r))
	}
	return counts{
		received:       promtest.ToFloat64(ts.Received.WithLabelValues(id)),
		sampled:        promtest.ToFloat64(ts.Sampled.WithLabelValues(id)),
		held:           promtest.ToFloat64(ts.HeldSpans.WithLabelValues(id)),
		notSampled:     drop(reasonNotSampled),
		late:           drop(reasonLateNotSampled),
		refused:        drop(reasonRefused),
		shutdown:       drop(reasonShutdown),
		lateSampled:    promtest.ToFloat64(ts.LateSpans.WithLabelValues(id, "sampled")),
		lateNotSampled: promtest.ToFloat64(ts.LateSpans.WithLabelValues(id, "not_sampled")),
	}
}

// checkBalance checks received = sampled + dropped by reason + held.
func checkBalance(t *testing.T, tel *selftelemetry.Metrics) counts {
	t.Helper()
	c := readCounts(tel)
	if sum := c.sampled + c.notSampled + c.late + c.refused + c.shutdown + c.held; sum != c.received {
		t.Errorf("received %v != sampled %v + not_sampled %v + late_not_sampled %v + refused %v + shutdown %v + held %v",
			c.received, c.sampled, c.notSampled, c.late, c.refused, c.shutdown, c.held)
	}
	return c
}

func decisions(tel *selftelemetry.Metrics, decision, trigger string) float64 {
	return promtest.ToFloat64(tel.TailSampling.Decisions.WithLabelValues("tail_sampling", decision, trigger))
}

func policy(name, typ string, edit func(*PolicyConfig)) PolicyConfig {
	p := PolicyConfig{Name: name, Type: typ}
	if edit != nil {
		edit(&p)
	}
	return p
}

func errorsPolicy() PolicyConfig {
	return policy("errors", StatusCode, func(p *PolicyConfig) {
		p.StatusCode = &StatusCodeConfig{StatusCodes: []string{"ERROR"}}
	})
}

func configWith(ps ...PolicyConfig) *Config {
	c := createDefaultConfig()
	c.Policies = ps
	return c
}
