package throttleprocessor

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
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

func TestDecodeConfig(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Threshold: 500, Window: time.Minute, KeyFields: []string{"resource.service.name", "attributes.node"},
		KeepSeverity: "WARN", MaxStreams: 2000}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("decoded %+v, want %+v", *cfg, want)
	}
	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "window_secs") {
		t.Errorf("unknown key: %v, want an error naming window_secs", err)
	}
}

type otherConfig struct{}

func (otherConfig) Validate() error { return nil }

func TestFactory(t *testing.T) {
	f := NewFactory()
	if f.Type != "throttle" || !f.Supports(pipeline.SignalLogs) || f.Supports(pipeline.SignalMetrics) {
		t.Fatalf("factory %q: logs only expected", f.Type)
	}
	set := pipeline.Settings{ID: pipeline.MustID("throttle")}
	if _, err := f.CreateLogs(context.Background(), set, otherConfig{}, &sink{}); err == nil || !strings.Contains(err.Error(), "unexpected config type") {
		t.Errorf("wrong config: %v", err)
	}
	if _, err := f.CreateLogs(context.Background(), set, &Config{}, &sink{}); err == nil || !strings.Contains(err.Error(), "threshold:") {
		t.Errorf("invalid config: %v", err)
	}
	if _, err := f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), nil); err == nil || !strings.Contains(err.Error(), "nil next") {
		t.Errorf("nil next: %v", err)
	}
	p, err := f.CreateLogs(context.Background(), set, f.CreateDefaultConfig(), &sink{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !p.Capabilities().MutatesData {
		t.Error("MutatesData false")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
