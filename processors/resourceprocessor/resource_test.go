package resourceprocessor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/pipeline"
)

func decode(t *testing.T, name string) (*Config, error) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, configs.Decode(name, raw, cfg)
}

func TestDecodeAndValidate(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []attraction.Action{
		{Key: "cloud.availability_zone", Value: "zone-1", Action: "upsert"},
		{Key: "k8s.cluster.name", FromAttribute: "k8s-cluster", Action: "insert"},
		{Key: "redundant-attribute", Action: "delete"},
	}
	if len(cfg.Attributes) != len(want) {
		t.Fatalf("attributes = %+v", cfg.Attributes)
	}
	for i := range want {
		if cfg.Attributes[i] != want[i] {
			t.Errorf("attributes[%d] = %+v, want %+v", i, cfg.Attributes[i], want[i])
		}
	}
	if _, err := decode(t, "from_context.yaml"); err == nil || !strings.Contains(err.Error(), "from_context") {
		t.Errorf("from_context: %v, want an unknown-key error", err)
	}
	if err := (&Config{}).Validate(); err == nil || err.Error() != "attributes: at least one action is required" {
		t.Errorf("empty: %v", err)
	}
	if err := (&Config{Attributes: []attraction.Action{{Key: "a", Action: "insert"}}}).Validate(); err == nil ||
		!strings.HasPrefix(err.Error(), "attributes[0].value:") {
		t.Errorf("insert without value: %v", err)
	}
}

// resource makes the resource every signal's test batch carries.
func resource(r pcommon.Resource) {
	r.Attributes().PutStr("k8s-cluster", "edge-a")
	r.Attributes().PutStr("redundant-attribute", "x")
	r.Attributes().PutStr("cloud.availability_zone", "old")
}

func checkResource(t *testing.T, r pcommon.Resource) {
	t.Helper()
	want := map[string]any{"k8s-cluster": "edge-a", "k8s.cluster.name": "edge-a", "cloud.availability_zone": "zone-1"}
	got := r.Attributes().AsRaw()
	if len(got) != len(want) {
		t.Fatalf("resource = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestEverySignal(t *testing.T) {
	ctx := context.Background()
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := pipeline.Settings{ID: pipeline.ID{Type: Type}}
	f := NewFactory()

	var td ptrace.Traces
	nt, _ := consumer.NewTraces(func(_ context.Context, x ptrace.Traces) error { td = x; return nil })
	pt, err := f.CreateTraces(ctx, set, cfg, nt)
	if err != nil {
		t.Fatal(err)
	}
	in := ptrace.NewTraces()
	resource(in.ResourceSpans().AppendEmpty().Resource())
	if err := pt.ConsumeTraces(ctx, in); err != nil {
		t.Fatal(err)
	}
	checkResource(t, td.ResourceSpans().At(0).Resource())

	var md pmetric.Metrics
	nm, _ := consumer.NewMetrics(func(_ context.Context, x pmetric.Metrics) error { md = x; return nil })
	pm, err := f.CreateMetrics(ctx, set, cfg, nm)
	if err != nil {
		t.Fatal(err)
	}
	inM := pmetric.NewMetrics()
	resource(inM.ResourceMetrics().AppendEmpty().Resource())
	if err := pm.ConsumeMetrics(ctx, inM); err != nil {
		t.Fatal(err)
	}
	checkResource(t, md.ResourceMetrics().At(0).Resource())

	var ld plog.Logs
	nl, _ := consumer.NewLogs(func(_ context.Context, x plog.Logs) error { ld = x; return nil })
	pl, err := f.CreateLogs(ctx, set, cfg, nl)
	if err != nil {
		t.Fatal(err)
	}
	inL := plog.NewLogs()
	resource(inL.ResourceLogs().AppendEmpty().Resource())
	inL.MarkReadOnly()
	if err := pl.ConsumeLogs(ctx, inL); err != nil {
		t.Fatal(err)
	}
	checkResource(t, ld.ResourceLogs().At(0).Resource())
	if _, ok := inL.ResourceLogs().At(0).Resource().Attributes().Get("k8s.cluster.name"); ok {
		t.Error("read-only input changed")
	}
}
