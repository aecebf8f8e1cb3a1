package main

import (
	"context"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
)

// TestEdgeFilterProcessorsConfig checks that the attributes, resource,
// filter and redaction processors decode strictly through the real
// configuration loader, and that their errors are located by file, line
// and key path.
func TestEdgeFilterProcessorsConfig(t *testing.T) {
	const good = `
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
processors:
  attributes/tag:
    include: {match_type: strict, services: [checkout], attributes: [{key: http.status_code, value: 503}]}
    actions:
      - {key: environment, value: production, action: insert}
      - {key: limits, value: {cpu: 2, tags: [a, b]}, action: upsert}
      - {key: user.email, action: hash}
  resource:
    attributes: [{key: cloud.region, value: eu-1, action: upsert}]
  filter:
    spans: {exclude: {match_type: strict, span_names: [healthz]}}
    logs: {include: {match_type: strict, severity_number: {min: warn}}}
    metrics: {exclude: {match_type: regexp, metric_names: ['^go_'], datapoint_attributes: [{key: le}]}}
  redaction:
    allow_all_keys: true
    blocked_values: ['\b(?:\d[ -]?){12,18}\d\b']
    summary: info
exporters:
  debug: {}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [attributes/tag, resource, filter, redaction], exporters: [debug]}
    logs: {receivers: [otlp], processors: [resource, filter, redaction], exporters: [debug]}
    metrics: {receivers: [otlp], processors: [resource, filter, redaction], exporters: [debug]}
`
	cfg, err := configs.Parse("good.yaml", []byte(good), components(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("good config: %v", err)
	}
	// Building creates every processor for its pipelines' signals (where
	// a match property that does not fit the signal would be refused);
	// nothing is started.
	if _, err := pipeline.Build(context.Background(), cfg.Graph, pipeline.BuildSettings{Factories: components(), StorageDir: t.TempDir()}); err != nil {
		t.Fatalf("build: %v", err)
	}
	cfg.Graph.Pipelines[pipeline.ID{Type: "logs"}] = pipeline.PipelineConfig{
		Receivers: []pipeline.ID{{Type: "otlp"}}, Processors: []pipeline.ID{{Type: "attributes", Name: "tag"}}, Exporters: []pipeline.ID{{Type: "debug"}},
	}
	if _, err := pipeline.Build(context.Background(), cfg.Graph, pipeline.BuildSettings{Factories: components(), StorageDir: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "include.services: does not apply to log records") {
		t.Fatalf("build with a span property in a logs pipeline: %v", err)
	}

	const bad = `
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
processors:
  attributes:
    actions: [{key: a, action: rename}]
  filter:
    logs: {include: {match_type: glob, bodies: [x]}}
  redaction:
    blocked_values: ['(']
    summry: debug
exporters:
  debug: {}
service:
  pipelines:
    logs: {receivers: [otlp], processors: [attributes, filter, redaction], exporters: [debug]}
`
	_, err = configs.Parse("bad.yaml", []byte(bad), components(), func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatal("bad config: nil error")
	}
	msg := err.Error()
	for _, want := range []string{
		`processors.attributes: actions[0].action: unknown action "rename"`,
		`processors.filter: logs.include.match_type: must be strict or regexp`,
		`processors.redaction.summry: unknown key "summry"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	if !strings.Contains(msg, "bad.yaml:") {
		t.Errorf("errors not located:\n%s", msg)
	}
}
