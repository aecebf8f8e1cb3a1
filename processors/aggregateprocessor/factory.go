package aggregateprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration.
const Type = "aggregate"

// NewFactory returns the aggregate processor's factory. It works on
// metrics only.
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateMetrics:       createMetrics,
	}
}

func createMetrics(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (pipeline.MetricsProcessor, error) {
	return newProcessor(set, cfg, next)
}
