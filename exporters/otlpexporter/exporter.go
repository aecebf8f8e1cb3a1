package otlpexporter

import "github.com/outpost-edge/outpost/internal/otlpsend"

// exporter is the component both factories create: the shared OTLP
// exporter (internal/otlpsend), which jaegerexporter uses as well.
type exporter = otlpsend.Exporter
