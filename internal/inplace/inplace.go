// Package inplace builds the processors that change each batch where it
// stands and hand it on synchronously (attributes, resource, filter,
// redaction): no goroutine, no buffer, no state between batches.
//
// The processors declare MutatesData, so a fan-out gives them their own
// copy; a batch that arrives read-only anyway is copied before it is
// changed. When the change leaves nothing to send (a filter dropped every
// item), the next consumer is not called and the caller gets nil: the items
// were dropped on purpose and counted by the processor.
package inplace

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
)

// lifecycle is the empty lifecycle of a stateless processor.
type lifecycle struct{}

func (lifecycle) Start(context.Context, pipeline.Host) error { return nil }
func (lifecycle) Shutdown(context.Context) error             { return nil }
func (lifecycle) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// TracesFunc changes td in place and reports whether anything is left to
// hand on.
type TracesFunc func(ctx context.Context, td ptrace.Traces) bool

// MetricsFunc changes md in place and reports whether anything is left.
type MetricsFunc func(ctx context.Context, md pmetric.Metrics) bool

// LogsFunc changes ld in place and reports whether anything is left.
type LogsFunc func(ctx context.Context, ld plog.Logs) bool

type traces struct {
	lifecycle
	fn   TracesFunc
	next consumer.Traces
}

// Traces returns a traces processor that runs fn on each batch, then hands
// it to next.
func Traces(fn TracesFunc, next consumer.Traces) pipeline.TracesProcessor {
	return &traces{fn: fn, next: next}
}

func (p *traces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if td.IsReadOnly() {
		c := ptrace.NewTraces()
		td.CopyTo(c)
		td = c
	}
	if !p.fn(ctx, td) {
		return nil
	}
	return p.next.ConsumeTraces(ctx, td)
}

type metrics struct {
	lifecycle
	fn   MetricsFunc
	next consumer.Metrics
}

// Metrics returns a metrics processor that runs fn on each batch, then
// hands it to next.
func Metrics(fn MetricsFunc, next consumer.Metrics) pipeline.MetricsProcessor {
	return &metrics{fn: fn, next: next}
}

func (p *metrics) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if md.IsReadOnly() {
		c := pmetric.NewMetrics()
		md.CopyTo(c)
		md = c
	}
	if !p.fn(ctx, md) {
		return nil
	}
	return p.next.ConsumeMetrics(ctx, md)
}

type logs struct {
	lifecycle
	fn   LogsFunc
	next consumer.Logs
}

// Logs returns a logs processor that runs fn on each batch, then hands it
// to next.
func Logs(fn LogsFunc, next consumer.Logs) pipeline.LogsProcessor {
	return &logs{fn: fn, next: next}
}

func (p *logs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if ld.IsReadOnly() {
		c := plog.NewLogs()
		ld.CopyTo(c)
		ld = c
	}
	if !p.fn(ctx, ld) {
		return nil
	}
	return p.next.ConsumeLogs(ctx, ld)
}
