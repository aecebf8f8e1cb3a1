package debugexporter

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the exporter's type in configuration.
const Type = "debug"

// NewFactory returns the factory for debug exporters.
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
		return nil, fmt.Errorf("debug exporter: config is %T, want *debugexporter.Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out io.Writer
	switch c.Output {
	case OutputStdout:
		out = os.Stdout
	case OutputStderr:
		out = os.Stderr
	}
	return newExporter(set, c, out), nil
}
