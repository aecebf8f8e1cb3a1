package spanmetricsconnector

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

const (
	server = ptrace.SpanKindServer
	client = ptrace.SpanKindClient
	errC   = ptrace.StatusCodeError
	okC    = ptrace.StatusCodeOk
)

func TestCallsAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spans []span
		want  map[string]int64 // key part → calls
	}{
		{
			name:  "one span",
			spans: []span{{service: "shop", name: "GET /", kind: server}},
			want: map[string]int64{
				"traces.span.metrics.calls{svc=shop|service.name=shop,span.kind=SPAN_KIND_SERVER,span.name=GET /,status.code=STATUS_CODE_UNSET}": 1,
			},
		},
		{
			name: "errors by status",
			spans: []span{
				{service: "shop", name: "pay", kind: client, status: errC},
				{service: "shop", name: "pay", kind: client, status: errC},
				{service: "shop", name: "pay", kind: client, status: okC},
				{service: "shop", name: "pay", kind: client},
			},
			want: map[string]int64{
				"traces.span.metrics.calls{svc=shop|service.name=shop,span.kind=SPAN_KIND_CLIENT,span.name=pay,status.code=STATUS_CODE_ERROR}": 2,
				"traces.span.metrics.calls{svc=shop|service.name=shop,span.kind=SPAN_KIND_CLIENT,span.name=pay,status.code=STATUS_CODE_OK}":    1,
				"traces.span.metrics.calls{svc=shop|service.name=shop,span.kind=SPAN_KIND_CLIENT,span.name=pay,status.code=STATUS_CODE_UNSET}": 1,
			},
		},
		{
			name: "services and kinds apart",
			spans: []span{
				{service: "a", name: "x", kind: server}, {service: "b", name: "x", kind: server},
				{service: "a", name: "x", kind: ptrace.SpanKindInternal}, {name: "x"},
			},
			want: map[string]int64{
				"traces.span.metrics.calls{svc=a|service.name=a,span.kind=SPAN_KIND_SERVER,span.name=x,status.code=STATUS_CODE_UNSET}":                   1,
				"traces.span.metrics.calls{svc=b|service.name=b,span.kind=SPAN_KIND_SERVER,span.name=x,status.code=STATUS_CODE_UNSET}":                   1,
				"traces.span.metrics.calls{svc=a|service.name=a,span.kind=SPAN_KIND_INTERNAL,span.name=x,status.code=STATUS_CODE_UNSET}":                 1,
				"traces.span.metrics.calls{svc=|service.name=unknown_service,span.kind=SPAN_KIND_UNSPECIFIED,span.name=x,status.code=STATUS_CODE_UNSET}": 1,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Histogram.Disable = true }, nil)
			e.consume(t, tc.spans...)
			got := map[string]int64{}
			for k, p := range e.flush(t) {
				got[k] = p.value
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("calls\n got %v\nwant %v", got, tc.want)
			}
			if n := promtest.ToFloat64(e.k.tel.spans); n != float64(len(tc.spans)) {
				t.Errorf("spans counted = %v, want %d", n, len(tc.spans))
			}
		})
	}
}

func TestExplicitHistogram(t *testing.T) {
	for _, tc := range []struct {
		name    string
		unit    string
		buckets []time.Duration
		durs    []time.Duration
		want    []uint64
		sum     float64
	}{
		{
			name: "ms, bounds inclusive", unit: "ms",
			buckets: []time.Duration{10 * time.Millisecond, 100 * time.Millisecond},
			durs:    []time.Duration{0, 10 * time.Millisecond, 10*time.Millisecond + 1, 100 * time.Millisecond, time.Second},
			want:    []uint64{2, 2, 1},
			sum:     10 + 10.000001 + 100 + 1000,
		},
		{
			name: "s", unit: "s",
			buckets: []time.Duration{250 * time.Millisecond, time.Second},
			durs:    []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second},
			want:    []uint64{1, 1, 1},
			sum:     2.6,
		},
		{
			name: "default buckets", unit: "ms",
			durs: []time.Duration{time.Millisecond, 3 * time.Millisecond, 50 * time.Millisecond, 20 * time.Second},
			want: []uint64{1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			sum:  1 + 3 + 50 + 20000,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.Histogram.Unit = tc.unit
				if tc.buckets != nil {
					c.Histogram.Explicit = &ExplicitHistogramConfig{Buckets: tc.buckets}
				}
			}, nil)
			for _, d := range tc.durs {
				e.consume(t, span{service: "s", name: "op", dur: d})
			}
			pts := e.flush(t)
			var got point
			for k, p := range pts {
				if strings.HasPrefix(k, "traces.span.metrics.duration{") {
					got = p
				}
			}
			if !reflect.DeepEqual(got.buckets, tc.want) || got.count != uint64(len(tc.durs)) || math.Abs(got.sum-tc.sum) > 1e-9 {
				t.Errorf("histogram buckets %v count %d sum %v; want %v, %d, %v", got.buckets, got.count, got.sum, tc.want, len(tc.durs), tc.sum)
			}
		})
	}
}

func TestExponentialHistogram(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 4} }, nil)
	// 1, 2, 4 and 8 ms and a zero duration: with 4 buckets the scale
	// settles at 0, where bucket i is (2^i, 2^(i+1)]: 1 ms is in bucket -1.
	for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond} {
		e.consume(t, span{service: "s", name: "op", dur: d})
	}
	var got point
	for k, p := range e.flush(t) {
		if strings.HasPrefix(k, "traces.span.metrics.duration{") {
			got = p
		}
	}
	want := point{count: 5, sum: 15, scale: 0, offset: -1, expo: []uint64{1, 1, 1, 1}, zero: 1, start: got.start}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("exponential point %+v, want %+v", got, want)
	}

	// Many values in a narrow range keep a fine scale.
	e = newEnv(t, func(c *Config) { c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 160} }, nil)
	for i := range 100 {
		e.consume(t, span{service: "s", name: "op", dur: 100*time.Millisecond + time.Duration(i)*time.Millisecond})
	}
	for k, p := range e.flush(t) {
		if strings.HasPrefix(k, "traces.span.metrics.duration{") {
			var n uint64
			for _, c := range p.expo {
				n += c
			}
			if p.count != 100 || n != 100 || p.scale < 5 || len(p.expo) > 160 {
				t.Errorf("narrow range: count %d, buckets sum %d, scale %d, %d buckets", p.count, n, p.scale, len(p.expo))
			}
			// Every value v lies in (base^(offset+i), base^(offset+i+1)].
			base := math.Pow(2, math.Pow(2, -float64(p.scale)))
			lo, hi := math.Pow(base, float64(p.offset)), math.Pow(base, float64(p.offset+int32(len(p.expo))))
			if lo >= 100 || hi < 199 {
				t.Errorf("range (%v, %v] does not hold 100..199 ms", lo, hi)
			}
		}
	}
}

func TestDimensions(t *testing.T) {
	str := func(s string) *string { return &s }
	e := newEnv(t, func(c *Config) {
		c.Histogram.Disable = true
		c.ExcludeDimensions = []string{DimSpanKind}
		c.Dimensions = []Dimension{
			{Name: "http.method", Default: str("GET")},
			{Name: "region"},    // span attribute, else resource attribute, else absent
			{Name: "tenant.id"}, // absent: no such dimension
		}
	}, nil)
	e.consume(t,
		span{service: "s", name: "op", attrs: map[string]any{"http.method": "POST", "region": "eu"}},
		span{service: "s", name: "op", res: map[string]any{"region": "us"}},
		span{service: "s", name: "op", attrs: map[string]any{"region": int64(7)}},
		span{service: "s", name: "op"},
		span{service: "s", name: "op"},
	)
	got := map[string]int64{}
	for k, p := range e.flush(t) {
		got[k] = p.value
	}
	want := map[string]int64{
		"traces.span.metrics.calls{svc=s|http.method=POST,region=eu,service.name=s,span.name=op,status.code=STATUS_CODE_UNSET}": 1,
		"traces.span.metrics.calls{svc=s|http.method=GET,region=us,service.name=s,span.name=op,status.code=STATUS_CODE_UNSET}":  1,
		"traces.span.metrics.calls{svc=s|http.method=GET,region=7,service.name=s,span.name=op,status.code=STATUS_CODE_UNSET}":   1,
		"traces.span.metrics.calls{svc=s|http.method=GET,service.name=s,span.name=op,status.code=STATUS_CODE_UNSET}":            2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls\n got %v\nwant %v", got, want)
	}
}

func TestResourceKeyAttributes(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Histogram.Disable = true
		c.ResourceMetricsKeyAttributes = []string{"service.name"}
	}, nil)
	// process.pid changes, service.name does not: one resource, one series.
	e.consume(t, span{service: "s", name: "op", res: map[string]any{"process.pid": int64(1)}},
		span{service: "s", name: "op", res: map[string]any{"process.pid": int64(2)}})
	pts := e.flush(t)
	if len(pts) != 1 || calls(pts) != 2 {
		t.Errorf("points %v, want one series with 2 calls", pts)
	}
	if rm := e.sink.last(t).ResourceMetrics(); rm.Len() != 1 {
		t.Errorf("%d resources, want 1", rm.Len())
	} else if pid, _ := rm.At(0).Resource().Attributes().Get("process.pid"); pid.Int() != 1 {
		t.Errorf("resource attributes are not the first resource's: pid %v", pid.AsString())
	}
}

func TestTemporality(t *testing.T) {
	key := "traces.span.metrics.calls{svc=s|service.name=s,span.kind=SPAN_KIND_UNSPECIFIED,span.name=op,status.code=STATUS_CODE_UNSET}"
	other := "traces.span.metrics.calls{svc=s|service.name=s,span.kind=SPAN_KIND_UNSPECIFIED,span.name=other,status.code=STATUS_CODE_UNSET}"
	hist := strings.Replace(key, ".calls{", ".duration{", 1)

	e := newEnv(t, nil, nil) // cumulative
	e.consume(t, span{service: "s", name: "op", dur: time.Millisecond}, span{service: "s", name: "op", dur: time.Millisecond})
	first := e.flush(t)
	e.consume(t, span{service: "s", name: "op", dur: time.Millisecond}, span{service: "s", name: "other"})
	second := e.flush(t)
	third := e.flush(t) // nothing new: totals again
	if first[key].value != 2 || second[key].value != 3 || third[key].value != 3 || third[other].value != 1 {
		t.Errorf("cumulative calls %d, %d, %d; want 2, 3, 3", first[key].value, second[key].value, third[key].value)
	}
	if second[hist].count != 3 || second[key].start != first[key].start {
		t.Errorf("cumulative histogram count %d, start moved %v → %v", second[hist].count, first[key].start, second[key].start)
	}

	e = newEnv(t, func(c *Config) { c.AggregationTemporality = TemporalityDelta }, nil)
	e.consume(t, span{service: "s", name: "op", dur: time.Millisecond}, span{service: "s", name: "op", dur: time.Millisecond})
	first = e.flush(t)
	e.consume(t, span{service: "s", name: "op"}, span{service: "s", name: "other"})
	second = e.flush(t)
	third = e.flush(t)
	if first[key].value != 2 || second[key].value != 1 || second[other].value != 1 || len(third) != 0 {
		t.Errorf("delta calls %d, %d, then %d points; want 2, 1, then none", first[key].value, second[key].value, len(third))
	}
	if second[hist].count != 1 || second[key].start <= first[key].start {
		t.Errorf("delta histogram count %d; start %v after %v", second[hist].count, second[key].start, first[key].start)
	}
	if md := e.sink.last(t); md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().AggregationTemporality().String() != "Delta" {
		t.Error("temporality is not delta")
	}
}

func TestOverflow(t *testing.T) {
	ovf := "traces.span.metrics.calls{svc=s|otel.metric.overflow=true}"
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		mem    *memlimit.Limiter
		reason string
		want   map[string]int64
	}{
		{
			name: "aggregation_cardinality_limit", reason: reasonLimit,
			edit: func(c *Config) { c.AggregationCardinalityLimit = 2 },
			want: map[string]int64{"span.name=a": 1, "span.name=b": 1, ovf: 2},
		},
		{
			name: "max_series", reason: reasonMaxSeries,
			edit: func(c *Config) { c.MaxSeries = 1 },
			want: map[string]int64{"span.name=a": 1, ovf: 3},
		},
		{
			// Capacity is half the limit: room for about one series.
			name: "memory_limit", reason: reasonMemoryLimit, mem: memlimit.New(2*(resourceOverhead+100+seriesOverhead+200), nil),
			want: map[string]int64{"span.name=a": 1, ovf: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.Histogram.Disable = true
				if tc.edit != nil {
					tc.edit(c)
				}
			}, tc.mem)
			e.consume(t, span{service: "s", name: "a"}, span{service: "s", name: "b"}, span{service: "s", name: "c"}, span{service: "s", name: "d"})
			pts := e.flush(t)
			for part, n := range tc.want {
				if got := calls(pts, part); got != n {
					t.Errorf("calls %s = %d, want %d (points %v)", part, got, n, pts)
				}
			}
			if got := calls(pts); got != 4 {
				t.Errorf("all calls = %d, want 4", got)
			}
			if got := promtest.ToFloat64(e.k.tel.overflow["calls/"+tc.reason]); got != float64(tc.want[ovf]) {
				t.Errorf("overflow counter %s = %v, want %d", tc.reason, got, tc.want[ovf])
			}
			if tc.mem != nil && tc.mem.InFlight() != e.k.charge.Held() {
				t.Errorf("memory in flight %d, charge %d", tc.mem.InFlight(), e.k.charge.Held())
			}
			_ = e.k.Shutdown(context.Background())
			if tc.mem != nil && tc.mem.InFlight() != 0 {
				t.Errorf("memory in flight after Shutdown = %d", tc.mem.InFlight())
			}
		})
	}

	t.Run("resource_metrics_cache_size", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Histogram.Disable = true; c.ResourceMetricsCacheSize = 1 }, nil)
		e.consume(t, span{service: "a", name: "x"}, span{service: "b", name: "x"}, span{service: "c", name: "y"})
		pts := e.flush(t)
		if calls(pts, "svc=a|") != 1 || calls(pts, "svc=|otel.metric.overflow=true") != 2 || len(pts) != 2 {
			t.Errorf("points %v; want a's series and 2 calls in the overflow resource", pts)
		}
		if got := promtest.ToFloat64(e.k.tel.overflow["calls/"+reasonResourceLimit]); got != 2 {
			t.Errorf("overflow counter = %v, want 2", got)
		}
	})
}

func TestExemplars(t *testing.T) {
	for _, hist := range []string{"explicit", "exponential", "disabled"} {
		t.Run(hist, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.Exemplars = ExemplarsConfig{Enabled: true, MaxPerDataPoint: 2}
				switch hist {
				case "exponential":
					c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 160}
				case "disabled":
					c.Histogram.Disable = true
				}
			}, nil)
			for i := 1; i <= 3; i++ {
				e.consume(t, span{service: "s", name: "op", trace: byte(i), dur: time.Duration(i) * time.Millisecond})
			}
			metric := "traces.span.metrics.duration{"
			if hist == "disabled" {
				metric = "traces.span.metrics.calls{"
			}
			for k, p := range e.flush(t) {
				want := []string(nil)
				if strings.HasPrefix(k, metric) {
					want = []string{"2:2", "3:3"} // the latest two: trace 2 and 3, their durations in ms
				}
				if !reflect.DeepEqual(p.exemplars, want) {
					t.Errorf("%s exemplars %v, want %v", k, p.exemplars, want)
				}
			}
			for k, p := range e.flush(t) {
				if len(p.exemplars) != 0 {
					t.Errorf("%s: exemplars %v not cleared by the flush", k, p.exemplars)
				}
			}
		})
	}
}

func TestEvents(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Histogram.Disable = true
		c.Events = EventsConfig{Enabled: true, Dimensions: []Dimension{{Name: "exception.type"}}}
	}, nil)
	e.consume(t,
		span{service: "s", name: "op", status: errC, events: []map[string]any{{"exception.type": "Timeout"}, {"exception.type": "Timeout"}, {"other": 1}}},
		span{service: "s", name: "op", status: errC, events: []map[string]any{{"exception.type": "IO"}}},
	)
	pts := e.flush(t)
	base := "traces.span.metrics.events{svc=s|"
	tail := "service.name=s,span.kind=SPAN_KIND_UNSPECIFIED,span.name=op,status.code=STATUS_CODE_ERROR}"
	for key, n := range map[string]int64{
		base + "exception.type=Timeout," + tail: 2,
		base + "exception.type=IO," + tail:      1,
		base + tail:                             1,
	} {
		if pts[key].value != n {
			t.Errorf("%s = %d, want %d", key, pts[key].value, n)
		}
	}
	if calls(pts) != 2 {
		t.Errorf("calls = %d, want 2", calls(pts))
	}
}

func TestBackPressure(t *testing.T) {
	retryable := errors.New("queue full")
	permanent := consumererror.NewPermanent(errors.New("bad"))
	for _, tc := range []struct {
		name       string
		delta      bool
		err        error
		wantSecond int64   // calls in the second flush's point
		refused    float64 // refused flushes
		dropped    float64 // spans dropped, reason refused
	}{
		{name: "cumulative retryable", err: retryable, wantSecond: 3, refused: 1},
		{name: "cumulative permanent", err: permanent, wantSecond: 3},
		{name: "delta retryable", delta: true, err: retryable, wantSecond: 3, refused: 1},
		{name: "delta permanent", delta: true, err: permanent, wantSecond: 1, dropped: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				if tc.delta {
					c.AggregationTemporality = TemporalityDelta
				}
			}, nil)
			e.sink.fail = func(n int) error {
				if n == 1 {
					return tc.err
				}
				return nil
			}
			e.consume(t, span{service: "s", name: "op"}, span{service: "s", name: "op"})
			if err := e.k.flush(context.Background(), false); !errors.Is(err, tc.err) {
				t.Fatalf("first flush: %v, want %v", err, tc.err)
			}
			e.consume(t, span{service: "s", name: "op"})
			pts := e.flush(t)
			if got := calls(pts); got != tc.wantSecond {
				t.Errorf("second flush calls = %d, want %d", got, tc.wantSecond)
			}
			for k, p := range pts {
				if strings.Contains(k, ".duration{") && int64(p.count) != tc.wantSecond {
					t.Errorf("second flush histogram count = %d, want %d", p.count, tc.wantSecond)
				}
			}
			if got := promtest.ToFloat64(e.k.tel.refusedFlushes); got != tc.refused {
				t.Errorf("refused flushes = %v, want %v", got, tc.refused)
			}
			if got := promtest.ToFloat64(e.k.tel.dropped[reasonRefused]); got != tc.dropped {
				t.Errorf("dropped = %v, want %v", got, tc.dropped)
			}
			if err := e.k.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MetricsFlushInterval = time.Hour }, nil)
	if err := e.k.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	e.consume(t, span{service: "s", name: "op"})
	if err := e.k.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := calls(points(t, e.sink.last(t))); got != 1 {
		t.Errorf("final flush calls = %d, want 1", got)
	}
	var ce *consumererror.Error
	if err := e.k.ConsumeTraces(context.Background(), traces(span{name: "late"})); !errors.As(err, &ce) || !ce.IsRetryable() {
		t.Errorf("ConsumeTraces after Shutdown: %v, want a retryable error", err)
	}
	if err := e.k.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}

	// A final flush that fails drops and counts what it stood for.
	e = newEnv(t, nil, nil)
	e.sink.fail = func(int) error { return errors.New("down") }
	e.consume(t, span{service: "s", name: "op"}, span{service: "s", name: "op"})
	if err := e.k.Shutdown(context.Background()); err == nil {
		t.Error("Shutdown hid the failed flush")
	}
	if got := promtest.ToFloat64(e.k.tel.dropped[reasonShutdown]); got != 2 {
		t.Errorf("dropped at shutdown = %v, want 2", got)
	}
}

func TestFlushIntervalAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.MetricsFlushInterval = 10 * time.Second
			c.MetricsExpiration = 25 * time.Second
		}, memlimit.New(1<<30, nil))
		if err := e.k.Start(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		e.consume(t, span{service: "s", name: "old"}, span{service: "s", name: "kept"})
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		if n := e.sink.count(); n != 1 {
			t.Fatalf("%d flushes after one interval, want 1", n)
		}
		held := e.k.charge.Held()
		for range 3 { // "kept" gets a span every interval
			e.consume(t, span{service: "s", name: "kept"})
			time.Sleep(10 * time.Second)
			synctest.Wait()
		}
		// At 40 s, "old" was last seen at 0 s: expired after the 30 s flush.
		pts := points(t, e.sink.last(t))
		if calls(pts, "span.name=old") != 0 || calls(pts, "span.name=kept") != 4 {
			t.Errorf("after expiry: %v", pts)
		}
		if got := promtest.ToFloat64(e.k.tel.series); got != 1 {
			t.Errorf("series gauge = %v, want 1", got)
		}
		if e.k.charge.Held() >= held {
			t.Errorf("charge %d not lowered by expiry (was %d)", e.k.charge.Held(), held)
		}
		if got := promtest.ToFloat64(e.k.tel.dropped[reasonExpired]); got != 0 {
			t.Errorf("expired with undelivered spans = %v, want 0", got)
		}
		if err := e.k.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.k.charge.Held() != 0 {
			t.Errorf("charge %d after Shutdown", e.k.charge.Held())
		}
	})
}

func TestShutdownDeadline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inFlight  error // the stuck flush's answer once released
		wantCount float64
	}{
		// 2 spans in the stuck flush, 1 counted after it: Shutdown
		// counts the 1 at once, the flush's 2 only if it fails.
		{name: "stuck flush then delivers", wantCount: 1},
		{name: "stuck flush then fails", inFlight: errors.New("down"), wantCount: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				e := newEnv(t, func(c *Config) { c.MetricsFlushInterval = time.Second }, nil)
				e.sink.fail = func(n int) error {
					if n == 1 {
						<-release // ignores its context, as a stuck consumer would
						return tc.inFlight
					}
					return nil
				}
				if err := e.k.Start(context.Background(), nil); err != nil {
					t.Fatal(err)
				}
				e.consume(t, span{service: "s", name: "op"}, span{service: "s", name: "op"})
				time.Sleep(time.Second + time.Millisecond)
				synctest.Wait() // the flush is stuck in the sink
				e.consume(t, span{service: "s", name: "op"})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := e.k.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Shutdown = %v, want the deadline", err)
				}
				close(release)
				synctest.Wait()
				if got := promtest.ToFloat64(e.k.tel.dropped[reasonShutdown]); got != tc.wantCount {
					t.Errorf("dropped at shutdown = %v, want %v", got, tc.wantCount)
				}
			})
		})
	}
}
