package otlpexporter

import (
	"context"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
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
	// The body is compressed once, here, and gRPC passes it through (see
	// grpccompress.Precompressed): a queued body is replayed without
	// compressing it again, and the uplink budget meters its real size.
	enc := encoder{encoding: sender.EncodingProto}
	if c.Compression != CompressionNone {
		enc.compressor = newBodyCompressor(c.Compression, true)
	}
	return create(set, enc, newGRPCTransport(c, tlsCfg), common{c.Timeout, c.RetryOnFailure, c.Queue, c.Priority})
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
		enc.compressor = newBodyCompressor(c.Compression, false)
	}
	return create(set, enc, newHTTPTransport(c, tlsCfg), common{c.Timeout, c.RetryOnFailure, c.Queue, c.Priority})
}

// common is the part of the configuration both exporters share.
type common struct {
	timeout  time.Duration
	retry    sender.RetryConfig
	queue    sender.QueueConfig
	priority lanes.Config
}

// create returns the exporter as a Component, or a nil interface on error.
func create(set pipeline.Settings, enc encoder, tr transport, c common) (pipeline.Component, error) {
	e, err := newExporter(set, enc, tr, c)
	if err != nil {
		return nil, err
	}
	return e, nil
}
