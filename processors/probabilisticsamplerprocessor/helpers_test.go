package probabilisticsamplerprocessor

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
)

func pct(v float32) *float32 { return &v }

// config is the default configuration at a percentage, edited.
func config(p float32, edit func(*Config)) *Config {
	c := createDefaultConfig()
	c.SamplingPercentage = pct(p)
	if edit != nil {
		edit(c)
	}
	return c
}

type traceSink struct{ got []ptrace.Traces }

func (s *traceSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (s *traceSink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	s.got = append(s.got, td)
	return nil
}

// spans are the spans received, in order.
func (s *traceSink) spans() []ptrace.Span {
	var out []ptrace.Span
	for _, td := range s.got {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					out = append(out, sp)
				}
			}
		}
	}
	return out
}

type logSink struct{ got []plog.Logs }

func (s *logSink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }
func (s *logSink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.got = append(s.got, ld)
	return nil
}

func (s *logSink) records() []plog.LogRecord {
	var out []plog.LogRecord
	for _, ld := range s.got {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					out = append(out, lr)
				}
			}
		}
	}
	return out
}

type tracesEnv struct {
	p    *tracesProcessor
	sink *traceSink
	tel  *selftelemetry.Metrics
}

func newTracesEnv(t testing.TB, c *Config) tracesEnv {
	t.Helper()
	tel := selftelemetry.New()
	s := &traceSink{}
	p, err := newTracesProcessor(pipeline.Settings{ID: pipeline.MustID("probabilistic_sampler/test"), Telemetry: tel}, c, s)
	if err != nil {
		t.Fatal(err)
	}
	return tracesEnv{p: p, sink: s, tel: tel}
}

type logsEnv struct {
	p    *logsProcessor
	sink *logSink
	tel  *selftelemetry.Metrics
}

func newLogsEnv(t testing.TB, c *Config) logsEnv {
	t.Helper()
	tel := selftelemetry.New()
	s := &logSink{}
	p, err := newLogsProcessor(pipeline.Settings{ID: pipeline.MustID("probabilistic_sampler/test"), Telemetry: tel}, c, s)
	if err != nil {
		t.Fatal(err)
	}
	return logsEnv{p: p, sink: s, tel: tel}
}

// counts reads the processor's counters: kept and dropped items by
// reason, and the adjusted count sum.
func counts(t testing.TB, tel *selftelemetry.Metrics, signal string) (kept, dropped map[string]float64, adjusted float64) {
	t.Helper()
	fams, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := testutil.Metrics{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	kept, dropped = map[string]float64{}, map[string]float64{}
	for o := range numOutcomes {
		labels := map[string]string{"signal": signal, "reason": reasons[o]}
		if o.kept() {
			if v := m.Sum("outpost_processor_sampler_kept_items_total", labels); v != 0 {
				kept[reasons[o]] = v
			}
		} else if v := m.Sum("outpost_processor_dropped_items_total", labels); v != 0 {
			dropped[reasons[o]] = v
		}
	}
	return kept, dropped, m.Sum("outpost_processor_sampler_adjusted_count_total", map[string]string{"signal": signal})
}

func mustTID(s string) pcommon.TraceID {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		panic("bad trace id " + s)
	}
	return pcommon.TraceID(b)
}

func randomTID(r *rand.Rand) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], r.Uint64())
	binary.BigEndian.PutUint64(id[8:], r.Uint64())
	return id
}

// oneSpan is a request with one span.
func oneSpan(tid pcommon.TraceID, tracestate string, attrs map[string]any) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(tid)
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	sp.SetName("op")
	sp.TraceState().FromRaw(tracestate)
	if err := sp.Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
	return td
}

// oneRecord is a request with one log record.
func oneRecord(tid pcommon.TraceID, body string, attrs map[string]any) plog.Logs {
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTraceID(tid)
	lr.Body().SetStr(body)
	if err := lr.Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
	return ld
}
