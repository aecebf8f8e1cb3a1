package probabilisticsamplerprocessor

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

func TestAdaptiveConfig(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err := configs.Decode("adaptive.yaml", []byte(`
sampling_percentage: 50
adaptive:
  exporter: otlp/central
  target_oldest_age: 2m
  target_queue_bytes: 64MiB
  target_budget_wait: 5s
  min_percentage: 2
  decrease_factor: 0.7
  increase_step: 10
  interval: 15s
  hysteresis: 0.25
`), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := AdaptiveConfig{Exporter: "otlp/central", TargetOldestAge: 2 * time.Minute, TargetQueueBytes: 64 << 20,
		TargetBudgetWait: 5 * time.Second, MinPercentage: 2, DecreaseFactor: 0.7, IncreaseStep: 10, Interval: 15 * time.Second, Hysteresis: 0.25}
	if cfg.Adaptive == nil || *cfg.Adaptive != want {
		t.Fatalf("decoded %+v, want %+v", cfg.Adaptive, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := (AdaptiveConfig{}).effective(); got.MinPercentage != 1 || got.DecreaseFactor != 0.5 || got.IncreaseStep != 5 ||
		got.Interval != 10*time.Second || got.Hysteresis != 0.5 {
		t.Errorf("defaults %+v", got)
	}
	err = configs.Decode("adaptive.yaml", []byte("sampling_percentage: 50\nadaptive: {exporter: otlp, target_age: 1m}\n"), NewFactory().CreateDefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "target_age") {
		t.Errorf("unknown key: %v", err)
	}

	for _, tc := range []struct {
		pct  float32
		edit func(*AdaptiveConfig)
		want string
	}{
		{50, func(a *AdaptiveConfig) { a.Exporter = "" }, "exporter: required"},
		{50, func(a *AdaptiveConfig) { a.Exporter = "otlp/" }, "exporter:"},
		{50, func(a *AdaptiveConfig) { a.TargetOldestAge = 0 }, "at least one of"},
		{50, func(a *AdaptiveConfig) { a.TargetQueueBytes = -1 }, "targets must be ≥ 0"},
		{0, nil, "sampling_percentage above 0"},
		{50, func(a *AdaptiveConfig) { a.MinPercentage = 60 }, "min_percentage"},
		{50, func(a *AdaptiveConfig) { a.MinPercentage = -1 }, "min_percentage"},
		{50, func(a *AdaptiveConfig) { a.MinPercentage = 1e-6 }, "min_percentage: must be at least"},
		{50, func(a *AdaptiveConfig) { a.DecreaseFactor = 1 }, "decrease_factor"},
		{50, func(a *AdaptiveConfig) { a.DecreaseFactor = -0.5 }, "decrease_factor"},
		{50, func(a *AdaptiveConfig) { a.IncreaseStep = -1 }, "increase_step"},
		{50, func(a *AdaptiveConfig) { a.Interval = -time.Second }, "interval"},
		{50, func(a *AdaptiveConfig) { a.Hysteresis = 1 }, "hysteresis"},
	} {
		a := AdaptiveConfig{Exporter: "otlp/central", TargetOldestAge: time.Minute}
		if tc.edit != nil {
			tc.edit(&a)
		}
		c := config(tc.pct, func(c *Config) { c.Adaptive = &a })
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "adaptive: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v at %v%%: %v, want an error with %q", a, tc.pct, err, tc.want)
		}
	}
	// The default floor (1 %) follows a lower ceiling.
	low := config(0.5, func(c *Config) { c.Adaptive = &AdaptiveConfig{Exporter: "otlp", TargetOldestAge: time.Minute} })
	if err := low.Validate(); err != nil {
		t.Errorf("sampling_percentage 0.5 with the default floor: %v", err)
	}
	if c := newController(*low.Adaptive, 0.5); c.minPct != 0.5 || c.maxPct != 0.5 {
		t.Errorf("floor %v, ceiling %v; want both 0.5", c.minPct, c.maxPct)
	}
	// Logs: refused, not ignored.
	c := config(10, func(c *Config) { c.Adaptive = &AdaptiveConfig{Exporter: "otlp", TargetOldestAge: time.Minute} })
	if _, err := NewFactory().CreateLogs(context.Background(), pipeline.Settings{ID: pipeline.MustID(Type)}, c, consumer.Logs(&logSink{})); err == nil {
		t.Error("adaptive in a logs pipeline: no error")
	}
}

// TestAdaptiveControllerSteps: the law, one tick at a time.
func TestAdaptiveControllerSteps(t *testing.T) {
	c := newController(AdaptiveConfig{Exporter: "x", TargetOldestAge: 60 * time.Second, TargetBudgetWait: 4 * time.Second,
		MinPercentage: 5, DecreaseFactor: 0.5, IncreaseStep: 10, Hysteresis: 0.5}, 80)
	for i, tc := range []struct {
		o    observation
		want float64
	}{
		{observation{hasQueue: true, age: 10 * time.Second, items: 100}, 80}, // under, at the ceiling
		{observation{hasQueue: true, age: 61 * time.Second, items: 200}, 40}, // over, growing: ×0.5
		{observation{hasQueue: true, age: 90 * time.Second, items: 200}, 20}, // over, not shrinking
		{observation{hasQueue: true, age: 95 * time.Second, items: 150}, 20}, // over but shrinking: hold
		{observation{hasQueue: true, age: 45 * time.Second, items: 100}, 20}, // in the band: hold
		{observation{hasQueue: true, age: 30 * time.Second, items: 50}, 30},  // at (1−h)×target: +10
		{observation{hasQueue: true, age: 20 * time.Second, items: 80}, 30},  // under but behind: hold
		{observation{hasQueue: true, age: 5 * time.Second, items: 90}, 40},   // growing, but younger than an interval
		{observation{hasQueue: true, items: 90, wait: 3 * time.Second}, 40},  // the wait is in its band
		{observation{hasQueue: true, items: 90, wait: 5 * time.Second}, 20},  // the wait is over
		{observation{wait: 5 * time.Second}, 10},                             // no queue: the wait alone
		{observation{wait: 5 * time.Second}, 5},                              // the floor
		{observation{wait: 5 * time.Second}, 5},
		{observation{}, 15},
		{observation{}, 25},
		{observation{}, 35}, {observation{}, 45}, {observation{}, 55}, {observation{}, 65}, {observation{}, 75},
		{observation{}, 80}, // the ceiling
		{observation{}, 80},
	} {
		if got := c.step(tc.o); math.Abs(got-tc.want) > 1e-9 {
			t.Fatalf("step %d %+v: %v, want %v", i, tc.o, got, tc.want)
		}
	}
	c.set(1)
	if c.pct != 5 {
		t.Errorf("set below the floor: %v", c.pct)
	}
	c.set(200)
	if c.pct != 80 {
		t.Errorf("set above the ceiling: %v", c.pct)
	}
}

// adaptiveSystem is the real pipeline around the sampler, in a synctest
// bubble: spans at a fixed rate → the adaptive sampler → an exporter's
// memory queue (spanBytes per kept span) → one sender that waits on the
// uplink budget for each record, then acknowledges it.
type adaptiveSystem struct {
	p      *tracesProcessor
	tel    *selftelemetry.Metrics
	reg    *queue.Registry
	budget *uplink.Budget
	stop   func()
}

const (
	spanBytes     = 500
	spansPerTick  = 20 // every 100 ms: 200 spans/s, 100 kB/s at 100 %
	adaptExporter = "otlp/central"
)

func startAdaptiveSystem(t *testing.T, a AdaptiveConfig, rate int64, storageDir string) *adaptiveSystem {
	t.Helper()
	s := &adaptiveSystem{tel: selftelemetry.New(), reg: &queue.Registry{}}
	s.budget = uplink.New(uplink.Config{BytesPerSecond: rate, Burst: 8 * spanBytes * spansPerTick}, s.tel)
	q, release, err := s.reg.Acquire(queue.Options{Kind: queue.KindMemory, Exporter: adaptExporter, Limits: queue.Limits{MaxBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		n := td.SpanCount()
		return q.Append(queue.Record{Lane: queue.LaneNormal, Created: time.Now(), Items: n, Signal: "traces", Encoding: "proto", Body: make([]byte, n*spanBytes)})
	})
	if err != nil {
		t.Fatal(err)
	}
	a.Exporter = adaptExporter
	set := pipeline.Settings{ID: pipeline.MustID("probabilistic_sampler/adaptive"), Telemetry: s.tel, Queues: s.reg, Uplink: s.budget, StorageDir: storageDir}
	p, err := newTracesProcessor(set, config(100, func(c *Config) { c.Adaptive = &a }), sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	s.p = p
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { // the sender
		c := s.budget.Client(adaptExporter, 1)
		defer c.Close()
		for {
			d, err := q.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Wait(ctx, len(d.Record.Body)); err != nil {
				q.Nack(d)
				return
			}
			q.Ack(d)
		}
	})
	wg.Go(func() { // the application
		r := rand.New(rand.NewPCG(1, 2))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			td := ptrace.NewTraces()
			spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
			for range spansPerTick {
				sp := spans.AppendEmpty()
				sp.SetTraceID(randomTID(r))
				sp.SetSpanID(pcommon.SpanID{1})
			}
			if err := p.ConsumeTraces(ctx, td); err != nil {
				t.Error(err)
				return
			}
		}
	})
	s.stop = func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		cancel()
		wg.Wait()
		if err := release(); err != nil {
			t.Error(err)
		}
	}
	return s
}

func (s *adaptiveSystem) probability() float64 {
	return testutil.ToFloat64(s.tel.Sampling.Probability.WithLabelValues("probabilistic_sampler/adaptive", "traces"))
}

func (s *adaptiveSystem) backlog() queue.Backlog {
	b, _ := s.reg.Backlog(adaptExporter)
	return b
}

// TestAdaptiveControlLaw (synctest): 100 kB/s of spans at 100 % against a
// 30 kB/s uplink. With target_oldest_age 20s, interval 5s, halving: the
// backlog's age passes 20 s about 29 s in (the head of a FIFO drained at
// 30 of 100 kB/s ages at 0.7 s/s), two halvings (10 s) bring the
// probability to 25 %, under the 30 % the uplink carries. So the backlog
// stops growing within 60 s and never again exceeds that first peak. Age
// lags: the first backlog drains for minutes at the 5 kB/s to spare;
// once it has (450 s), the oldest age stays within 2 × target, and the
// probability saws around what the uplink carries (mean 20–40 %). Raised to 1 MB/s, the uplink drains the
// backlog and the probability climbs back to 100 % by +5 per 5 s: within
// 120 s.
func TestAdaptiveControlLaw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := startAdaptiveSystem(t, AdaptiveConfig{TargetOldestAge: 20 * time.Second, Interval: 5 * time.Second,
			DecreaseFactor: 0.5, IncreaseStep: 5, Hysteresis: 0.5}, 30_000, "")
		defer s.stop()
		start := time.Now()
		var (
			peak60, peakAfter int
			maxAge            time.Duration
			sum               float64
			n                 int
			line              strings.Builder
		)
		for sec := 1; sec <= 600; sec++ {
			time.Sleep(time.Second)
			synctest.Wait()
			b, p := s.backlog(), s.probability()
			if sec <= 60 {
				peak60 = max(peak60, b.Items)
			} else {
				peakAfter = max(peakAfter, b.Items)
			}
			if sec > 450 {
				maxAge = max(maxAge, b.Age(time.Now()))
			}
			if sec > 300 {
				sum += p
				n++
			}
			if sec%30 == 0 {
				fmt.Fprintf(&line, "%ds: p=%.1f%% backlog=%d spans (%.0f kB) age=%v; ", sec, p*100, b.Items, float64(b.Items*spanBytes)/1000, b.Age(time.Now()).Round(time.Second))
			}
		}
		mean := sum / float64(n)
		t.Logf("budget 30 kB/s, offered 100 kB/s: %s", line.String())
		t.Logf("first-60s peak %d spans, later peak %d spans, max age 450–600 s %v, mean probability 300–600 s %.1f %%", peak60, peakAfter, maxAge, mean*100)
		if peakAfter > peak60 {
			t.Errorf("the backlog grew after 60 s: peak %d spans > first peak %d spans", peakAfter, peak60)
		}
		if maxAge > 40*time.Second {
			t.Errorf("oldest age reached %v after 450 s (the first backlog drained), want ≤ 2 × target", maxAge)
		}
		if mean < 0.2 || mean > 0.4 {
			t.Errorf("mean probability %.3f, want 0.2–0.4 around the 0.3 the uplink carries", mean)
		}

		// Raise the budget: the backlog drains, the probability recovers.
		s.budget.Reconfigure(uplink.Config{BytesPerSecond: 1_000_000, Burst: 1_000_000})
		raised := time.Now()
		for s.probability() < 1 {
			if time.Since(raised) > 120*time.Second {
				t.Fatalf("probability %.3f 120 s after the raise, want 1", s.probability())
			}
			time.Sleep(time.Second)
			synctest.Wait()
		}
		t.Logf("budget raised to 1 MB/s at %v: probability back to 100 %% after %v, backlog %d spans",
			raised.Sub(start), time.Since(raised), s.backlog().Items)
	})
}

// TestAdaptiveSampling: at a lowered probability the kept spans carry
// its threshold and adjusted count; spans of a trace with an error in the
// request are decided at sampling_percentage; the gauge follows; the
// percentage persists for the next instance.
func TestAdaptiveSampling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "processor-probabilistic_sampler")
		// A budget far below the offered load drives the probability to
		// its floor, 2 %.
		s := startAdaptiveSystem(t, AdaptiveConfig{TargetBudgetWait: time.Second, MinPercentage: 2, Interval: time.Second}, 1000, dir)
		for s.probability() > 0.02 {
			time.Sleep(time.Second)
			synctest.Wait()
		}
		// 2 % is 0.02 rounded to 4 hex digits, th:fae14.
		cur := s.p.cur.Load()
		if cur.baseTS != "ot=th:fae14" {
			t.Errorf("tracestate at 2 %%: %q", cur.baseTS)
		}
		// Stop the system (the loop, the load): the sampler stays at 2 %.
		s.stop()
		sink := &traceSink{}
		p := s.p
		p.next = sink
		r := rand.New(rand.NewPCG(3, 4))
		const traces = 20000
		td := ptrace.NewTraces()
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		errIDs := map[pcommon.TraceID]bool{}
		for i := range traces {
			tid := randomTID(r)
			for j := range 2 { // a parent and a child; the child of every 10th trace fails
				sp := spans.AppendEmpty()
				sp.SetTraceID(tid)
				sp.SetSpanID(pcommon.SpanID{byte(j + 1)})
				if i%10 == 0 && j == 1 {
					sp.Status().SetCode(ptrace.StatusCodeError)
					errIDs[tid] = true
				}
			}
		}
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		kept := map[pcommon.TraceID]int{}
		var okKept int
		for _, sp := range sink.spans() {
			kept[sp.TraceID()]++
			ts, err := sampling.NewW3CTraceState(sp.TraceState().AsRaw())
			if err != nil {
				t.Fatal(err)
			}
			want := 1.0 / 0.02
			if errIDs[sp.TraceID()] {
				want = 1
			} else {
				okKept++
			}
			if got := ts.OTelValue().AdjustedCount(); math.Abs(got-want) > 0.01 {
				t.Fatalf("span of trace %v (error %v): adjusted count %v, want %v", sp.TraceID(), errIDs[sp.TraceID()], got, want)
			}
		}
		for tid := range errIDs {
			if kept[tid] != 2 {
				t.Fatalf("error trace %v: %d of 2 spans kept", tid, kept[tid])
			}
		}
		for tid, n := range kept {
			if n != 2 {
				t.Fatalf("trace %v kept partly: %d of 2 spans", tid, n)
			}
		}
		// 18 000 traces without errors at 2 %: 360 expected, binomial
		// σ ≈ 18.8; 99.9 % bounds ± 3.3 σ.
		if got := okKept / 2; got < 298 || got > 422 {
			t.Errorf("%d of 18000 traces without errors kept at 2 %%, want 360 ± 62", got)
		}
		t.Logf("at 2 %%: %d of 18000 traces without errors kept, all %d error traces whole", okKept/2, len(errIDs))
		raw, err := os.ReadFile(filepath.Join(dir, stateFile))
		if err != nil || strings.TrimSpace(string(raw)) != "2" {
			t.Fatalf("persisted percentage %q, %v; want 2", raw, err)
		}

		// The next instance (a reload, a restart) starts where this one
		// stopped, not at sampling_percentage.
		s2 := startAdaptiveSystem(t, AdaptiveConfig{TargetBudgetWait: time.Second, MinPercentage: 2, Interval: time.Hour}, 1000, dir)
		if got := s2.probability(); got != 0.02 {
			t.Errorf("next instance starts at %v, want 0.02", got)
		}
		s2.stop()
	})
}

// TestAdaptiveStartNeedsQueue: a queue target with no queue open for the
// exporter fails Start instead of never adapting.
func TestAdaptiveStartNeedsQueue(t *testing.T) {
	a := AdaptiveConfig{Exporter: "otlp/nowhere", TargetOldestAge: time.Minute}
	p, err := newTracesProcessor(pipeline.Settings{ID: pipeline.MustID(Type), Queues: &queue.Registry{}}, config(10, func(c *Config) { c.Adaptive = &a }), &traceSink{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "otlp/nowhere") {
		t.Errorf("Start: %v, want an error naming the exporter", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}
