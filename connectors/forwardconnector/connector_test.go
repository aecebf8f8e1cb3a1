package forwardconnector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// ---- small test components ----

type emptyConfig struct{}

func (emptyConfig) Validate() error { return nil }

// testReceiver keeps the consumers the graph hands it, so a test can push
// data as a real receiver would.
type testReceiver struct{ next pipeline.Consumers }

func (r *testReceiver) Start(context.Context, pipeline.Host) error { return nil }
func (r *testReceiver) Shutdown(context.Context) error             { return nil }

type sinkConfig struct{ Mutates bool }

func (sinkConfig) Validate() error { return nil }

// sink is an exporter that keeps what it gets. A mutating sink stamps every
// resource with its ID after taking a snapshot, as a mutating exporter
// might.
type sink struct {
	id      string
	mutates bool

	mu      sync.Mutex
	started bool
	traces  []ptrace.Traces
	metrics []pmetric.Metrics
	logs    []plog.Logs
	// snapshots are the protobuf encodings of what arrived, taken on
	// arrival, before anything could change it.
	snapshots [][]byte
}

func (s *sink) Start(context.Context, pipeline.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = true
	return nil
}

func (s *sink) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = false
	return nil
}

func (s *sink) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: s.mutates}
}

func (s *sink) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots = append(s.snapshots, tracesProto(td))
	if s.mutates {
		for _, rs := range td.ResourceSpans().All() {
			rs.Resource().Attributes().PutStr("touched_by", s.id)
		}
	}
	s.traces = append(s.traces, td)
	return nil
}

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots = append(s.snapshots, metricsProto(md))
	if s.mutates {
		for _, rm := range md.ResourceMetrics().All() {
			rm.Resource().Attributes().PutStr("touched_by", s.id)
		}
	}
	s.metrics = append(s.metrics, md)
	return nil
}

func (s *sink) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snapshots = append(s.snapshots, logsProto(ld))
	if s.mutates {
		for _, rl := range ld.ResourceLogs().All() {
			rl.Resource().Attributes().PutStr("touched_by", s.id)
		}
	}
	s.logs = append(s.logs, ld)
	return nil
}

// tracesProcessor is a traces processor that either passes batches on
// untouched (read-only) or stamps each resource.
type tracesProcessor struct {
	id      string
	mutates bool
	next    consumer.Traces
}

func (p *tracesProcessor) Start(context.Context, pipeline.Host) error { return nil }
func (p *tracesProcessor) Shutdown(context.Context) error             { return nil }
func (p *tracesProcessor) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: p.mutates}
}

func (p *tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) (err error) {
	if p.mutates {
		// Turn pdata's panic on writing shared data into a test failure
		// the caller can see.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("processor %s: %v", p.id, r)
			}
		}()
		for _, rs := range td.ResourceSpans().All() {
			rs.Resource().Attributes().PutStr("processed_by", p.id)
		}
	}
	return p.next.ConsumeTraces(ctx, td)
}

func tracesProto(td ptrace.Traces) []byte {
	b, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return b
}

func metricsProto(md pmetric.Metrics) []byte {
	b, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	return b
}

func logsProto(ld plog.Logs) []byte {
	b, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	return b
}

// world is a set of factories whose components a test can reach by ID.
type world struct {
	mu          sync.Mutex
	receivers   map[string]*testReceiver
	sinks       map[string]*sink
	storageDirs map[string]string // exporter ID → Settings.StorageDir
	tel         *selftelemetry.Metrics
}

func newWorld() *world {
	return &world{
		receivers:   map[string]*testReceiver{},
		sinks:       map[string]*sink{},
		storageDirs: map[string]string{},
		tel:         selftelemetry.New(),
	}
}

func (w *world) factories(extra ...pipeline.ConnectorFactory) pipeline.Factories {
	all := []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs}
	f := pipeline.Factories{
		Receivers: map[string]pipeline.ReceiverFactory{
			"rcv": {
				Type: "rcv", Signals: all,
				CreateDefaultConfig: func() pipeline.Config { return emptyConfig{} },
				Create: func(_ context.Context, set pipeline.Settings, _ pipeline.Config, next pipeline.Consumers) (pipeline.Component, error) {
					r := &testReceiver{next: next}
					w.mu.Lock()
					w.receivers[set.ID.String()] = r
					w.mu.Unlock()
					return r, nil
				},
			},
		},
		Exporters: map[string]pipeline.ExporterFactory{
			"sink": {
				Type: "sink", Signals: all,
				CreateDefaultConfig: func() pipeline.Config { return sinkConfig{} },
				Create: func(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
					s := &sink{id: set.ID.String(), mutates: cfg.(sinkConfig).Mutates}
					w.mu.Lock()
					w.sinks[set.ID.String()] = s
					w.storageDirs[set.ID.String()] = set.StorageDir
					w.mu.Unlock()
					return s, nil
				},
			},
		},
		Processors: map[string]pipeline.ProcessorFactory{},
		Connectors: map[string]pipeline.ConnectorFactory{Type: NewFactory()},
	}
	for _, mutates := range []bool{false, true} {
		typ := map[bool]string{false: "pass", true: "stamp"}[mutates]
		f.Processors[typ] = pipeline.ProcessorFactory{
			Type:                typ,
			CreateDefaultConfig: func() pipeline.Config { return emptyConfig{} },
			CreateTraces: func(_ context.Context, set pipeline.Settings, _ pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
				return &tracesProcessor{id: set.ID.String(), mutates: mutates, next: next}, nil
			},
		}
	}
	for _, c := range extra {
		f.Connectors[c.Type] = c
	}
	return f
}

func (w *world) build(t *testing.T, cfg pipeline.GraphConfig, extra ...pipeline.ConnectorFactory) (*pipeline.Graph, error) {
	t.Helper()
	return pipeline.Build(context.Background(), cfg, pipeline.BuildSettings{Factories: w.factories(extra...), Telemetry: w.tel})
}

func (w *world) mustBuild(t *testing.T, cfg pipeline.GraphConfig, extra ...pipeline.ConnectorFactory) *pipeline.Graph {
	t.Helper()
	g, err := w.build(t, cfg, extra...)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return g
}

func (w *world) receiver(t *testing.T, id string) *testReceiver {
	t.Helper()
	r, ok := w.receivers[id]
	if !ok {
		t.Fatalf("receiver %s was not built", id)
	}
	return r
}

func (w *world) sink(t *testing.T, id string) *sink {
	t.Helper()
	s, ok := w.sinks[id]
	if !ok {
		t.Fatalf("exporter %s was not built", id)
	}
	return s
}

func counterValue(c prometheus.Counter) float64 { return promtest.ToFloat64(c) }

// ---- config helpers ----

func ids(ss ...string) []pipeline.ID {
	out := make([]pipeline.ID, len(ss))
	for i, s := range ss {
		out[i] = pipeline.MustID(s)
	}
	return out
}

type pipe struct{ receivers, processors, exporters []string }

// graph makes a GraphConfig: every "rcv..." is a receiver, every "sink..."
// an exporter (those named "sink/mut..." mutate), every "forward..." a
// forward connector, every "pass..."/"stamp..." a processor.
func graph(pipes map[string]pipe) pipeline.GraphConfig {
	cfg := pipeline.GraphConfig{
		Receivers:  map[pipeline.ID]pipeline.Config{},
		Processors: map[pipeline.ID]pipeline.Config{},
		Exporters:  map[pipeline.ID]pipeline.Config{},
		Connectors: map[pipeline.ID]pipeline.Config{},
		Pipelines:  map[pipeline.ID]pipeline.PipelineConfig{},
	}
	add := func(name string) {
		id := pipeline.MustID(name)
		switch {
		case strings.HasPrefix(name, "rcv"):
			cfg.Receivers[id] = emptyConfig{}
		case strings.HasPrefix(name, "sink"):
			cfg.Exporters[id] = sinkConfig{Mutates: strings.HasPrefix(id.Name, "mut")}
		case strings.HasPrefix(name, "pass"), strings.HasPrefix(name, "stamp"):
			cfg.Processors[id] = emptyConfig{}
		default:
			cfg.Connectors[id] = &Config{}
		}
	}
	for name, p := range pipes {
		for _, group := range [][]string{p.receivers, p.processors, p.exporters} {
			for _, c := range group {
				add(c)
			}
		}
		cfg.Pipelines[pipeline.MustID(name)] = pipeline.PipelineConfig{
			Receivers: ids(p.receivers...), Processors: ids(p.processors...), Exporters: ids(p.exporters...),
		}
	}
	return cfg
}

// ---- test data ----

func testTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < 3; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName(fmt.Sprintf("op-%d", i))
		s.SetSpanID([8]byte{byte(i + 1)})
		s.Attributes().PutInt("i", int64(i))
	}
	return td
}

func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("requests")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(7)
	return md
}

func testLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	return ld
}

// ---- tests ----

// receiver → <signal>/in → forward → <signal>/out → exporter, for each
// signal: the exporter gets exactly what the receiver sent.
func TestForwardThroughGraph(t *testing.T) {
	for _, sig := range pipeline.Signals {
		t.Run(string(sig), func(t *testing.T) {
			w := newWorld()
			g := w.mustBuild(t, graph(map[string]pipe{
				string(sig) + "/in":  {receivers: []string{"rcv"}, exporters: []string{"forward"}},
				string(sig) + "/out": {receivers: []string{"forward"}, exporters: []string{"sink"}},
			}))
			if got, want := strings.Join(g.Components(), ", "), "exporter sink, connector forward, receiver rcv"; got != want {
				t.Fatalf("components %q, want %q", got, want)
			}
			r, s := w.receiver(t, "rcv"), w.sink(t, "sink")
			if !s.started {
				t.Fatal("exporter not started")
			}
			ctx := context.Background()
			var want []byte
			switch sig {
			case pipeline.SignalTraces:
				td := testTraces()
				want = tracesProto(td)
				if r.next.Metrics != nil || r.next.Logs != nil {
					t.Fatal("receiver wired for signals no pipeline takes")
				}
				if err := r.next.Traces.ConsumeTraces(ctx, td); err != nil {
					t.Fatal(err)
				}
				if len(s.traces) != 1 || !bytes.Equal(tracesProto(s.traces[0]), want) {
					t.Fatal("traces changed on the way")
				}
			case pipeline.SignalMetrics:
				md := testMetrics()
				want = metricsProto(md)
				if err := r.next.Metrics.ConsumeMetrics(ctx, md); err != nil {
					t.Fatal(err)
				}
				if len(s.metrics) != 1 || !bytes.Equal(metricsProto(s.metrics[0]), want) {
					t.Fatal("metrics changed on the way")
				}
			case pipeline.SignalLogs:
				ld := testLogs()
				want = logsProto(ld)
				if err := r.next.Logs.ConsumeLogs(ctx, ld); err != nil {
					t.Fatal(err)
				}
				if len(s.logs) != 1 || !bytes.Equal(logsProto(s.logs[0]), want) {
					t.Fatal("logs changed on the way")
				}
			}
			if got := counterValue(w.tel.PipelineClonedItems.WithLabelValues(string(sig))); got != 0 {
				t.Fatalf("%v items cloned on a straight path", got)
			}
		})
	}
}

// Node identity is stamped once, at the receiver; the connector's own
// stamping finds it there and adds nothing.
func TestForwardKeepsNodeIdentity(t *testing.T) {
	w := newWorld()
	cfg := graph(map[string]pipe{
		"logs/in":  {receivers: []string{"rcv"}, exporters: []string{"forward"}},
		"logs/out": {receivers: []string{"forward"}, exporters: []string{"sink"}},
	})
	cfg.Node = pipeline.Node{Name: "edge-1", Site: "plant-7"}
	w.mustBuild(t, cfg)
	ld := testLogs()
	ld.ResourceLogs().At(0).Resource().Attributes().PutStr(pipeline.AttrNodeName, "upstream-node")
	if err := w.receiver(t, "rcv").next.Logs.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	got := w.sink(t, "sink").logs[0].ResourceLogs().At(0).Resource().Attributes().AsRaw()
	want := map[string]any{"service.name": "checkout", pipeline.AttrNodeName: "upstream-node", pipeline.AttrNodeSite: "plant-7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resource = %v, want %v", got, want)
	}
}

func TestForwardCycleRejected(t *testing.T) {
	f := func(name string, pipes map[string]pipe) {
		t.Run(name, func(t *testing.T) {
			_, err := newWorld().build(t, graph(pipes))
			if err == nil || !strings.Contains(err.Error(), "cycle") {
				t.Fatalf("Build error = %v, want a cycle", err)
			}
		})
	}
	f("self", map[string]pipe{
		"traces/in":   {receivers: []string{"rcv"}, exporters: []string{"forward/x"}},
		"traces/loop": {receivers: []string{"forward/x"}, exporters: []string{"sink", "forward/x"}},
	})
	f("two connectors", map[string]pipe{
		"traces/a": {receivers: []string{"rcv", "forward/back"}, exporters: []string{"forward/out"}},
		"traces/b": {receivers: []string{"forward/out"}, exporters: []string{"sink", "forward/back"}},
	})
	f("three pipelines", map[string]pipe{
		"logs/a": {receivers: []string{"rcv", "forward/ca"}, exporters: []string{"forward/ab"}},
		"logs/b": {receivers: []string{"forward/ab"}, exporters: []string{"forward/bc"}},
		"logs/c": {receivers: []string{"forward/bc"}, exporters: []string{"sink", "forward/ca"}},
	})
}

// One pipeline feeds two through the connector. Each gets the exact data;
// a mutating consumer in one branch never changes what the other sees.
func TestForwardFeedsTwoPipelines(t *testing.T) {
	f := func(name string, outA, outB pipe, wantClones float64) {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			w.mustBuild(t, graph(map[string]pipe{
				"traces/in": {receivers: []string{"rcv"}, exporters: []string{"forward"}},
				"traces/a":  outA,
				"traces/b":  outB,
			}))
			td := testTraces()
			want := tracesProto(td)
			if err := w.receiver(t, "rcv").next.Traces.ConsumeTraces(context.Background(), td); err != nil {
				t.Fatal(err)
			}
			for _, p := range []pipe{outA, outB} {
				s := w.sink(t, p.exporters[0])
				if len(s.traces) != 1 {
					t.Fatalf("%s got %d batches, want 1", s.id, len(s.traces))
				}
				if len(p.processors) == 0 && !bytes.Equal(s.snapshots[0], want) {
					t.Errorf("%s got different data", s.id)
				}
				attrs := s.traces[0].ResourceSpans().At(0).Resource().Attributes()
				if v, ok := attrs.Get("touched_by"); ok && v.Str() != s.id {
					t.Errorf("%s sees the change made by %s", s.id, v.Str())
				}
				if _, ok := attrs.Get("processed_by"); ok && len(p.processors) == 0 {
					t.Errorf("%s sees a processor of the other pipeline", s.id)
				}
			}
			if got := counterValue(w.tel.PipelineClonedItems.WithLabelValues("traces")); got != wantClones {
				t.Errorf("cloned %v items, want %v", got, wantClones)
			}
		})
	}
	ro := func(s string) pipe { return pipe{receivers: []string{"forward"}, exporters: []string{s}} }
	f("both read-only", ro("sink/a"), ro("sink/b"), 0)
	f("one mutates", ro("sink/muta"), ro("sink/b"), 3)
	f("both mutate", ro("sink/muta"), ro("sink/mutb"), 3)
	f("processor mutates", pipe{receivers: []string{"forward"}, processors: []string{"stamp"}, exporters: []string{"sink/a"}}, ro("sink/b"), 3)
}

// The upstream fan-out shares a batch read-only between an exporter and the
// connector; the connector feeds a mutating processor. Because the
// connector reports the downstream's MutatesData, it gets its own copy.
func TestForwardIntoMutatingPipeline(t *testing.T) {
	w := newWorld()
	w.mustBuild(t, graph(map[string]pipe{
		"traces/in":  {receivers: []string{"rcv"}, exporters: []string{"sink/in", "forward"}},
		"traces/out": {receivers: []string{"forward"}, processors: []string{"stamp"}, exporters: []string{"sink/out"}},
	}))
	td := testTraces()
	want := tracesProto(td)
	if err := w.receiver(t, "rcv").next.Traces.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	if got := w.sink(t, "sink/in"); len(got.traces) != 1 || !bytes.Equal(tracesProto(got.traces[0]), want) {
		t.Fatal("the read-only exporter saw the other pipeline's change")
	}
	out := w.sink(t, "sink/out")
	if len(out.traces) != 1 {
		t.Fatal("nothing reached the mutating pipeline")
	}
	if v, _ := out.traces[0].ResourceSpans().At(0).Resource().Attributes().Get("processed_by"); v.Str() != "stamp" {
		t.Fatal("processor did not run")
	}
}

func TestConnectorSignals(t *testing.T) {
	ro, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error { return nil })
	mut, _ := consumer.NewLogs(func(context.Context, plog.Logs) error { return nil },
		consumer.WithCapabilities(consumer.Capabilities{MutatesData: true}))
	met, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return nil })

	f := func(next pipeline.Consumers, wantMutates bool) {
		t.Helper()
		c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("forward")}, &Config{}, next)
		if err != nil {
			t.Fatal(err)
		}
		_, isT := c.(consumer.Traces)
		_, isM := c.(consumer.Metrics)
		_, isL := c.(consumer.Logs)
		if isT != next.Has(pipeline.SignalTraces) || isM != next.Has(pipeline.SignalMetrics) || isL != next.Has(pipeline.SignalLogs) {
			t.Errorf("next %+v: implements traces=%t metrics=%t logs=%t", next, isT, isM, isL)
		}
		if got := c.(interface{ Capabilities() consumer.Capabilities }).Capabilities().MutatesData; got != wantMutates {
			t.Errorf("next %+v: MutatesData = %t, want %t", next, got, wantMutates)
		}
		if err := errors.Join(c.Start(context.Background(), nil), c.Shutdown(context.Background()), c.Shutdown(context.Background())); err != nil {
			t.Error(err)
		}
	}
	f(pipeline.Consumers{Traces: ro}, false)
	f(pipeline.Consumers{Metrics: met}, false)
	f(pipeline.Consumers{Logs: mut}, true)
	f(pipeline.Consumers{Traces: ro, Metrics: met}, false)
	f(pipeline.Consumers{Traces: ro, Logs: mut}, true)
	f(pipeline.Consumers{Metrics: met, Logs: mut}, true)
	f(pipeline.Consumers{Traces: ro, Metrics: met, Logs: mut}, true)

	if _, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("forward")}, &Config{}, pipeline.Consumers{}); err == nil {
		t.Error("created with nothing to feed")
	}
}

func TestForwardReturnsDownstreamError(t *testing.T) {
	boom := errors.New("queue full")
	next, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return boom })
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{}, &Config{}, pipeline.Consumers{Metrics: next})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.(consumer.Metrics).ConsumeMetrics(context.Background(), testMetrics()); !errors.Is(err, boom) {
		t.Fatalf("error = %v, want the downstream error", err)
	}
}

// ---- pipeline graph behaviour that connectors rely on ----

// One forward connector may serve traces and metrics pipelines at once:
// Build checks that each input has a supported output, not every pair.
func TestGraphOneConnectorSeveralSignals(t *testing.T) {
	w := newWorld()
	w.mustBuild(t, graph(map[string]pipe{
		"traces/in":   {receivers: []string{"rcv"}, exporters: []string{"forward"}},
		"metrics/in":  {receivers: []string{"rcv"}, exporters: []string{"forward"}},
		"traces/out":  {receivers: []string{"forward"}, exporters: []string{"sink"}},
		"metrics/out": {receivers: []string{"forward"}, exporters: []string{"sink"}},
	}))
}

// A read-only first processor in front of a mutating one: the pipeline's
// head must declare that the pipeline mutates, or the fan-out would share a
// read-only batch that the second processor then writes (pdata panics:
// "invalid access to shared data"). Same through a connector.
func TestGraphMutatingProcessorBehindReadOnlyOne(t *testing.T) {
	f := func(name string, pipes map[string]pipe) {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			w.mustBuild(t, graph(pipes))
			if err := w.receiver(t, "rcv").next.Traces.ConsumeTraces(context.Background(), testTraces()); err != nil {
				t.Fatal(err)
			}
		})
	}
	f("receiver fan-out", map[string]pipe{
		"traces/a": {receivers: []string{"rcv"}, exporters: []string{"sink/a"}},
		"traces/b": {receivers: []string{"rcv"}, processors: []string{"pass", "stamp"}, exporters: []string{"sink/b"}},
	})
	f("through forward", map[string]pipe{
		"traces/in":  {receivers: []string{"rcv"}, exporters: []string{"sink/in", "forward"}},
		"traces/out": {receivers: []string{"forward"}, processors: []string{"pass", "stamp"}, exporters: []string{"sink/out"}},
	})
}

// A component listed twice in a pipeline is refused, not wired twice.
func TestGraphDuplicateListing(t *testing.T) {
	for name, p := range map[string]pipe{
		"receiver": {receivers: []string{"rcv", "rcv"}, exporters: []string{"sink"}},
		"exporter": {receivers: []string{"rcv"}, exporters: []string{"sink", "sink"}},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld()
			if _, err := w.build(t, graph(map[string]pipe{"logs/x": p})); err != nil {
				return // rejecting the duplicate is fine too
			}
			if err := w.receiver(t, "rcv").next.Logs.ConsumeLogs(context.Background(), testLogs()); err != nil {
				t.Fatal(err)
			}
			if n := len(w.sink(t, "sink").logs); n != 1 {
				t.Fatalf("exporter got the batch %d times", n)
			}
		})
	}
}

// Distinct IDs (sink/a/b, sink/a_b, sink/a:b) get distinct storage
// directories, so two exporters never share one durable queue.
func TestGraphStorageDirCollision(t *testing.T) {
	w := newWorld()
	w.mustBuild(t, graph(map[string]pipe{
		"logs/x": {receivers: []string{"rcv"}, exporters: []string{"sink/a/b", "sink/a_b", "sink/a:b"}},
	}))
	seen := map[string]string{}
	for id, dir := range w.storageDirs {
		if other, ok := seen[dir]; ok {
			t.Errorf("%s and %s share StorageDir %q", id, other, dir)
		}
		seen[dir] = id
	}
}
