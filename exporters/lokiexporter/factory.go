package lokiexporter

import (
	"context"
	"fmt"
	"net/url"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the exporter's type name in the configuration.
const Type = "loki"

// NewFactory returns the factory of the `loki` exporter.
func NewFactory() pipeline.ExporterFactory {
	return pipeline.ExporterFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalLogs},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

// create returns the exporter as a Component, or a nil interface on error.
func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("loki exporter: config is %T, want *lokiexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	u, err := url.Parse(c.Endpoint) // valid: Validate checked it
	if err != nil {
		return nil, fmt.Errorf("endpoint: %w", err)
	}
	// The files are read now (an unreadable one is an error naming its
	// key) and followed from then on: TLS files at each handshake, auth
	// files at each request.
	tlsCfg, err := c.TLS.LoadReloading(set.Logger, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	auth, err := c.Auth.Load(set.Logger)
	if err != nil {
		return nil, fmt.Errorf("auth.%w", err)
	}
	e, err := newExporter(set, c, clientOptions{TLS: tlsCfg, Auth: auth})
	if err != nil {
		return nil, err
	}
	return e, nil
}
