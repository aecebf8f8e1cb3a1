package tailsamplingprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration, as the Collector's.
const Type = "tail_sampling"

// NewFactory returns the tail_sampling processor's factory (traces only).
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateTraces:        createTraces,
	}
}

func createTraces(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
	return newProcessor(set, cfg, next)
}
