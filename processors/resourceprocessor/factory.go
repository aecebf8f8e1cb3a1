package resourceprocessor

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/internal/inplace"
	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration.
const Type = "resource"

var errNilNext = errors.New("resource processor: nil next consumer")

// NewFactory returns the resource processor's factory.
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateTraces: func(_ context.Context, _ pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
			a, err := compile(cfg, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Traces(func(_ context.Context, td ptrace.Traces) bool {
				for _, rs := range td.ResourceSpans().All() {
					a.Apply(rs.Resource().Attributes())
				}
				return true
			}, next), nil
		},
		CreateMetrics: func(_ context.Context, _ pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (pipeline.MetricsProcessor, error) {
			a, err := compile(cfg, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Metrics(func(_ context.Context, md pmetric.Metrics) bool {
				for _, rm := range md.ResourceMetrics().All() {
					a.Apply(rm.Resource().Attributes())
				}
				return true
			}, next), nil
		},
		CreateLogs: func(_ context.Context, _ pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (pipeline.LogsProcessor, error) {
			a, err := compile(cfg, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Logs(func(_ context.Context, ld plog.Logs) bool {
				for _, rl := range ld.ResourceLogs().All() {
					a.Apply(rl.Resource().Attributes())
				}
				return true
			}, next), nil
		},
	}
}

func compile(cfg pipeline.Config, nilNext bool) (*attraction.Actions, error) {
	if nilNext {
		return nil, errNilNext
	}
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("resource processor: config of type %T, want *Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return attraction.Compile("attributes", c.Attributes)
}
