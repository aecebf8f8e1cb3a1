package logdedupprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration, as the Collector's.
const Type = "log_dedup"

// NewFactory returns the log_dedup processor's factory (logs only).
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
