package probabilisticsamplerprocessor

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration, as the Collector's.
const Type = "probabilistic_sampler"

// NewFactory returns the probabilistic sampler's factory (traces and
// logs).
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateTraces:        createTraces,
		CreateLogs:          createLogs,
	}
}

func createTraces(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
	return newTracesProcessor(set, cfg, next)
}

func createLogs(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (pipeline.LogsProcessor, error) {
	if c, ok := cfg.(*Config); ok && c.Adaptive != nil {
		return nil, errors.New("probabilistic_sampler: adaptive sampling is for traces pipelines only")
	}
	return newLogsProcessor(set, cfg, next)
}
