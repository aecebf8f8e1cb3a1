package probabilisticsamplerprocessor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"

	"github.com/outpost-edge/outpost/pipeline"
)

// outcome is what the sampler did with one item; each has a counter.
type outcome uint8

const (
	keptSampled           outcome = iota // the probabilistic decision
	keptPriority                         // a sampling priority forced it through
	keptFailOpen                         // unusable sampling information, fail_closed false
	keptUntraced                         // a log record without trace id, logs_without_trace_id keep
	droppedSampledOut                    // the probabilistic decision
	droppedPriority                      // a sampling priority of 0
	droppedInvalid                       // tracestate (or sampling.* attribute) does not parse
	droppedMissing                       // no randomness: a span without trace id or rv
	droppedInconsistent                  // the arriving threshold contradicts the randomness
	droppedThresholdInUse                // hash_seed mode met a consistent-sampling tracestate
	numOutcomes
)

// reasons are the label values of the outcomes.
var reasons = [numOutcomes]string{
	keptSampled:           "sampled",
	keptPriority:          "sampling_priority",
	keptFailOpen:          "fail_open",
	keptUntraced:          "no_trace_id",
	droppedSampledOut:     "sampled_out",
	droppedPriority:       "sampling_priority",
	droppedInvalid:        "invalid_tracestate",
	droppedMissing:        "missing_randomness",
	droppedInconsistent:   "inconsistent_threshold",
	droppedThresholdInUse: "threshold_in_use",
}

func (o outcome) kept() bool { return o < droppedSampledOut }

// tally counts one request's outcomes, to be added to the counters once.
type tally struct {
	n   [numOutcomes]int64
	adj float64 // adjusted counts of the items kept with a threshold
}

// common is what the traces and logs processors share.
type common struct {
	s          sampler
	failClosed bool
	logger     *slog.Logger
	counters   [numOutcomes]prometheus.Counter // nil without telemetry
	adjusted   prometheus.Counter
	// probability is the gauge of the probability in force; nil without
	// telemetry.
	probability prometheus.Gauge
	// warnedFlag: a trace id without the W3C random flag was presumed
	// random (logged once per processor, as the specification's
	// TraceIdRatioBased sampler does).
	warnedFlag atomic.Bool
}

var errNilNext = errors.New("probabilistic_sampler processor: nil next consumer")

func newCommon(set pipeline.Settings, cfg pipeline.Config, next any, signal pipeline.Signal) (*common, *Config, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, nil, fmt.Errorf("probabilistic_sampler processor: unexpected config type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	if next == nil {
		return nil, nil, errNilNext
	}
	p := &common{
		s:          newSampler(c, signal == pipeline.SignalLogs),
		failClosed: c.FailClosed,
		logger:     set.Logger,
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if tel := set.Telemetry; tel != nil {
		id, sig := set.ID.String(), string(signal)
		for o := range numOutcomes {
			if o.kept() {
				p.counters[o] = tel.Sampling.Kept.WithLabelValues(id, sig, reasons[o])
			} else {
				p.counters[o] = tel.ProcessorDropped.WithLabelValues(id, sig, reasons[o])
			}
		}
		p.adjusted = tel.Sampling.AdjustedCount.WithLabelValues(id, sig)
		p.probability = tel.Sampling.Probability.WithLabelValues(id, sig)
		if c.Adaptive == nil { // else set by Start, from the persisted probability
			p.probability.Set(float64(min(*c.SamplingPercentage, 100)) / 100)
		}
	}
	return p, c, nil
}

func (p *common) record(t *tally) {
	if p.adjusted == nil {
		return
	}
	for o, n := range t.n {
		if n != 0 {
			p.counters[o].Add(float64(n))
		}
	}
	if t.adj != 0 {
		p.adjusted.Add(t.adj)
	}
}

// presumedRandom logs, once, that a trace id without the W3C random flag
// was taken as random.
func (p *common) presumedRandom(flags uint32) {
	const w3cRandomFlag = 0x2
	if flags&w3cRandomFlag == 0 && !p.warnedFlag.Swap(true) {
		p.logger.Warn("probabilistic_sampler: sampling by trace id randomness for a span or record without the W3C random flag; trace ids are presumed random (W3C Trace Context Level 2)")
	}
}

// Capabilities reports that the processor mutates data: it removes the
// items it drops and writes thresholds on those it keeps.
func (p *common) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// Start does nothing: the processor has no background work.
func (p *common) Start(context.Context, pipeline.Host) error { return nil }

// Shutdown does nothing: the processor holds no data.
func (p *common) Shutdown(context.Context) error { return nil }
