package lokireceiver

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration.
const Type = "loki"

// NewFactory returns the factory for loki receivers.
func NewFactory() pipeline.ReceiverFactory {
	return pipeline.ReceiverFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalLogs},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next pipeline.Consumers) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("loki receiver: config is %T, want *lokireceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next.Logs == nil {
		return nil, fmt.Errorf("loki receiver %s: no logs pipeline takes from it", set.ID)
	}
	return newReceiver(set, c, next.Logs)
}
