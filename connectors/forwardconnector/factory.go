package forwardconnector

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the connector's type in configuration.
const Type = "forward"

// NewFactory returns the factory for forward connectors.
func NewFactory() pipeline.ConnectorFactory {
	return pipeline.ConnectorFactory{
		Type: Type,
		Pairs: []pipeline.SignalPair{
			{From: pipeline.SignalTraces, To: pipeline.SignalTraces},
			{From: pipeline.SignalMetrics, To: pipeline.SignalMetrics},
			{From: pipeline.SignalLogs, To: pipeline.SignalLogs},
		},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next pipeline.Consumers) (pipeline.Component, error) {
	if _, ok := cfg.(*Config); !ok {
		return nil, fmt.Errorf("forward connector: config is %T, want *forwardconnector.Config", cfg)
	}
	c := newConnector(next)
	if c == nil {
		return nil, fmt.Errorf("connector %s: no pipeline takes data from it", set.ID)
	}
	return c, nil
}
