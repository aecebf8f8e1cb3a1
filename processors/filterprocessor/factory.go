package filterprocessor

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/internal/inplace"
	"github.com/outpost-edge/outpost/internal/itemmatch"
	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration.
const Type = "filter"

// Reasons for outpost_processor_dropped_items_total.
const (
	ReasonNotIncluded = "not_included" // include is set and the item does not match it
	ReasonExcluded    = "excluded"     // the item matches exclude
)

var errNilNext = errors.New("filter processor: nil next consumer")

// NewFactory returns the filter processor's factory.
func NewFactory() pipeline.ProcessorFactory {
	return pipeline.ProcessorFactory{
		Type:                Type,
		CreateDefaultConfig: func() pipeline.Config { return createDefaultConfig() },
		CreateTraces: func(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Traces) (pipeline.TracesProcessor, error) {
			p, err := newProcessor(set, cfg, pipeline.SignalTraces, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Traces(p.traces, next), nil
		},
		CreateMetrics: func(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Metrics) (pipeline.MetricsProcessor, error) {
			p, err := newProcessor(set, cfg, pipeline.SignalMetrics, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Metrics(p.metrics, next), nil
		},
		CreateLogs: func(_ context.Context, set pipeline.Settings, cfg pipeline.Config, next consumer.Logs) (pipeline.LogsProcessor, error) {
			p, err := newProcessor(set, cfg, pipeline.SignalLogs, next == nil)
			if err != nil {
				return nil, err
			}
			return inplace.Logs(p.logs, next), nil
		},
	}
}

// processor is the compiled filter of one signal; immutable apart from its
// counters, and shared by concurrent callers.
type processor struct {
	filter itemmatch.Filter
	// dropped counts items by verdict (index NotIncluded, Excluded).
	dropped [3]prometheus.Counter
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, sig pipeline.Signal, nilNext bool) (*processor, error) {
	if nilNext {
		return nil, errNilNext
	}
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("filter processor: config of type %T, want *Config", cfg)
	}
	spans, metrics, logs, err := c.filters()
	if err != nil {
		return nil, err
	}
	p := &processor{}
	switch sig {
	case pipeline.SignalTraces:
		p.filter = spans
	case pipeline.SignalMetrics:
		p.filter = metrics
	case pipeline.SignalLogs:
		p.filter = logs
	}
	for v, reason := range map[itemmatch.Verdict]string{itemmatch.NotIncluded: ReasonNotIncluded, itemmatch.Excluded: ReasonExcluded} {
		if set.Telemetry != nil {
			p.dropped[v] = set.Telemetry.ProcessorDropped.WithLabelValues(set.ID.String(), string(sig), reason)
		} else {
			p.dropped[v] = prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
		}
	}
	return p, nil
}

// tally adds a batch's drops to the counters at once.
type tally [3]int

func (t *tally) add(v itemmatch.Verdict, n int) { t[v] += n }

func (p *processor) flush(t *tally) {
	for v := itemmatch.NotIncluded; v <= itemmatch.Excluded; v++ {
		if t[v] > 0 {
			p.dropped[v].Add(float64(t[v]))
		}
	}
}
