package forwardconnector

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
)

// base is the part every forward connector shares: a lifecycle with nothing
// to do, and the capabilities.
type base struct{ caps consumer.Capabilities }

func (b *base) Start(context.Context, pipeline.Host) error { return nil }
func (b *base) Shutdown(context.Context) error             { return nil }

// Capabilities implements the consumer interfaces. The connector never
// changes data, but it hands the very batch it gets to the pipelines it
// feeds, and the graph puts it into its upstream fan-out as it is (it does
// not wrap it with the downstream capabilities). So it reports MutatesData
// when something it feeds does: otherwise a fan-out could mark a batch
// read-only and pass it through here to a consumer that mutates it.
func (b *base) Capabilities() consumer.Capabilities { return b.caps }

type tracesForward struct{ next consumer.Traces }

func (f tracesForward) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return f.next.ConsumeTraces(ctx, td)
}

type metricsForward struct{ next consumer.Metrics }

func (f metricsForward) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return f.next.ConsumeMetrics(ctx, md)
}

type logsForward struct{ next consumer.Logs }

func (f logsForward) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return f.next.ConsumeLogs(ctx, ld)
}

// newConnector returns a component that implements the consumer interface
// of exactly the signals next has, so that the graph's check "does the
// connector take this signal" is answered truthfully; nil if next has none.
func newConnector(next pipeline.Consumers) pipeline.Component {
	b := &base{}
	for _, sig := range pipeline.Signals {
		if !next.Has(sig) {
			continue
		}
		var caps consumer.Capabilities
		switch sig {
		case pipeline.SignalTraces:
			caps = next.Traces.Capabilities()
		case pipeline.SignalMetrics:
			caps = next.Metrics.Capabilities()
		case pipeline.SignalLogs:
			caps = next.Logs.Capabilities()
		}
		b.caps.MutatesData = b.caps.MutatesData || caps.MutatesData
	}
	t, m, l := tracesForward{next.Traces}, metricsForward{next.Metrics}, logsForward{next.Logs}
	switch [3]bool{next.Traces != nil, next.Metrics != nil, next.Logs != nil} {
	case [3]bool{true, false, false}:
		return struct {
			*base
			tracesForward
		}{b, t}
	case [3]bool{false, true, false}:
		return struct {
			*base
			metricsForward
		}{b, m}
	case [3]bool{false, false, true}:
		return struct {
			*base
			logsForward
		}{b, l}
	case [3]bool{true, true, false}:
		return struct {
			*base
			tracesForward
			metricsForward
		}{b, t, m}
	case [3]bool{true, false, true}:
		return struct {
			*base
			tracesForward
			logsForward
		}{b, t, l}
	case [3]bool{false, true, true}:
		return struct {
			*base
			metricsForward
			logsForward
		}{b, m, l}
	case [3]bool{true, true, true}:
		return struct {
			*base
			tracesForward
			metricsForward
			logsForward
		}{b, t, m, l}
	}
	return nil
}
