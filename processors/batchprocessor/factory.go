package batchprocessor

import (
	"context"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration.
const Type = "batch"

// NewFactory returns the batch processor's factory.
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateTraces:        createTraces,
		CreateMetrics:       createMetrics,
		CreateLogs:          createLogs,
	}
}

type tracesProcessor struct{ *batcher[ptrace.Traces] }

func (p tracesProcessor) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return p.consume(ctx, td)
}

type metricsProcessor struct{ *batcher[pmetric.Metrics] }

func (p metricsProcessor) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return p.consume(ctx, md)
}

type logsProcessor struct{ *batcher[plog.Logs] }

func (p logsProcessor) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	return p.consume(ctx, ld)
}

func createTraces(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
	if next == nil {
		return nil, errNilNext
	}
	b, err := newBatcher(set, cfg, tracesOps, next.ConsumeTraces)
	if err != nil {
		return nil, err
	}
	return tracesProcessor{b}, nil
}

func createMetrics(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (pipeline.MetricsProcessor, error) {
	if next == nil {
		return nil, errNilNext
	}
	b, err := newBatcher(set, cfg, metricsOps, next.ConsumeMetrics)
	if err != nil {
		return nil, err
	}
	return metricsProcessor{b}, nil
}

func createLogs(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (pipeline.LogsProcessor, error) {
	if next == nil {
		return nil, errNilNext
	}
	b, err := newBatcher(set, cfg, logsOps, next.ConsumeLogs)
	if err != nil {
		return nil, err
	}
	return logsProcessor{b}, nil
}
