package otlpreceiver

import (
	"context"
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/gzip"

	"github.com/outpost-edge/outpost/internal/grpccompress"
	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the receiver's type in configuration.
const Type = "otlp"

// NewFactory returns the factory for OTLP receivers.
func NewFactory() pipeline.ReceiverFactory {
	return pipeline.ReceiverFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next pipeline.Consumers) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("otlp receiver: config is %T, want *otlpreceiver.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// gRPC looks decompressors up in a process-wide registry by the
	// request's grpc-encoding; outpost's gzip and zstd are registered here,
	// once per process.
	grpccompress.Register()
	for _, name := range []string{gzip.Name, grpccompress.Zstd} {
		if encoding.GetCompressor(name) == nil {
			return nil, fmt.Errorf("otlp receiver: gRPC compressor %q is not registered", name)
		}
	}
	return newReceiver(set, c, next)
}
