package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

// PipelineConfig lists the components of one pipeline by ID.
type PipelineConfig struct {
	Receivers  []ID
	Processors []ID
	Exporters  []ID
}

// GraphConfig is everything Build needs: decoded component configurations
// and the pipelines. A pipeline ID's type is its signal (traces/edge).
type GraphConfig struct {
	Node       Node
	Receivers  map[ID]Config
	Processors map[ID]Config
	Exporters  map[ID]Config
	Connectors map[ID]Config
	Pipelines  map[ID]PipelineConfig
}

// BuildSettings are the process-wide things a graph is built with.
type BuildSettings struct {
	Factories  Factories
	Logger     *slog.Logger
	Telemetry  *selftelemetry.Metrics
	Listeners  *Listeners
	StorageDir string
	// Queues, Uplink and Memory are shared by every graph of the process
	// (see Settings); nil gives this graph private ones (tests).
	Queues *queue.Registry
	Uplink *uplink.Budget
	Memory *memlimit.Limiter
}

// Graph is a built set of components, started and shut down as a whole.
type Graph struct {
	host       Host
	components []namedComponent // in start order
	started    int
}

type namedComponent struct {
	kind string
	id   ID
	c    Component
}

type builder struct {
	ctx     context.Context
	cfg     GraphConfig
	set     BuildSettings
	stamp   nodeStamper
	g       *Graph
	heads   map[ID]any // pipeline ID → its first consumer
	pending map[ID]bool
	exps    map[ID]Component
	conns   map[ID]Component
}

// Build creates every component the pipelines name, wired together. It
// starts nothing.
func Build(ctx context.Context, cfg GraphConfig, set BuildSettings) (*Graph, error) {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	if set.Listeners == nil {
		set.Listeners = &Listeners{}
	}
	if set.Queues == nil {
		set.Queues = &queue.Registry{}
	}
	b := &builder{
		ctx: ctx, cfg: cfg, set: set,
		stamp:   nodeStamper{attrs: cfg.Node.attributes()},
		g:       &Graph{host: &graphHost{listeners: set.Listeners, used: map[string]bool{}}},
		heads:   map[ID]any{},
		pending: map[ID]bool{},
		exps:    map[ID]Component{},
		conns:   map[ID]Component{},
	}
	if len(cfg.Pipelines) == 0 {
		return nil, errors.New("service.pipelines: no pipeline is configured")
	}
	for _, pid := range sortedIDs(cfg.Pipelines) {
		if _, err := b.head(pid); err != nil {
			return nil, b.abandon(err)
		}
	}
	if err := b.buildReceivers(); err != nil {
		return nil, b.abandon(err)
	}
	return b.g, nil
}

// abandon shuts down the components built so far (none is started;
// Shutdown is safe in any state), so that what their factories took from
// the process-wide settings (an exporter's uplink client) is given back
// when the graph cannot be built, and returns err.
func (b *builder) abandon(err error) error {
	b.g.started = len(b.g.components)
	return errors.Join(err, b.g.Shutdown(context.Background()))
}

func sortedIDs[V any](m map[ID]V) []ID {
	ids := make([]ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids
}

func (b *builder) settings(kind string, id ID) Settings {
	return Settings{
		ID:         id,
		Logger:     b.set.Logger.With(kind, id.String()),
		Telemetry:  b.set.Telemetry,
		StorageDir: filepath.Join(b.set.StorageDir, storageName(kind, id)),
		Queues:     b.set.Queues,
		Uplink:     b.set.Uplink,
		Memory:     b.set.Memory,
	}
}

// storageName is a component's directory name: kind-type or
// kind-type-name. A type holds no '-', and the name is escaped so that
// distinct IDs never share a directory and no name leaves the storage
// directory.
func storageName(kind string, id ID) string {
	if id.Name == "" {
		return kind + "-" + id.Type
	}
	var b strings.Builder
	for _, c := range []byte(id.Name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return kind + "-" + id.Type + "-" + b.String()
}

func (b *builder) add(kind string, id ID, c Component) {
	b.g.components = append(b.g.components, namedComponent{kind: kind, id: id, c: c})
}

// head builds pipeline pid (and, through connectors, every pipeline
// downstream of it) and returns its first consumer.
func (b *builder) head(pid ID) (any, error) {
	if h, ok := b.heads[pid]; ok {
		return h, nil
	}
	if b.pending[pid] {
		return nil, fmt.Errorf("pipeline %s: connectors form a cycle through it", pid)
	}
	b.pending[pid] = true
	defer delete(b.pending, pid)

	pc, ok := b.cfg.Pipelines[pid]
	if !ok {
		return nil, fmt.Errorf("pipeline %s is not defined", pid)
	}
	sig, err := ParseSignal(pid.Type)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", pid, err)
	}
	if len(pc.Receivers) == 0 {
		return nil, fmt.Errorf("pipeline %s: needs at least one receiver", pid)
	}
	if len(pc.Exporters) == 0 {
		return nil, fmt.Errorf("pipeline %s: needs at least one exporter", pid)
	}
	for list, ids := range map[string][]ID{"receivers": pc.Receivers, "processors": pc.Processors, "exporters": pc.Exporters} {
		if dup, ok := duplicate(ids); ok {
			return nil, fmt.Errorf("pipeline %s: %s lists %s twice", pid, list, dup)
		}
	}
	var outs []any
	for _, eid := range pc.Exporters {
		c, err := b.exporterConsumer(pid, sig, eid)
		if err != nil {
			return nil, err
		}
		outs = append(outs, c)
	}
	next := b.fanout(sig, outs)
	mutates := capabilitiesOf(next).MutatesData
	for i := len(pc.Processors) - 1; i >= 0; i-- {
		next, err = b.processor(pid, sig, pc.Processors[i], next)
		if err != nil {
			return nil, err
		}
		mutates = mutates || capabilitiesOf(next).MutatesData
	}
	// The fan-out in front of this pipeline decides whether to copy from
	// what the pipeline's head declares. A read-only first processor may
	// still hand the batch to a mutating one behind it, so the head
	// declares what the whole pipeline does.
	next = withMutates(sig, next, mutates)
	b.heads[pid] = next
	return next, nil
}

func capabilitiesOf(c any) consumer.Capabilities {
	return c.(interface{ Capabilities() consumer.Capabilities }).Capabilities()
}

// withMutates returns c, or a wrapper of c that declares MutatesData when c
// itself does not but something behind it does.
func withMutates(sig Signal, c any, mutates bool) any {
	if !mutates || capabilitiesOf(c).MutatesData {
		return c
	}
	caps := consumer.WithCapabilities(consumer.Capabilities{MutatesData: true})
	switch sig {
	case SignalTraces:
		w, _ := consumer.NewTraces(c.(consumer.Traces).ConsumeTraces, caps)
		return w
	case SignalMetrics:
		w, _ := consumer.NewMetrics(c.(consumer.Metrics).ConsumeMetrics, caps)
		return w
	default:
		w, _ := consumer.NewLogs(c.(consumer.Logs).ConsumeLogs, caps)
		return w
	}
}

func (b *builder) exporterConsumer(pid ID, sig Signal, eid ID) (any, error) {
	if cfg, ok := b.cfg.Connectors[eid]; ok {
		conn, err := b.connector(eid, cfg)
		if err != nil {
			return nil, err
		}
		c, ok := consumerFor(conn, sig)
		if !ok {
			return nil, fmt.Errorf("pipeline %s: connector %s does not take %s", pid, eid, sig)
		}
		return c, nil
	}
	cfg, ok := b.cfg.Exporters[eid]
	if !ok {
		return nil, fmt.Errorf("pipeline %s: exporter %s is not defined", pid, eid)
	}
	f, ok := b.set.Factories.Exporters[eid.Type]
	if !ok {
		return nil, fmt.Errorf("pipeline %s: unknown exporter type %q", pid, eid.Type)
	}
	if !containsSignal(f.Signals, sig) {
		return nil, fmt.Errorf("pipeline %s: exporter %s does not support %s", pid, eid, sig)
	}
	exp, ok := b.exps[eid]
	if !ok {
		var err error
		exp, err = f.Create(b.ctx, b.settings("exporter", eid), cfg)
		if err != nil {
			return nil, fmt.Errorf("create exporter %s: %w", eid, err)
		}
		b.exps[eid] = exp
		b.add("exporter", eid, exp)
	}
	c, ok := consumerFor(exp, sig)
	if !ok {
		return nil, fmt.Errorf("exporter %s does not implement the %s consumer", eid, sig)
	}
	return c, nil
}

func (b *builder) processor(pid ID, sig Signal, id ID, next any) (any, error) {
	cfg, ok := b.cfg.Processors[id]
	if !ok {
		return nil, fmt.Errorf("pipeline %s: processor %s is not defined", pid, id)
	}
	f, ok := b.set.Factories.Processors[id.Type]
	if !ok {
		return nil, fmt.Errorf("pipeline %s: unknown processor type %q", pid, id.Type)
	}
	if !f.Supports(sig) {
		return nil, fmt.Errorf("pipeline %s: processor %s does not support %s", pid, id, sig)
	}
	set := b.settings("processor", id)
	set.Logger = set.Logger.With("pipeline", pid.String())
	var (
		p   Component
		out any
		err error
	)
	switch sig {
	case SignalTraces:
		var tp TracesProcessor
		tp, err = f.CreateTraces(b.ctx, set, cfg, next.(consumer.Traces))
		p, out = tp, tp
	case SignalMetrics:
		var mp MetricsProcessor
		mp, err = f.CreateMetrics(b.ctx, set, cfg, next.(consumer.Metrics))
		p, out = mp, mp
	case SignalLogs:
		var lp LogsProcessor
		lp, err = f.CreateLogs(b.ctx, set, cfg, next.(consumer.Logs))
		p, out = lp, lp
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: create processor %s: %w", pid, id, err)
	}
	b.add("processor", id, p)
	return out, nil
}

// pipelinesFrom lists the pipelines that take data from a receiver or a
// connector, by signal.
func (b *builder) pipelinesFrom(id ID) map[Signal][]ID {
	out := map[Signal][]ID{}
	for _, pid := range sortedIDs(b.cfg.Pipelines) {
		for _, r := range b.cfg.Pipelines[pid].Receivers {
			if r == id {
				out[Signal(pid.Type)] = append(out[Signal(pid.Type)], pid)
			}
		}
	}
	return out
}

// pipelinesInto lists the signals of the pipelines that export to id.
func (b *builder) signalsInto(id ID) []Signal {
	seen := map[Signal]bool{}
	var out []Signal
	for _, pid := range sortedIDs(b.cfg.Pipelines) {
		for _, e := range b.cfg.Pipelines[pid].Exporters {
			if e == id && !seen[Signal(pid.Type)] {
				seen[Signal(pid.Type)] = true
				out = append(out, Signal(pid.Type))
			}
		}
	}
	return out
}

// consumers builds the stamped fan-out from a receiver or connector into the
// pipelines that name it.
func (b *builder) consumers(id ID) (Consumers, error) {
	var next Consumers
	from := b.pipelinesFrom(id)
	for _, sig := range Signals {
		pids, ok := from[sig]
		if !ok {
			continue
		}
		var heads []any
		for _, pid := range pids {
			h, err := b.head(pid)
			if err != nil {
				return Consumers{}, err
			}
			heads = append(heads, h)
		}
		switch sig {
		case SignalTraces:
			next.Traces = b.stamp.wrapTraces(b.fanout(sig, heads).(consumer.Traces))
		case SignalMetrics:
			next.Metrics = b.stamp.wrapMetrics(b.fanout(sig, heads).(consumer.Metrics))
		case SignalLogs:
			next.Logs = b.stamp.wrapLogs(b.fanout(sig, heads).(consumer.Logs))
		}
	}
	return next, nil
}

func (b *builder) connector(id ID, cfg Config) (Component, error) {
	if c, ok := b.conns[id]; ok {
		return c, nil
	}
	f, ok := b.set.Factories.Connectors[id.Type]
	if !ok {
		return nil, fmt.Errorf("unknown connector type %q", id.Type)
	}
	ins := b.signalsInto(id)
	outs := b.pipelinesFrom(id)
	if len(outs) == 0 {
		return nil, fmt.Errorf("connector %s is used as an exporter but no pipeline takes it as a receiver", id)
	}
	if err := checkPairs(f, ins, outs); err != nil {
		return nil, fmt.Errorf("connector %s: %w", id, err)
	}
	next, err := b.consumers(id)
	if err != nil {
		return nil, err
	}
	c, err := f.Create(b.ctx, b.settings("connector", id), cfg, next)
	if err != nil {
		return nil, fmt.Errorf("create connector %s: %w", id, err)
	}
	b.conns[id] = c
	b.add("connector", id, c)
	return c, nil
}

// checkPairs checks that every signal fed into a connector can come out to
// some pipeline it feeds, and that every pipeline it feeds can be fed from
// some signal that goes in.
func checkPairs(f ConnectorFactory, ins []Signal, outs map[Signal][]ID) error {
	for _, in := range ins {
		ok := false
		for out := range outs {
			ok = ok || f.Supports(in, out)
		}
		if !ok {
			return fmt.Errorf("takes %s but feeds no pipeline it can turn %s into", in, in)
		}
	}
	for out := range outs {
		ok := false
		for _, in := range ins {
			ok = ok || f.Supports(in, out)
		}
		if !ok {
			return fmt.Errorf("feeds a %s pipeline but takes nothing it can turn into %s", out, out)
		}
	}
	return nil
}

func (b *builder) buildReceivers() error {
	used := map[ID]bool{}
	for _, pid := range sortedIDs(b.cfg.Pipelines) {
		for _, r := range b.cfg.Pipelines[pid].Receivers {
			used[r] = true
		}
	}
	for _, rid := range sortedIDs(used) {
		if _, ok := b.cfg.Connectors[rid]; ok {
			if len(b.signalsInto(rid)) == 0 {
				return fmt.Errorf("connector %s is used as a receiver but no pipeline exports to it", rid)
			}
			continue // built with the pipelines that feed it
		}
		cfg, ok := b.cfg.Receivers[rid]
		if !ok {
			return fmt.Errorf("receiver %s is not defined", rid)
		}
		f, ok := b.set.Factories.Receivers[rid.Type]
		if !ok {
			return fmt.Errorf("unknown receiver type %q", rid.Type)
		}
		for sig := range b.pipelinesFrom(rid) {
			if !containsSignal(f.Signals, sig) {
				return fmt.Errorf("receiver %s does not produce %s", rid, sig)
			}
		}
		next, err := b.consumers(rid)
		if err != nil {
			return err
		}
		r, err := f.Create(b.ctx, b.settings("receiver", rid), cfg, next)
		if err != nil {
			return fmt.Errorf("create receiver %s: %w", rid, err)
		}
		b.add("receiver", rid, r)
	}
	return nil
}

func (b *builder) fanout(sig Signal, cs []any) any {
	switch sig {
	case SignalTraces:
		ts := make([]consumer.Traces, len(cs))
		for i, c := range cs {
			ts[i] = c.(consumer.Traces)
		}
		return NewTracesFanout(b.set.Telemetry, ts...)
	case SignalMetrics:
		ms := make([]consumer.Metrics, len(cs))
		for i, c := range cs {
			ms[i] = c.(consumer.Metrics)
		}
		return NewMetricsFanout(b.set.Telemetry, ms...)
	default:
		ls := make([]consumer.Logs, len(cs))
		for i, c := range cs {
			ls[i] = c.(consumer.Logs)
		}
		return NewLogsFanout(b.set.Telemetry, ls...)
	}
}

func consumerFor(c Component, sig Signal) (any, bool) {
	switch sig {
	case SignalTraces:
		t, ok := c.(consumer.Traces)
		return t, ok
	case SignalMetrics:
		m, ok := c.(consumer.Metrics)
		return m, ok
	case SignalLogs:
		l, ok := c.(consumer.Logs)
		return l, ok
	}
	return nil, false
}

func duplicate(ids []ID) (ID, bool) {
	seen := map[ID]bool{}
	for _, id := range ids {
		if seen[id] {
			return id, true
		}
		seen[id] = true
	}
	return ID{}, false
}

func containsSignal(ss []Signal, s Signal) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// graphHost is the Host of one graph. Within a graph an address may be
// listened on once: two components of one configuration on one port would
// otherwise silently split its connections between them.
type graphHost struct {
	listeners *Listeners
	mu        sync.Mutex
	used      map[string]bool
}

func (h *graphHost) Listen(network, address string) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := network + "|" + address
	if h.used[key] {
		return nil, fmt.Errorf("listen %s: the address is already used by another component of this configuration", address)
	}
	ln, err := h.listeners.Listen(network, address)
	if err != nil {
		return nil, err
	}
	if _, port, _ := net.SplitHostPort(address); port != "0" {
		h.used[key] = true
	}
	return ln, nil
}

// Start starts the components, consumers before producers: exporters first,
// receivers last. If one fails, every component is shut down (those not
// started yet too) and the error returned.
func (g *Graph) Start(ctx context.Context) error {
	for _, nc := range g.components {
		if err := nc.c.Start(ctx, g.host); err != nil {
			// Shut down the failed component too: it may have started part
			// of its work, and Shutdown is safe to call in any state. So
			// are the components after it, never started: what their
			// factories took from the process (an exporter's uplink
			// client) goes back.
			g.started = len(g.components)
			shutErr := g.Shutdown(ctx)
			return errors.Join(fmt.Errorf("start %s %s: %w", nc.kind, nc.id, err), shutErr)
		}
	}
	g.started = len(g.components)
	return nil
}

// Shutdown stops the started components in reverse order: receivers stop
// accepting first, then processors flush, then exporters drain. Every
// component is asked to stop even if an earlier one fails or the deadline
// has passed (each then gives up at once).
func (g *Graph) Shutdown(ctx context.Context) error {
	var errs []error
	for i := g.started - 1; i >= 0; i-- {
		nc := g.components[i]
		if err := nc.c.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down %s %s: %w", nc.kind, nc.id, err))
		}
	}
	g.started = 0
	return errors.Join(errs...)
}

// Components lists the built components as "kind id", in start order.
func (g *Graph) Components() []string {
	out := make([]string, len(g.components))
	for i, nc := range g.components {
		out[i] = nc.kind + " " + nc.id.String()
	}
	return out
}
