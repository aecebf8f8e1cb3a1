package fileexporter

import (
	"context"
	"fmt"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the exporter's type in configuration.
const Type = "file"

// NewFactory returns the factory for file exporters.
func NewFactory() pipeline.ExporterFactory {
	return pipeline.ExporterFactory{
		Type:                Type,
		Signals:             []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs},
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		Create:              create,
	}
}

func create(_ context.Context, set pipeline.Settings, cfg pipeline.Config) (pipeline.Component, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("file exporter: config is %T, want *fileexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newExporter(set, c), nil
}
