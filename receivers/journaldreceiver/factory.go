package journaldreceiver

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration.
const Type = "journald"

// NewFactory returns the factory for journald receivers.
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
		return nil, fmt.Errorf("journald receiver: config is %T, want *journaldreceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next.Logs == nil {
		return nil, fmt.Errorf("journald receiver %s: no logs pipeline takes from it", set.ID)
	}
	if set.StorageDir == "" {
		return nil, fmt.Errorf("journald receiver %s: needs storage.directory to keep its cursor", set.ID)
	}
	return newReceiver(set, c, next.Logs), nil
}
