package jaegerexporter

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/otlpsend"
	"github.com/outpost-edge/outpost/pipeline"
)

// serviceNameKey is the resource attribute Jaeger files spans under.
const serviceNameKey = "service.name"

// exporter is the shared OTLP exporter, with service.name filled in
// where it is missing when default_service_name asks for it.
type exporter struct {
	*otlpsend.Exporter
	defaultService string
}

var (
	_ consumer.Traces    = (*exporter)(nil)
	_ pipeline.Component = (*exporter)(nil)
)

// ConsumeTraces queues td, or without a queue sends it. With
// default_service_name set, a batch with a resource lacking service.name
// is copied and the copy filled in: the exporter never changes data it
// shares with other consumers (Capabilities says it does not mutate).
func (e *exporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if e.defaultService != "" && lacksServiceName(td) {
		cp := ptrace.NewTraces()
		td.CopyTo(cp)
		fillServiceName(cp, e.defaultService)
		td = cp
	}
	return e.Exporter.ConsumeTraces(ctx, td)
}

func lacksServiceName(td ptrace.Traces) bool {
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		if v, ok := rss.At(i).Resource().Attributes().Get(serviceNameKey); !ok || v.AsString() == "" {
			return true
		}
	}
	return false
}

func fillServiceName(td ptrace.Traces, name string) {
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		attrs := rss.At(i).Resource().Attributes()
		if v, ok := attrs.Get(serviceNameKey); !ok || v.AsString() == "" {
			attrs.PutStr(serviceNameKey, name)
		}
	}
}
