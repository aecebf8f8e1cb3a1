package hostmetricsreceiver

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration.
const Type = "hostmetrics"

// NewFactory returns the factory for hostmetrics receivers.
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
		return nil, fmt.Errorf("hostmetrics receiver: config is %T, want *hostmetricsreceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newReceiver(set, c, next)
}
