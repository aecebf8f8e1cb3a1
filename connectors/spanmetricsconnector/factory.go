package spanmetricsconnector

import (
	"context"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the connector's type in configuration, as the Collector's.
const Type = "spanmetrics"

// NewFactory returns the spanmetrics connector's factory (traces in,
// metrics out).
func NewFactory() pipeline.ConnectorFactory {
	return pipeline.ConnectorFactory{
		Type:                Type,
		Pairs:               []pipeline.SignalPair{{From: pipeline.SignalTraces, To: pipeline.SignalMetrics}},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next pipeline.Consumers) (pipeline.Component, error) {
	return newConnector(set, cfg, next)
}
