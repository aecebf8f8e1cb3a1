package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

// A key set by the logger's With chain and again by a component, or twice
// in one record, is written once (the first value).
func TestLogKeysUnique(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := newLogger(&buf, configs.LogsConfig{Level: "info", Format: format})
		log = log.With("receiver", "otlp").With("receiver", "otlp", "signal", "traces")
		log.Info("refused", "receiver", "otlp/2", "reason", "full", "reason", "again")
		line := strings.TrimSpace(buf.String())
		var want string
		if format == "text" {
			want = `level=INFO msg=refused receiver=otlp signal=traces reason=full`
			line = line[strings.Index(line, "level="):]
		} else {
			want = `"level":"INFO","msg":"refused","receiver":"otlp","signal":"traces","reason":"full"}`
			line = line[strings.Index(line, `"level"`):]
		}
		if line != want {
			t.Errorf("%s:\n got %s\nwant %s", format, line, want)
		}
	}
}

// Durations: 1m30s in text, seconds in JSON.
func TestLogDurations(t *testing.T) {
	for format, want := range map[string]string{
		"text": `msg=draining timeout=1m30s`,
		"json": `"msg":"draining","timeout":90}`,
	} {
		var buf bytes.Buffer
		newLogger(&buf, configs.LogsConfig{Level: "info", Format: format}).Info("draining", "timeout", 90*time.Second)
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%s: %s does not contain %s", format, buf.String(), want)
		}
	}
}
