package configs

// hints says, for a component type or key that the OpenTelemetry
// Collector has and outpost does not, what outpost has instead. The key is
// the section and the type: "processors/memory_limiter".
var hints = map[string]string{
	"processors/memory_limiter": "outpost has no memory_limiter processor: set the top-level memory_limit (e.g. `memory_limit: 256MiB`), which every receiver enforces, and remove it from the pipelines",
	"extensions/health_check":   "outpost has no health_check extension: /healthz and /readyz are served on telemetry.address (default 127.0.0.1:8888); remove it and its entry in service.extensions",
	"extensions/pprof":          "outpost has no pprof extension: /debug/pprof/ is served on telemetry.address (default 127.0.0.1:8888); remove it and its entry in service.extensions",
	"extensions/zpages":         "outpost has no zpages extension: the status page and /metrics are served on telemetry.address; remove it and its entry in service.extensions",
	"exporters/logging":         "the logging exporter is called debug (as in the Collector since v0.86): rename it to debug",
	"service/telemetry":         "outpost's own telemetry is the top-level telemetry section (address, logs.level, logs.format), not service.telemetry: move it there",
}

// hint returns the hint for section/typ, or "".
func hint(section, typ string) string { return hints[section+"/"+typ] }
