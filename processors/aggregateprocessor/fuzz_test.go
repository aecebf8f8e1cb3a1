package aggregateprocessor

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/pipeline"
)

// FuzzConsumeMetrics feeds arbitrary OTLP metrics requests through rules
// with every output, dedup_interval and a small max_bytes. Whatever the
// input: no panic, the state never counts negative bytes, and once every
// series is stale and the dedup window has ended the state is empty again
// (every byte charged was given back).
func FuzzConsumeMetrics(f *testing.F) {
	var m pmetric.ProtoMarshaler
	now := time.Unix(1_700_000_000, 0)
	for _, md := range []pmetric.Metrics{
		build(a("node.name", "n"), "c", counter, pt{attrs: a("k", "1"), v: 5, ts: now}, pt{attrs: a("k", "2"), v: 1, ts: now, start: now}),
		build(nil, "g", gauge, pt{v: 1, ts: now}, pt{v: 2, ts: now}),
		build(nil, "d", deltaSum, pt{attrs: a("x", "y"), v: 3, ts: now}),
		dedupReq(pmetric.MetricTypeHistogram, pmetric.AggregationTemporalityCumulative,
			dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 1}, dp{res: "a", scope: "s", series: "x", ts: 0, v: 2}),
		dedupReq(pmetric.MetricTypeSummary, pmetric.AggregationTemporalityUnspecified,
			dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 1}, dp{res: "b", scope: "s", series: "x", ts: time.Second, stale: true}),
		dedupReq(pmetric.MetricTypeExponentialHistogram, pmetric.AggregationTemporalityCumulative,
			dp{res: "a", scope: "s", series: "x", ts: time.Second, v: 1}, dp{res: "a", scope: "t", series: "y", ts: time.Second, v: 3}),
	} {
		b, err := m.MarshalMetrics(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var u pmetric.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := u.UnmarshalMetrics(data)
		if err != nil {
			return
		}
		cfg := rules(
			Rule{Match: Match{MetricName: ".*"}, Interval: time.Second, By: []string{"k"},
				Outputs: []string{"total", "increase", "sum", "count_series", "count_samples", "last", "min", "max", "avg", "histogram", "quantiles(0.5)"}},
			Rule{Match: Match{MetricName: ".*"}, Interval: time.Second, DedupInterval: time.Second, Outputs: []string{"histogram", "max"}, KeepInput: true},
		)
		cfg.MaxBytes = 64 << 10
		cfg.DedupInterval = time.Second
		p, err := newProcessor(pipeline.Settings{}, cfg, nop)
		if err != nil {
			t.Fatal(err)
		}
		_ = p.ConsumeMetrics(context.Background(), md)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bytes < 0 {
			t.Fatalf("state bytes %d", p.bytes)
		}
		later := time.Now().Add(time.Hour)
		for _, r := range p.rules {
			p.flushRuleLocked(r, newEmitter(ScopeName), later)
		}
		p.flushDedupLocked(newEmitter(ScopeName))
		if p.bytes != 0 || p.nseries != 0 {
			t.Fatalf("after staleness: %d bytes, %d series left", p.bytes, p.nseries)
		}
	})
}
