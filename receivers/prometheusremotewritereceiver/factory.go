package prometheusremotewritereceiver

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration, as the OpenTelemetry
// Collector's.
const Type = "prometheusremotewrite"

// NewFactory returns the factory for prometheusremotewrite receivers.
func NewFactory() pipeline.ReceiverFactory {
	return pipeline.ReceiverFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalMetrics},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next pipeline.Consumers) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("prometheusremotewrite receiver: config is %T, want *prometheusremotewritereceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next.Metrics == nil {
		return nil, fmt.Errorf("prometheusremotewrite receiver %s: not in a metrics pipeline", set.ID)
	}
	return newReceiver(set, c, next.Metrics)
}
