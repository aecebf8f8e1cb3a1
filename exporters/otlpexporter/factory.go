package otlpexporter

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/outpost-edge/outpost/internal/otlpsend"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Type names of the exporters.
const (
	TypeGRPC = "otlp"
	TypeHTTP = "otlphttp"
)

// NewFactory returns the factory of the `otlp` exporter (OTLP/gRPC).
func NewFactory() pipeline.ExporterFactory {
	return pipeline.ExporterFactory{
		Type:                TypeGRPC,
		Signals:             []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              createGRPC,
	}
}

// NewHTTPFactory returns the factory of the `otlphttp` exporter
// (OTLP/HTTP).
func NewHTTPFactory() pipeline.ExporterFactory {
	return pipeline.ExporterFactory{
		Type:                TypeHTTP,
		Signals:             []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultHTTPConfig() },
		Create:              createHTTP,
	}
}

func createGRPC(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("otlp exporter: config is %T, want *otlpexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(c.Endpoint) // valid: Validate checked it
	tlsCfg, err := c.TLS.LoadReloading(set.Logger, host)
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	auth, err := c.Auth.Load(set.Logger)
	if err != nil {
		return nil, fmt.Errorf("auth.%w", err)
	}
	// The body is compressed once, here, and gRPC passes it through (see
	// grpccompress.Precompressed): a queued body is replayed without
	// compressing it again, and the uplink budget meters its real size.
	tr := otlpsend.NewGRPC(otlpsend.GRPCOptions{Endpoint: c.Endpoint, TLS: tlsCfg, Headers: c.Headers, Auth: auth})
	return create(set, tr, otlpsend.Options{
		Encoding:    sender.EncodingProto,
		Compression: c.Compression,
		FastestZstd: true,
		Timeout:     c.Timeout,
		Retry:       c.RetryOnFailure,
		Queue:       c.Queue,
		Priority:    c.Priority,
	})
}

func createHTTP(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*HTTPConfig)
	if !ok {
		return nil, fmt.Errorf("otlphttp exporter: config is %T, want *otlpexporter.HTTPConfig", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	urls := map[pipeline.Signal]string{}
	var hosts []string
	for _, sig := range pipeline.Signals {
		urls[sig] = c.signalURL(string(sig))
		if u, err := url.Parse(urls[sig]); err == nil && urls[sig] != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	tlsCfg, err := c.TLS.LoadReloading(set.Logger, hosts...)
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	auth, err := c.Auth.Load(set.Logger)
	if err != nil {
		return nil, fmt.Errorf("auth.%w", err)
	}
	tr := otlpsend.NewHTTP(otlpsend.HTTPOptions{URLs: urls, Headers: c.Headers, TLS: tlsCfg, Auth: auth})
	return create(set, tr, otlpsend.Options{
		Encoding:    sender.Encoding(c.Encoding),
		Compression: c.Compression,
		Timeout:     c.Timeout,
		Retry:       c.RetryOnFailure,
		Queue:       c.Queue,
		Priority:    c.Priority,
	})
}

// create returns the exporter as a Component, or a nil interface on error.
func create(set pipeline.Settings, tr otlpsend.Transport, o otlpsend.Options) (pipeline.Component, error) {
	e, err := otlpsend.New(set, tr, o)
	if err != nil {
		return nil, err
	}
	return e, nil
}
