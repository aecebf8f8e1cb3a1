package redactionprocessor

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/inplace"
	"github.com/outpost-edge/outpost/internal/itemmatch"
	"github.com/outpost-edge/outpost/pipeline"
)

// Type is the processor's type in configuration.
const Type = "redaction"

// Reasons for outpost_processor_redacted_total.
const (
	ReasonKeyNotAllowed = "key_not_allowed"
	ReasonBlockedKey    = "blocked_key"
	ReasonBlockedValue  = "blocked_value"
)

var errNilNext = errors.New("redaction processor: nil next consumer")

// NewFactory returns the redaction processor's factory.
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

type processor struct {
	r                                       *redactor
	keyNotAllowed, blockedKey, blockedValue prometheus.Counter
}

func newProcessor(set pipeline.Settings, cfg pipeline.Config, sig pipeline.Signal, nilNext bool) (*processor, error) {
	if nilNext {
		return nil, errNilNext
	}
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("redaction processor: config of type %T, want *Config", cfg)
	}
	r, err := newRedactor(c)
	if err != nil {
		return nil, err
	}
	p := &processor{r: r}
	counter := func(reason string) prometheus.Counter {
		if set.Telemetry == nil {
			return prometheus.NewCounter(prometheus.CounterOpts{Name: "redacted"})
		}
		return set.Telemetry.ProcessorRedacted.WithLabelValues(set.ID.String(), string(sig), reason)
	}
	p.keyNotAllowed = counter(ReasonKeyNotAllowed)
	p.blockedKey = counter(ReasonBlockedKey)
	p.blockedValue = counter(ReasonBlockedValue)
	return p, nil
}

func (p *processor) record(c *counts) {
	if c.keyNotAllowed > 0 {
		p.keyNotAllowed.Add(float64(c.keyNotAllowed))
	}
	if c.blockedKey > 0 {
		p.blockedKey.Add(float64(c.blockedKey))
	}
	if c.blockedValue > 0 {
		p.blockedValue.Add(float64(c.blockedValue))
	}
}

// name masks the blocked values in a span name, event name or status
// message (they have no key, so only blocked_values apply).
func (p *processor) name(get func() string, set func(string), c *counts) {
	if out, masked, _ := p.r.maskString(get()); masked {
		set(out)
		c.blockedValue++
	}
}

func (p *processor) traces(_ context.Context, td ptrace.Traces) bool {
	var c counts
	for _, rs := range td.ResourceSpans().All() {
		p.r.attributes(rs.Resource().Attributes(), &c)
		for _, ss := range rs.ScopeSpans().All() {
			p.r.attributes(ss.Scope().Attributes(), &c)
			for _, sp := range ss.Spans().All() {
				p.r.attributes(sp.Attributes(), &c)
				p.name(sp.Name, sp.SetName, &c)
				p.name(sp.Status().Message, sp.Status().SetMessage, &c)
				for _, ev := range sp.Events().All() {
					p.r.attributes(ev.Attributes(), &c)
					p.name(ev.Name, ev.SetName, &c)
				}
				for _, l := range sp.Links().All() {
					p.r.attributes(l.Attributes(), &c)
				}
			}
		}
	}
	p.record(&c)
	return true
}

func (p *processor) logs(_ context.Context, ld plog.Logs) bool {
	var c counts
	for _, rl := range ld.ResourceLogs().All() {
		p.r.attributes(rl.Resource().Attributes(), &c)
		for _, sl := range rl.ScopeLogs().All() {
			p.r.attributes(sl.Scope().Attributes(), &c)
			for _, lr := range sl.LogRecords().All() {
				p.r.attributes(lr.Attributes(), &c)
				p.r.body(lr.Body(), lr.Attributes(), &c)
			}
		}
	}
	p.record(&c)
	return true
}

func (p *processor) metrics(_ context.Context, md pmetric.Metrics) bool {
	var c counts
	for _, rm := range md.ResourceMetrics().All() {
		p.r.attributes(rm.Resource().Attributes(), &c)
		for _, sm := range rm.ScopeMetrics().All() {
			p.r.attributes(sm.Scope().Attributes(), &c)
			for _, m := range sm.Metrics().All() {
				itemmatch.EachPointAttributes(m, func(attrs pcommon.Map) { p.r.attributes(attrs, &c) })
			}
		}
	}
	p.record(&c)
	return true
}
