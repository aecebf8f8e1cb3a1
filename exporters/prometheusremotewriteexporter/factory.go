package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"net/url"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the exporter's type name in the configuration.
const Type = "prometheusremotewrite"

// NewFactory returns the factory of the `prometheusremotewrite` exporter.
func NewFactory() pipeline.ExporterFactory {
	return pipeline.ExporterFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalMetrics},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

// create returns the exporter as a Component, or a nil interface on error.
func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("prometheusremotewrite exporter: config is %T, want *prometheusremotewriteexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.Endpoint) // valid: Validate checked it
	tlsCfg, err := c.TLS.LoadReloading(set.Logger, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	auth, err := c.Auth.Load(set.Logger)
	if err != nil {
		return nil, fmt.Errorf("auth.%w", err)
	}
	e, err := newExporter(set, c, newClient(c, tlsCfg, auth))
	if err != nil {
		return nil, err
	}
	return e, nil
}
