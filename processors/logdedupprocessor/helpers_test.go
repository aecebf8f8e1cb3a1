package logdedupprocessor

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// sink records what the processor hands on; errFor, if set, decides the
// error of each call by its 0-based index.
type sink struct {
	mu     sync.Mutex
	calls  int
	got    []plog.Logs
	errFor func(call int) error
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	call := s.calls
	s.calls++
	if s.errFor != nil {
		if err := s.errFor(call); err != nil {
			return err
		}
	}
	s.got = append(s.got, ld)
	return nil
}

// out is one record at the sink, flattened.
type out struct {
	resource, body string
	severity       string
	attrs          string // %#v, without the count and observed times
	count          int64  // log_count, 0 when absent (a bypassed record)
	first, last    string
}

func (s *sink) records(countAttr string) []out {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res []out
	for _, ld := range s.got {
		for _, rl := range ld.ResourceLogs().All() {
			r := fmt.Sprint(rl.Resource().Attributes().AsRaw())
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					a := lr.Attributes().AsRaw()
					o := out{resource: r, body: fmt.Sprint(lr.Body().AsRaw()), severity: lr.SeverityText()}
					if v, ok := a[countAttr]; ok {
						o.count = v.(int64)
					}
					o.first, _ = a[AttrFirstObserved].(string)
					o.last, _ = a[AttrLastObserved].(string)
					delete(a, countAttr)
					delete(a, AttrFirstObserved)
					delete(a, AttrLastObserved)
					o.attrs = fmt.Sprintf("%#v", a)
					res = append(res, o)
				}
			}
		}
	}
	return res
}

// total is the records the sink's records stand for: the sum of their
// counts, a bypassed record (no count) standing for one.
func total(rs []out) int64 {
	var n int64
	for _, r := range rs {
		n += max(r.count, 1)
	}
	return n
}

type env struct {
	p    *processor
	sink *sink
	tel  *selftelemetry.Metrics
}

func newEnv(t *testing.T, edit func(*Config), mem *memlimit.Limiter, s *sink) env {
	t.Helper()
	cfg := createDefaultConfig()
	if edit != nil {
		edit(cfg)
	}
	if s == nil {
		s = &sink{}
	}
	tel := selftelemetry.New()
	set := pipeline.Settings{ID: pipeline.MustID("log_dedup/test"), Telemetry: tel, Memory: mem}
	p, err := newProcessor(set, cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	return env{p: p, sink: s, tel: tel}
}

func (e env) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// metric sums a counter or gauge family over the series whose labels
// include want.
func (e env) metric(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := e.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// rec describes one record to generate.
type rec struct {
	service, body, severity string
	attrs                   map[string]any
}

func logs(rs ...rec) plog.Logs {
	ld := plog.NewLogs()
	bySvc := map[string]plog.ScopeLogs{}
	for _, r := range rs {
		sl, ok := bySvc[r.service]
		if !ok {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", r.service)
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("app")
			bySvc[r.service] = sl
		}
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(r.body)
		lr.SetSeverityText(r.severity)
		keys := make([]string, 0, len(r.attrs))
		for k := range r.attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			_ = lr.Attributes().PutEmpty(k).FromRaw(r.attrs[k])
		}
	}
	return ld
}
