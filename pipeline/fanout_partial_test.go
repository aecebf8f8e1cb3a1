package pipeline

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// reportedRejected is the count an OTLP receiver puts in its partial
// success for err: the sum of the *PartialErrors joined in it, as
// receivers/otlpreceiver classifies a consumer error.
func reportedRejected(err error) int64 {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var n int64
		for _, e := range j.Unwrap() {
			n += reportedRejected(e)
		}
		return n
	}
	if pe, ok := errors.AsType[*PartialError](err); ok {
		return pe.Rejected
	}
	return 0
}

// rejecting is a read-only metrics consumer that refuses n of the batch's
// points in a partial success, as the prometheusremotewrite exporter does
// with a point it cannot send; lanes > 1 splits the refusal over several
// lanes, joined as the exporter joins its lanes' errors.
func rejecting(n int64, lanes int) consumer.Metrics {
	c, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error {
		var errs []error
		for l := range lanes {
			k := n / int64(lanes)
			if l == 0 {
				k += n % int64(lanes)
			}
			errs = append(errs, &PartialError{Rejected: k, Err: consumererror.NewPermanent(errors.New("delta temporality"))})
		}
		return JoinErrors(errs)
	})
	return c
}

func fourPoints() pmetric.Metrics {
	md := pmetric.NewMetrics()
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("g")
	for range 4 {
		g.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	}
	return md
}

// TestFault9d_PartialSuccessCountedOncePerFanout: one bad point of four
// through two remote-write exporters is reported as 1 rejected, not 2
// (the two exporters refused the same point); through two pipelines of two
// exporters each, still 1. A consumer whose lanes refused 1 point each (2
// in all) beside one that refused 1 gives 2: the largest. A retryable
// error anywhere still wins.
func TestFault9d_PartialSuccessCountedOncePerFanout(t *testing.T) {
	tel := selftelemetry.New()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		c    consumer.Metrics
		want int64
	}{
		{"two exporters, one bad point", NewMetricsFanout(tel, rejecting(1, 1), rejecting(1, 1)), 1},
		{"two pipelines of two exporters", NewMetricsFanout(tel,
			NewMetricsFanout(tel, rejecting(1, 1), rejecting(1, 1)),
			NewMetricsFanout(tel, rejecting(1, 1), rejecting(1, 1))), 1},
		{"an exporter's two lanes beside another exporter", NewMetricsFanout(tel, rejecting(2, 2), rejecting(1, 1)), 2},
		{"one exporter rejects, the other takes all", NewMetricsFanout(tel, rejecting(1, 1), rejecting(0, 0)), 1},
	} {
		err := tc.c.ConsumeMetrics(ctx, fourPoints())
		got := reportedRejected(err)
		t.Logf("%s: 4 points, reported rejected %d (want %d)", tc.name, got, tc.want)
		if got != tc.want {
			t.Errorf("%s: reported rejected %d, want %d (%v)", tc.name, got, tc.want, err)
		}
		if !consumererror.IsPermanent(err) {
			t.Errorf("%s: a partial success must not ask the client to retry: %v", tc.name, err)
		}
	}

	retry, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error { return errors.New("queue unavailable") })
	err := NewMetricsFanout(tel, rejecting(1, 1), retry).ConsumeMetrics(ctx, fourPoints())
	if err == nil || consumererror.IsPermanent(err) {
		t.Errorf("partial + retryable: want the retryable error, got %v", err)
	}
}
