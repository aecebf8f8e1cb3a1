package prometheusreceiver

import (
	"context"
	"fmt"

	// Prometheus's service discovery mechanisms register their config
	// types with its config parser when their package is loaded; these are
	// the ones compiled into outpost (see doc.go for why not the others).
	// static_configs needs no package.
	_ "github.com/prometheus/prometheus/discovery/dns"
	_ "github.com/prometheus/prometheus/discovery/file"
	_ "github.com/prometheus/prometheus/discovery/http"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration.
const Type = "prometheus"

// NewFactory returns the factory for prometheus receivers.
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
		return nil, fmt.Errorf("prometheus receiver: config is %T, want *prometheusreceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if next.Metrics == nil {
		return nil, fmt.Errorf("prometheus receiver %s: not in a metrics pipeline", set.ID)
	}
	return newReceiver(set, c, next.Metrics), nil
}
