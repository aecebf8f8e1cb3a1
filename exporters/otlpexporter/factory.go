package otlpexporter

import (
	"context"
	"fmt"
	"time"

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
	tlsCfg, err := c.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	// gRPC compresses each message itself, so the body stays plain proto.
	enc := encoder{encoding: sender.EncodingProto}
	return create(set, enc, newGRPCTransport(c, tlsCfg), c.Timeout, c.RetryOnFailure)
}

func createHTTP(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*HTTPConfig)
	if !ok {
		return nil, fmt.Errorf("otlphttp exporter: config is %T, want *otlpexporter.HTTPConfig", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := c.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("tls.%w", err)
	}
	enc := encoder{encoding: sender.Encoding(c.Encoding)}
	if c.Compression != CompressionNone {
		enc.compressor = newBodyCompressor(c.Compression)
	}
	return create(set, enc, newHTTPTransport(c, tlsCfg), c.Timeout, c.RetryOnFailure)
}

// create returns the exporter as a Component, or a nil interface on error.
func create(set pipeline.Settings, enc encoder, tr transport, timeout time.Duration, retry sender.RetryConfig) (pipeline.Component, error) {
	e, err := newExporter(set, enc, tr, timeout, retry)
	if err != nil {
		return nil, err
	}
	return e, nil
}
