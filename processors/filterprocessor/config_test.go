package filterprocessor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/itemmatch"
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
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Spans.Exclude.SpanNames[1] != "^readyz$" || cfg.Spans.Include != nil {
		t.Errorf("spans = %+v", cfg.Spans)
	}
	if cfg.Metrics.Include.MetricNames[0] != `^http\.` || cfg.Metrics.Exclude.DatapointAttributes[0].Value != "200" {
		t.Errorf("metrics = %+v %+v", cfg.Metrics.Include, cfg.Metrics.Exclude)
	}
	if sn := cfg.Logs.Include.SeverityNumber; sn == nil || sn.Min != "WARN" || !sn.MatchUndefined {
		t.Errorf("logs.include.severity_number = %+v", sn)
	}
	if _, err := decode(t, "ottl.yaml"); err == nil || !strings.Contains(err.Error(), `unknown key "traces"`) {
		t.Errorf("OTTL config: %v, want unknown key traces", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"nothing", Config{}, []string{"no include or exclude block"}},
		{"empty sections", Config{Spans: &SpanFilter{}, Logs: &LogFilter{}}, []string{"no include or exclude block"}},
		{"span block", Config{Spans: &SpanFilter{Exclude: &itemmatch.Properties{MatchType: "strict", SpanNames: []string{"a"}}}}, nil},
		{"bad match type", Config{Metrics: &MetricFilter{Include: &MetricProperties{MatchType: "expr", MetricNames: []string{"a"}}}},
			[]string{`metrics.include.match_type: must be strict or regexp (got "expr")`}},
		{"log keys named as configured", Config{Logs: &LogFilter{Exclude: &LogProperties{MatchType: "regexp",
			SeverityNumber: &itemmatch.SeverityNumber{Min: "NOTICE"}, RecordAttributes: []itemmatch.Attribute{{Key: "a", Value: "("}}}}},
			[]string{"logs.exclude.severity_number.min: unknown severity", "logs.exclude.record_attributes[0].value: invalid regular expression"}},
		{"metric keys named as configured", Config{Metrics: &MetricFilter{Exclude: &MetricProperties{MatchType: "strict",
			ResourceAttributes: []itemmatch.Attribute{{Value: "x"}}}}},
			[]string{"metrics.exclude.resource_attributes[0].key: required"}},
		{"span log property", Config{Spans: &SpanFilter{Include: &itemmatch.Properties{MatchType: "strict", LogBodies: []string{"a"}}}},
			[]string{"spans.include.log_bodies: does not apply to spans"}},
		{"every section reported", Config{
			Spans:   &SpanFilter{Include: &itemmatch.Properties{MatchType: "strict"}},
			Metrics: &MetricFilter{Include: &MetricProperties{MetricNames: []string{"a"}}},
			Logs:    &LogFilter{Include: &LogProperties{MatchType: "regexp", Bodies: []string{"("}}},
		}, []string{"spans.include: names no property", "metrics.include.match_type: required", "logs.include.bodies: invalid regular expression"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("nil error, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

// FuzzConfig decodes arbitrary YAML as the configuration; a configuration
// that validates must create a processor for every signal, and filtering a
// batch with it must not panic.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		"spans: {exclude: {match_type: strict, span_names: [a]}}",
		"logs: {include: {match_type: regexp, bodies: ['^x'], severity_number: {min: warn}}}",
		"metrics: {exclude: {match_type: strict, metric_names: [m], datapoint_attributes: [{key: k, value: 1}]}}",
		"logs: {exclude: {match_type: strict, record_attributes: [{key: a}], resource_attributes: [{key: b, value: true}]}}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		cfg := createDefaultConfig()
		if err := configs.Decode("fuzz.yaml", []byte(src), cfg); err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		for _, sig := range []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs} {
			p, err := newProcessor(pipeline.Settings{}, cfg, sig, false)
			if err != nil {
				t.Fatalf("%s: valid config does not compile: %v", sig, err)
			}
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.Body().SetStr("x")
			lr.Attributes().PutInt("a", 1)
			p.logs(context.Background(), ld)
			md := pmetric.NewMetrics()
			m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("m")
			m.SetEmptyGauge().DataPoints().AppendEmpty().Attributes().PutInt("k", 1)
			p.metrics(context.Background(), md)
			td := ptrace.NewTraces()
			td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("a")
			p.traces(context.Background(), td)
		}
	})
}
