package cardinalitylimitprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration, after the OpenTelemetry
// SDK's "cardinality limit".
const Type = "cardinality_limit"

// NewFactory returns the cardinality_limit processor's factory (metrics
// only).
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
