package batchprocessor

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline"
)

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "batch" {
		t.Errorf("Type = %q", f.Type)
	}
	for _, s := range pipeline.Signals {
		if !f.Supports(s) {
			t.Errorf("does not support %s", s)
		}
	}
	if err := f.CreateDefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}

	var got atomic.Int64
	ctx := context.Background()
	set := testSettings()
	tc, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error { got.Add(int64(td.SpanCount())); return nil })
	mc, _ := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error { got.Add(int64(md.DataPointCount())); return nil })
	lc, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error { got.Add(int64(ld.LogRecordCount())); return nil })

	tp, err := f.CreateTraces(ctx, set, f.CreateDefaultConfig(), tc)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := f.CreateMetrics(ctx, set, f.CreateDefaultConfig(), mc)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := f.CreateLogs(ctx, set, f.CreateDefaultConfig(), lc)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []pipeline.Component{tp, mp, lp} {
		if err := c.Start(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !tp.Capabilities().MutatesData || !mp.Capabilities().MutatesData || !lp.Capabilities().MutatesData {
		t.Error("MutatesData is false")
	}
	if err := tp.ConsumeTraces(ctx, genTraces(1, 1, 3, 0)); err != nil {
		t.Error(err)
	}
	if err := mp.ConsumeMetrics(ctx, genMetrics(1, 1, 1, 0)); err != nil {
		t.Error(err)
	}
	if err := lp.ConsumeLogs(ctx, genLogs(1, 1, 2, 0)); err != nil {
		t.Error(err)
	}
	if got.Load() != 3+5+2 {
		t.Errorf("next consumers got %d items, want 10", got.Load())
	}
	for _, c := range []pipeline.Component{tp, mp, lp} {
		if err := c.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}
}

func TestFactoryErrors(t *testing.T) {
	f := NewFactory()
	ctx, set := context.Background(), testSettings()
	tc, _ := consumer.NewTraces(func(context.Context, ptrace.Traces) error { return nil })
	for _, tc := range []struct {
		name string
		cfg  pipeline.Config
		next consumer.Traces
		want string
	}{
		{"wrong config type", otherConfig{}, tc, "unexpected config type"},
		{"invalid config", &Config{SendBatchSize: 10, MaxInFlight: 0}, tc, "max_in_flight:"},
		{"nil next", f.CreateDefaultConfig(), nil, "nil next consumer"},
	} {
		if _, err := f.CreateTraces(ctx, set, tc.cfg, tc.next); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
