package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type emptyConfig struct{}

func (emptyConfig) Validate() error { return nil }

// lifecycle records Start and Shutdown calls in order.
type lifecycle struct {
	mu     sync.Mutex
	events []string
}

func (l *lifecycle) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, s)
}

type testComponent struct {
	name    string
	log     *lifecycle
	failOn  string
	traces  consumer.Traces
	mutates bool
}

func (c *testComponent) Start(context.Context, Host) error {
	c.log.add("start " + c.name)
	if c.failOn == "start" {
		return errors.New("boom")
	}
	return nil
}

func (c *testComponent) Shutdown(context.Context) error {
	c.log.add("stop " + c.name)
	return nil
}

func (c *testComponent) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return c.traces.ConsumeTraces(ctx, td)
}

func (c *testComponent) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: c.mutates}
}

// recorder is an exporter that keeps what it gets.
type recorder struct {
	testComponent
	mu  sync.Mutex
	got []ptrace.Traces
}

type harness struct {
	log       lifecycle
	receivers map[string]*testComponent
	nexts     map[string]Consumers
	exporters map[string]*recorder
	failStart string
}

func newHarness() *harness {
	return &harness{receivers: map[string]*testComponent{}, nexts: map[string]Consumers{}, exporters: map[string]*recorder{}}
}

func (h *harness) factories() Factories {
	return Factories{
		Receivers: map[string]ReceiverFactory{"recv": {
			Type: "recv", Signals: []Signal{SignalTraces},
			CreateDefaultConfig: func() Config { return emptyConfig{} },
			Create: func(_ context.Context, set Settings, _ Config, next Consumers) (Component, error) {
				c := &testComponent{name: "receiver " + set.ID.String(), log: &h.log}
				if h.failStart == c.name {
					c.failOn = "start"
				}
				h.receivers[set.ID.String()] = c
				h.nexts[set.ID.String()] = next
				return c, nil
			},
		}},
		Processors: map[string]ProcessorFactory{"mut": {
			Type:                "mut",
			CreateDefaultConfig: func() Config { return emptyConfig{} },
			CreateTraces: func(_ context.Context, set Settings, _ Config, next consumer.Traces) (TracesProcessor, error) {
				c := &testComponent{name: "processor " + set.ID.String(), log: &h.log, mutates: true}
				c.traces, _ = consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
					td.ResourceSpans().At(0).Resource().Attributes().PutStr("touched_by", set.ID.String())
					return next.ConsumeTraces(ctx, td)
				})
				return c, nil
			},
		}},
		Exporters: map[string]ExporterFactory{"rec": {
			Type: "rec", Signals: []Signal{SignalTraces},
			CreateDefaultConfig: func() Config { return emptyConfig{} },
			Create: func(_ context.Context, set Settings, _ Config) (Component, error) {
				r := &recorder{testComponent: testComponent{name: "exporter " + set.ID.String(), log: &h.log}}
				r.traces, _ = consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
					r.mu.Lock()
					defer r.mu.Unlock()
					r.got = append(r.got, td)
					return nil
				})
				h.exporters[set.ID.String()] = r
				return r, nil
			},
		}},
		Connectors: map[string]ConnectorFactory{"fwd": {
			Type: "fwd", Pairs: []SignalPair{{SignalTraces, SignalTraces}},
			CreateDefaultConfig: func() Config { return emptyConfig{} },
			Create: func(_ context.Context, set Settings, _ Config, next Consumers) (Component, error) {
				return &testComponent{name: "connector " + set.ID.String(), log: &h.log, traces: next.Traces}, nil
			},
		}},
	}
}

func ids(names ...string) []ID {
	out := make([]ID, len(names))
	for i, n := range names {
		out[i] = MustID(n)
	}
	return out
}

func cfgOf(pipes map[string][3][]string) GraphConfig {
	g := GraphConfig{
		Receivers:  map[ID]Config{},
		Processors: map[ID]Config{},
		Exporters:  map[ID]Config{},
		Connectors: map[ID]Config{},
		Pipelines:  map[ID]PipelineConfig{},
	}
	for name, p := range pipes {
		g.Pipelines[MustID(name)] = PipelineConfig{Receivers: ids(p[0]...), Processors: ids(p[1]...), Exporters: ids(p[2]...)}
		for _, r := range p[0] {
			if strings.HasPrefix(r, "fwd") {
				g.Connectors[MustID(r)] = emptyConfig{}
			} else {
				g.Receivers[MustID(r)] = emptyConfig{}
			}
		}
		for _, x := range p[1] {
			g.Processors[MustID(x)] = emptyConfig{}
		}
		for _, e := range p[2] {
			if strings.HasPrefix(e, "fwd") {
				g.Connectors[MustID(e)] = emptyConfig{}
			} else {
				g.Exporters[MustID(e)] = emptyConfig{}
			}
		}
	}
	return g
}

func traces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := 0; i < n; i++ {
		ss.Spans().AppendEmpty().SetName(fmt.Sprint("span-", i))
	}
	return td
}

func TestGraphOrderAndFanout(t *testing.T) {
	h := newHarness()
	cfg := cfgOf(map[string][3][]string{
		"traces/a": {{"recv"}, {"mut/1"}, {"rec/shared", "rec/a"}},
		"traces/b": {{"recv", "recv/2"}, {"mut/2"}, {"rec/shared"}},
	})
	cfg.Node = Node{Name: "n1", Site: "s1", Labels: map[string]string{"line": "3"}}
	tel := selftelemetry.New()
	g, err := Build(context.Background(), cfg, BuildSettings{Factories: h.factories(), Telemetry: tel})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Exporters start first, receivers last.
	starts := append([]string(nil), h.log.events...)
	if !strings.HasPrefix(starts[0], "start exporter") || !strings.HasPrefix(starts[len(starts)-1], "start receiver") {
		t.Fatalf("start order: %v", starts)
	}
	td := traces(3)
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("node.name", "upstream")
	if err := h.nexts["recv"].Traces.ConsumeTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	// recv feeds two pipelines whose first processor mutates: one copy.
	if got := testutil.ToFloat64(tel.PipelineClonedItems.WithLabelValues("traces")); got != 3 {
		t.Errorf("cloned items = %v, want 3", got)
	}
	shared := h.exporters["rec/shared"]
	if len(shared.got) != 2 || len(h.exporters["rec/a"].got) != 1 {
		t.Fatalf("deliveries: shared %d, a %d", len(shared.got), len(h.exporters["rec/a"].got))
	}
	touched := map[string]bool{}
	for _, d := range shared.got {
		attrs := d.ResourceSpans().At(0).Resource().Attributes()
		v, _ := attrs.Get("touched_by")
		touched[v.Str()] = true
		if n, _ := attrs.Get("node.name"); n.Str() != "upstream" {
			t.Errorf("node.name overwritten: %q", n.Str())
		}
		if s, _ := attrs.Get("node.site"); s.Str() != "s1" {
			t.Errorf("node.site = %q", s.Str())
		}
		if l, _ := attrs.Get("line"); l.Str() != "3" {
			t.Errorf("label line = %q", l.Str())
		}
	}
	if !touched["mut/1"] || !touched["mut/2"] {
		t.Errorf("each pipeline's processor saw its own copy: %v", touched)
	}
	h.log.events = nil
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stops := h.log.events
	if !strings.HasPrefix(stops[0], "stop receiver") || !strings.HasPrefix(stops[len(stops)-1], "stop exporter") {
		t.Fatalf("shutdown order: %v", stops)
	}
	if len(stops) != len(starts) {
		t.Fatalf("stopped %d of %d", len(stops), len(starts))
	}
}

func TestGraphStartFailureStopsStarted(t *testing.T) {
	h := newHarness()
	h.failStart = "receiver recv"
	cfg := cfgOf(map[string][3][]string{"traces": {{"recv"}, {"mut"}, {"rec"}}})
	g, err := Build(context.Background(), cfg, BuildSettings{Factories: h.factories()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "start receiver recv: boom") {
		t.Fatalf("err = %v", err)
	}
	want := "start exporter rec,start processor mut,start receiver recv,stop receiver recv,stop processor mut,stop exporter rec"
	if got := strings.Join(h.log.events, ","); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}

func TestGraphConnector(t *testing.T) {
	h := newHarness()
	cfg := cfgOf(map[string][3][]string{
		"traces/in":  {{"recv"}, nil, {"fwd"}},
		"traces/out": {{"fwd"}, {"mut"}, {"rec"}},
	})
	g, err := Build(context.Background(), cfg, BuildSettings{Factories: h.factories()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	if err := h.nexts["recv"].Traces.ConsumeTraces(context.Background(), traces(5)); err != nil {
		t.Fatal(err)
	}
	if got := h.exporters["rec"].got; len(got) != 1 || got[0].SpanCount() != 5 {
		t.Fatalf("through the connector: %v", got)
	}
	order := strings.Join(g.Components(), ",")
	if order != "exporter rec,processor mut,connector fwd,receiver recv" {
		t.Fatalf("component order %s", order)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name  string
		pipes map[string][3][]string
		edit  func(*GraphConfig)
		want  string
	}{
		{"cycle", map[string][3][]string{
			"traces/a": {{"fwd/1"}, nil, {"fwd/2"}},
			"traces/b": {{"fwd/2"}, nil, {"fwd/1"}},
		}, nil, "cycle"},
		{"undefined exporter", map[string][3][]string{"traces": {{"recv"}, nil, {"rec"}}},
			func(g *GraphConfig) { delete(g.Exporters, MustID("rec")) }, "exporter rec is not defined"},
		{"unknown type", map[string][3][]string{"traces": {{"recv"}, nil, {"nope"}}}, nil, `unknown exporter type "nope"`},
		{"signal", map[string][3][]string{"metrics": {{"recv"}, nil, {"rec"}}}, nil, "does not support metrics"},
		{"connector unread", map[string][3][]string{"traces": {{"recv"}, nil, {"fwd"}}}, nil, "no pipeline takes it as a receiver"},
		{"no receivers", map[string][3][]string{"traces": {nil, nil, {"rec"}}}, nil, "needs at least one receiver"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness()
			cfg := cfgOf(c.pipes)
			if c.edit != nil {
				c.edit(&cfg)
			}
			_, err := Build(context.Background(), cfg, BuildSettings{Factories: h.factories()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestFanoutReadOnlyConsumersShare(t *testing.T) {
	var seen []ptrace.Traces
	ro := func() consumer.Traces {
		c, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
			seen = append(seen, td)
			return nil
		})
		return c
	}
	tel := selftelemetry.New()
	f := NewTracesFanout(tel, ro(), ro())
	td := traces(2)
	if err := f.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !seen[0].IsReadOnly() || testutil.ToFloat64(tel.PipelineClonedItems.WithLabelValues("traces")) != 0 {
		t.Fatalf("read-only consumers should share one read-only batch without copies")
	}
	errFan := NewTracesFanout(tel, ro(), func() consumer.Traces {
		c, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error { return errors.New("x") })
		return c
	}())
	if err := errFan.ConsumeTraces(context.Background(), traces(1)); err == nil {
		t.Fatal("an error from one consumer must be returned")
	}
}

func TestListenersShareAcrossHolders(t *testing.T) {
	var l Listeners
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()

	a, err := l.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Listen("tcp", addr) // a reload: same address, second holder
	if err != nil {
		t.Fatalf("second holder: %v", err)
	}
	accepted := make(chan string, 2)
	serve := func(name string, ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- name
			c.Close()
		}
	}
	go serve("a", a)
	a.Close() // the old graph lets go
	go serve("b", b)
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatalf("dial after the first holder closed: %v", err)
		}
		c.Close()
		select {
		case who := <-accepted:
			if who != "b" {
				t.Fatalf("closed holder %s accepted", who)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no accept")
		}
	}
	b.Close()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("socket still open after the last holder closed")
	}
}

func TestGraphHostRefusesAnAddressTwice(t *testing.T) {
	h := &graphHost{listeners: &Listeners{}, used: map[string]bool{}}
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := h.Listen("tcp", addr); err == nil || !strings.Contains(err.Error(), "already used by another component") {
		t.Fatalf("second listen on %s in one graph: %v", addr, err)
	}
	// Another graph (a reload) may share it.
	other := &graphHost{listeners: h.listeners, used: map[string]bool{}}
	ln2, err := other.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the next graph could not share %s: %v", addr, err)
	}
	ln2.Close()
}
