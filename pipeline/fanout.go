package pipeline

import (
	"context"
	"errors"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// pdataOps are the few operations a fan-out needs on one pdata type.
type pdataOps[T any] struct {
	signal Signal
	clone  func(T) T
	markRO func(T)
	isRO   func(T) bool
	count  func(T) int
}

var (
	tracesOps = pdataOps[ptrace.Traces]{
		signal: SignalTraces,
		clone: func(td ptrace.Traces) ptrace.Traces {
			out := ptrace.NewTraces()
			td.CopyTo(out)
			return out
		},
		markRO: ptrace.Traces.MarkReadOnly,
		isRO:   ptrace.Traces.IsReadOnly,
		count:  ptrace.Traces.SpanCount,
	}
	metricsOps = pdataOps[pmetric.Metrics]{
		signal: SignalMetrics,
		clone: func(md pmetric.Metrics) pmetric.Metrics {
			out := pmetric.NewMetrics()
			md.CopyTo(out)
			return out
		},
		markRO: pmetric.Metrics.MarkReadOnly,
		isRO:   pmetric.Metrics.IsReadOnly,
		count:  pmetric.Metrics.DataPointCount,
	}
	logsOps = pdataOps[plog.Logs]{
		signal: SignalLogs,
		clone: func(ld plog.Logs) plog.Logs {
			out := plog.NewLogs()
			ld.CopyTo(out)
			return out
		},
		markRO: plog.Logs.MarkReadOnly,
		isRO:   plog.Logs.IsReadOnly,
		count:  plog.Logs.LogRecordCount,
	}
)

type consumeFunc[T any] func(context.Context, T) error

// fanout hands one batch to several consumers and joins their errors
// (JoinErrors; partial successes merged by mergePartials, so the client is
// told of the items refused by any consumer once, not once per consumer). Read-only consumers share the
// original (marked read-only when more than one sees it). Mutating consumers
// get their own copy, except that the last one gets the original when no
// read-only consumer shares it: so a copy is made only when more than one
// consumer mutates, or when a mutating and a read-only consumer would
// otherwise share data that the first may change while the second still
// reads it.
type fanout[T any] struct {
	ops      pdataOps[T]
	mutable  []consumeFunc[T]
	readonly []consumeFunc[T]
	cloned   func(n int)
}

func (f *fanout[T]) consume(ctx context.Context, data T) error {
	var errs []error
	for i, c := range f.mutable {
		d := data
		if i < len(f.mutable)-1 || len(f.readonly) > 0 || f.ops.isRO(data) {
			d = f.ops.clone(data)
			f.cloned(f.ops.count(data))
		}
		if err := c(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	if len(f.readonly) > 1 && !f.ops.isRO(data) {
		f.ops.markRO(data)
	}
	for _, c := range f.readonly {
		if err := c(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	return JoinErrors(mergePartials(errs))
}

// mergePartials reports the items refused in partial successes once:
// every consumer of a fan-out got the same batch, so the items refused by
// one may be the very items refused by another (one bad data point
// refused by two remote-write exporters is one point, not two). The
// consumers' errors that are partial successes only become one
// *PartialError whose Rejected is the largest of them (the union of the
// refused items is not knowable from counts; the maximum is its lower
// bound and exact when the consumers refuse the same items, which is the
// common case of one malformed item); the other errors are kept as they
// are. A consumer's own partial successes (from the parts of its batch, as
// an exporter's lanes) are disjoint and add up first.
func mergePartials(errs []error) []error {
	var (
		widest *PartialError
		out    []error
	)
	for _, err := range errs {
		if n, pe, ok := partialOnly(err); ok {
			if widest == nil || n > widest.Rejected {
				widest = &PartialError{Rejected: n, Err: pe.Err}
			}
			continue
		}
		out = append(out, err)
	}
	if widest == nil {
		return errs
	}
	return append(out, widest)
}

// partialOnly reports whether err is made only of partial successes (one,
// or several joined) and how many items they refuse together; pe is one of
// them.
func partialOnly(err error) (int64, *PartialError, bool) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var (
			sum   int64
			first *PartialError
		)
		for _, e := range j.Unwrap() {
			n, pe, ok := partialOnly(e)
			if !ok {
				return 0, nil, false
			}
			sum += n
			if first == nil {
				first = pe
			}
		}
		return sum, first, first != nil
	}
	pe, ok := errors.AsType[*PartialError](err)
	if !ok {
		return 0, nil, false
	}
	return max(pe.Rejected, 0), pe, true
}

func newFanout[T any](ops pdataOps[T], tel *selftelemetry.Metrics) *fanout[T] {
	f := &fanout[T]{ops: ops, cloned: func(int) {}}
	if tel != nil {
		c := tel.PipelineClonedItems.WithLabelValues(string(ops.signal))
		f.cloned = func(n int) { c.Add(float64(n)) }
	}
	return f
}

func (f *fanout[T]) add(mutates bool, c consumeFunc[T]) {
	if mutates {
		f.mutable = append(f.mutable, c)
	} else {
		f.readonly = append(f.readonly, c)
	}
}

func (f *fanout[T]) mutates() bool { return len(f.mutable) > 0 }

// NewTracesFanout returns a consumer that hands each batch to all of cs, or
// cs[0] itself when there is only one.
func NewTracesFanout(tel *selftelemetry.Metrics, cs ...consumer.Traces) consumer.Traces {
	if len(cs) == 1 {
		return cs[0]
	}
	f := newFanout(tracesOps, tel)
	for _, c := range cs {
		f.add(c.Capabilities().MutatesData, c.ConsumeTraces)
	}
	next, _ := consumer.NewTraces(f.consume, consumer.WithCapabilities(consumer.Capabilities{MutatesData: f.mutates()}))
	return next
}

// NewMetricsFanout is NewTracesFanout for metrics.
func NewMetricsFanout(tel *selftelemetry.Metrics, cs ...consumer.Metrics) consumer.Metrics {
	if len(cs) == 1 {
		return cs[0]
	}
	f := newFanout(metricsOps, tel)
	for _, c := range cs {
		f.add(c.Capabilities().MutatesData, c.ConsumeMetrics)
	}
	next, _ := consumer.NewMetrics(f.consume, consumer.WithCapabilities(consumer.Capabilities{MutatesData: f.mutates()}))
	return next
}

// NewLogsFanout is NewTracesFanout for logs.
func NewLogsFanout(tel *selftelemetry.Metrics, cs ...consumer.Logs) consumer.Logs {
	if len(cs) == 1 {
		return cs[0]
	}
	f := newFanout(logsOps, tel)
	for _, c := range cs {
		f.add(c.Capabilities().MutatesData, c.ConsumeLogs)
	}
	next, _ := consumer.NewLogs(f.consume, consumer.WithCapabilities(consumer.Capabilities{MutatesData: f.mutates()}))
	return next
}
