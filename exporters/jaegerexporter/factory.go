package jaegerexporter

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/outpost-edge/outpost/internal/otlpsend"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Type is the exporter's type name in the configuration.
const Type = "jaeger"

// NewFactory returns the factory of the `jaeger` exporter.
func NewFactory() pipeline.ExporterFactory {
	return pipeline.ExporterFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalTraces},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("jaeger exporter: config is %T, want *jaegerexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	auth, err := c.Auth.Load(set.Logger)
	if err != nil {
		return nil, fmt.Errorf("auth.%w", err)
	}
	o := otlpsend.Options{
		Encoding:    sender.EncodingProto,
		Compression: c.Compression,
		Timeout:     c.Timeout,
		Retry:       c.RetryOnFailure,
		Queue:       c.Queue,
		Priority:    c.Priority,
	}
	var tr otlpsend.Transport
	switch c.Protocol {
	case ProtocolHTTP:
		u, _ := url.Parse(c.tracesURL()) // valid: Validate checked it
		tls := c.TLS
		tls.Insecure = false // the scheme decides; Validate refused insecure with https
		tlsCfg, err := tls.LoadReloading(set.Logger, u.Hostname())
		if err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
		tr = otlpsend.NewHTTP(otlpsend.HTTPOptions{
			URLs:    map[pipeline.Signal]string{pipeline.SignalTraces: u.String()},
			Headers: c.Headers,
			TLS:     tlsCfg,
			Auth:    auth,
		})
	default:
		host, _, _ := net.SplitHostPort(c.endpoint())
		tls := c.TLS
		tls.Insecure = c.plaintext()
		tlsCfg, err := tls.LoadReloading(set.Logger, host)
		if err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
		tr = otlpsend.NewGRPC(otlpsend.GRPCOptions{Endpoint: c.endpoint(), TLS: tlsCfg, Headers: c.Headers, Auth: auth})
		o.FastestZstd = true
	}
	inner, err := otlpsend.New(set, tr, o)
	if err != nil {
		return nil, err
	}
	return &exporter{Exporter: inner, defaultService: c.DefaultServiceName}, nil
}
