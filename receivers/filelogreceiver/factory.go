package filelogreceiver

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration.
const Type = "filelog"

// NewFactory returns the factory for filelog receivers.
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
		return nil, fmt.Errorf("filelog receiver: config is %T, want *filelogreceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next.Logs == nil {
		return nil, fmt.Errorf("filelog receiver %s: not in a logs pipeline", set.ID)
	}
	return newReceiver(set, c, next.Logs)
}
