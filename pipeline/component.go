package pipeline

import (
	"context"
	"log/slog"
	"net"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

// Component is anything with a lifecycle. Start returns quickly; background
// work gets a context that Shutdown cancels. Shutdown is idempotent, drains
// (receivers stop accepting, processors flush, exporters finish or persist
// what they hold) and honours the deadline of its context.
type Component interface {
	Start(ctx context.Context, host Host) error
	Shutdown(ctx context.Context) error
}

// Host is what the running graph offers its components.
type Host interface {
	// Listen opens a listener on a TCP address. Listeners are shared with the
	// graph that a reload replaces: while both graphs run, connections are
	// handed to whichever server accepts next, and closing one graph's
	// listener never closes the socket while the other still holds it. A
	// reload therefore never refuses or resets a connection.
	Listen(network, address string) (net.Listener, error)
}

// Config is a component's configuration. Validate reports every problem it
// finds (errors.Join), not only the first.
type Config interface {
	Validate() error
}

// StorageUser is implemented by component configurations that keep data
// under storage.directory: StorageBytes is the most they keep there (a disk
// queue's max_bytes), so that the configuration can check that the
// components together fit in storage.max_bytes.
type StorageUser interface {
	StorageBytes() int64
}

// Settings is handed to a factory when it creates a component.
type Settings struct {
	ID        ID
	Logger    *slog.Logger
	Telemetry *selftelemetry.Metrics
	// StorageDir is the component's own directory under storage.directory
	// (not created until the component asks for it).
	StorageDir string
	// Queues shares open queues (disk queues by directory, memory queues
	// by exporter ID) between the graphs of one process, so that across a
	// reload an exporter's old and new instances use one queue. A shared
	// queue takes a new graph's limits only when the reload commits them
	// (queue.Registry.Commit). Never nil in a built graph.
	Queues *queue.Registry
	// Uplink is the uplink budget shared by every exporter; nil means
	// unlimited.
	Uplink *uplink.Budget
	// Memory is the memory limit shared by every receiver and memory queue;
	// nil means unlimited.
	Memory *memlimit.Limiter
}

// Consumers is the next stage for each signal; a nil field means the
// component is not wired for that signal.
type Consumers struct {
	Traces  consumer.Traces
	Metrics consumer.Metrics
	Logs    consumer.Logs
}

// Has reports whether the consumer for s is set.
func (c Consumers) Has(s Signal) bool {
	switch s {
	case SignalTraces:
		return c.Traces != nil
	case SignalMetrics:
		return c.Metrics != nil
	case SignalLogs:
		return c.Logs != nil
	}
	return false
}

// ReceiverFactory creates receivers of one type.
type ReceiverFactory struct {
	Type string
	// Signals the receiver can produce.
	Signals             []Signal
	CreateDefaultConfig func() Config
	// Create makes one receiver for an ID. next has a consumer for every
	// signal that some pipeline takes from this receiver, and nil for the
	// others; the receiver must not serve a signal whose consumer is nil.
	Create func(ctx context.Context, set Settings, cfg Config, next Consumers) (Component, error)
}

// TracesProcessor is a processor in a traces pipeline.
type TracesProcessor interface {
	Component
	consumer.Traces
}

// MetricsProcessor is a processor in a metrics pipeline.
type MetricsProcessor interface {
	Component
	consumer.Metrics
}

// LogsProcessor is a processor in a logs pipeline.
type LogsProcessor interface {
	Component
	consumer.Logs
}

// ProcessorFactory creates processors of one type; a nil Create function
// means the signal is not supported.
type ProcessorFactory struct {
	Type                string
	CreateDefaultConfig func() Config
	CreateTraces        func(ctx context.Context, set Settings, cfg Config, next consumer.Traces) (TracesProcessor, error)
	CreateMetrics       func(ctx context.Context, set Settings, cfg Config, next consumer.Metrics) (MetricsProcessor, error)
	CreateLogs          func(ctx context.Context, set Settings, cfg Config, next consumer.Logs) (LogsProcessor, error)
}

// Supports reports whether the processor works on s.
func (f ProcessorFactory) Supports(s Signal) bool {
	switch s {
	case SignalTraces:
		return f.CreateTraces != nil
	case SignalMetrics:
		return f.CreateMetrics != nil
	case SignalLogs:
		return f.CreateLogs != nil
	}
	return false
}

// ExporterFactory creates exporters of one type.
type ExporterFactory struct {
	Type string
	// Signals the exporter accepts.
	Signals             []Signal
	CreateDefaultConfig func() Config
	// Create makes one exporter for an ID, shared by every pipeline naming
	// it. The component must implement consumer.Traces, consumer.Metrics or
	// consumer.Logs for each signal in Signals.
	Create func(ctx context.Context, set Settings, cfg Config) (Component, error)
}

// SignalPair is a connector's input and output signal.
type SignalPair struct{ From, To Signal }

// ConnectorFactory creates connectors of one type. A connector is an
// exporter in the pipelines that feed it and a receiver in the pipelines it
// feeds.
type ConnectorFactory struct {
	Type                string
	Pairs               []SignalPair
	CreateDefaultConfig func() Config
	// Create makes one connector for an ID. next holds, for each signal some
	// pipeline takes from the connector, the fan-out to those pipelines. The
	// component must implement the consumer interface of every input signal
	// named in Pairs.
	Create func(ctx context.Context, set Settings, cfg Config, next Consumers) (Component, error)
}

// Supports reports whether the connector turns from into to.
func (f ConnectorFactory) Supports(from, to Signal) bool {
	for _, p := range f.Pairs {
		if p.From == from && p.To == to {
			return true
		}
	}
	return false
}

// Factories is the registry of component types a binary knows. It is a
// plain value: cmd/outpost builds it explicitly.
type Factories struct {
	Receivers  map[string]ReceiverFactory
	Processors map[string]ProcessorFactory
	Exporters  map[string]ExporterFactory
	Connectors map[string]ConnectorFactory
}
