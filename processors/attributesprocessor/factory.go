package attributesprocessor

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/internal/inplace"
	"github.com/outpost-edge/outpost/internal/itemmatch"
	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration.
const Type = "attributes"

var errNilNext = errors.New("attributes processor: nil next consumer")

// NewFactory returns the attributes processor's factory.
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateTraces: func(_ context.Context, _ pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
			p, err := newProcessor(cfg, itemmatch.Spans, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Traces(p.traces, next), nil
		},
		CreateMetrics: func(_ context.Context, _ pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (pipeline.MetricsProcessor, error) {
			p, err := newProcessor(cfg, itemmatch.Metrics, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Metrics(p.metrics, next), nil
		},
		CreateLogs: func(_ context.Context, _ pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (pipeline.LogsProcessor, error) {
			p, err := newProcessor(cfg, itemmatch.Logs, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Logs(p.logs, next), nil
		},
	}
}

// processor holds the compiled configuration; it is immutable and shared
// by concurrent callers.
type processor struct {
	filter  itemmatch.Filter
	actions *attraction.Actions
}

func newProcessor(cfg pipeline.Config, s itemmatch.Signal, nilNext bool) (*processor, error) {
	if nilNext {
		return nil, errNilNext
	}
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("attributes processor: config of type %T, want *Config", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	f, err := itemmatch.CompileFilter(c.Include, c.Exclude, s, nil)
	if err != nil {
		return nil, err
	}
	a, err := attraction.Compile("actions", c.Actions)
	if err != nil {
		return nil, err
	}
	return &processor{filter: f, actions: a}, nil
}

func (p *processor) traces(_ context.Context, td ptrace.Traces) bool {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			sf := p.filter.ForScope(rs.Resource(), ss.Scope())
			for _, sp := range ss.Spans().All() {
				if sf.Span(sp) == itemmatch.Keep {
					p.actions.Apply(sp.Attributes())
				}
			}
		}
	}
	return true
}

func (p *processor) logs(_ context.Context, ld plog.Logs) bool {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			sf := p.filter.ForScope(rl.Resource(), sl.Scope())
			for _, lr := range sl.LogRecords().All() {
				if sf.Log(lr) == itemmatch.Keep {
					p.actions.Apply(lr.Attributes())
				}
			}
		}
	}
	return true
}

func (p *processor) metrics(_ context.Context, md pmetric.Metrics) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sf := p.filter.ForScope(rm.Resource(), sm.Scope())
			for _, m := range sm.Metrics().All() {
				mf := sf.ForMetric(m.Name())
				v, whole := mf.Whole()
				if whole && v != itemmatch.Keep {
					continue
				}
				itemmatch.EachPointAttributes(m, func(attrs pcommon.Map) {
					if whole || mf.Point(attrs) == itemmatch.Keep {
						p.actions.Apply(attrs)
					}
				})
			}
		}
	}
	return true
}
