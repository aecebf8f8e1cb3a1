package scrapeloop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func onePoint() pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("x")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	return md
}

// TestNoOverlapAndShutdown: a cycle slower than the interval delays the
// next one (never two at once); Shutdown with a deadline returns while a
// cycle is stuck in the pipeline, and the loop ends once it returns.
func TestNoOverlapAndShutdown(t *testing.T) {
	var running, most, cycles atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	next, _ := consumer.NewMetrics(func(ctx context.Context, _ pmetric.Metrics) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		if cycles.Add(1) == 3 {
			<-release // the third cycle hangs until released
		}
		return nil
	})
	tel := selftelemetry.New()
	l, err := New(Options{ID: pipeline.ID{Type: "t"}, Kind: "t", Telemetry: tel, Transport: "host", Interval: time.Millisecond,
		Scrape: func(context.Context) (pmetric.Metrics, error) { return onePoint(), nil }, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("cycle did not run")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown while a cycle hangs: %v", err)
	}
	close(release)
	if err := l.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	<-l.done
	if most.Load() != 1 {
		t.Errorf("%d cycles ran at once", most.Load())
	}
	if got := testutil.ToFloat64(tel.ReceiverAccepted.WithLabelValues("t", "metrics", "host")); got != float64(cycles.Load()) {
		t.Errorf("accepted %v, cycles %d", got, cycles.Load())
	}
	if err := l.Start(); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

// TestPartialAndScrapeError: a partial refusal counts the accepted and
// rejected parts; a scrape error still sends what was read.
func TestPartialAndScrapeError(t *testing.T) {
	md := onePoint()
	md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().AppendEmpty().SetIntValue(2)
	next, _ := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error {
		return &pipeline.PartialError{Rejected: 1, Err: errors.New("one bad")}
	})
	tel := selftelemetry.New()
	l, err := New(Options{ID: pipeline.ID{Type: "t"}, Kind: "t", Telemetry: tel, Transport: "host", Interval: time.Second,
		Scrape: func(context.Context) (pmetric.Metrics, error) { return md, errors.New("cpu: unreadable") }, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Cycle(context.Background())
	acc := testutil.ToFloat64(tel.ReceiverAccepted.WithLabelValues("t", "metrics", "host"))
	rej := testutil.ToFloat64(tel.ReceiverRefused.WithLabelValues("t", "metrics", "host", ReasonRejected))
	if acc != 1 || rej != 1 {
		t.Errorf("accepted %v rejected %v, want 1 and 1", acc, rej)
	}
	if _, err := New(Options{Kind: "t", Interval: 0}); err == nil {
		t.Error("zero interval accepted")
	}
}
