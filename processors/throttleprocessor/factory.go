package throttleprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration, as Vector's transform.
const Type = "throttle"

// NewFactory returns the throttle processor's factory (logs only).
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateLogs:          createLogs,
	}
}

func createLogs(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (pipeline.LogsProcessor, error) {
	return newProcessor(set, cfg, next)
}
