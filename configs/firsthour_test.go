package configs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline"
)

// machineConfig has what checkMachine looks for: a listening endpoint,
// files to read, a memory queue, and secrets for Effective.
type machineConfig struct {
	Endpoint string               `yaml:"endpoint"`
	HTTP     *grpcConfig          `yaml:"http"`
	CAFile   string               `yaml:"ca_file"`
	Password clientconfig.Secret  `yaml:"password"`
	Headers  clientconfig.Headers `yaml:"headers"`
	Token    string               `yaml:"token"`
	Timeout  time.Duration        `yaml:"timeout"`
	Queue    memQueue             `yaml:"queue"`
}

func (c *machineConfig) Validate() error { return nil }

type memQueue struct {
	Kind     string   `yaml:"kind"`
	MaxBytes ByteSize `yaml:"max_bytes"`
}

func (q memQueue) MemoryBytes() int64 {
	if q.Kind != "memory" {
		return 0
	}
	return int64(q.MaxBytes)
}

func machineFactories() pipeline.Factories {
	none := func(context.Context, pipeline.Settings, pipeline.Config) (pipeline.Component, error) { return nil, nil }
	all := []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs}
	return pipeline.Factories{
		Receivers: map[string]pipeline.ReceiverFactory{"recv": {
			Type: "recv", Signals: all,
			CreateDefaultConfig: func() pipeline.Config { return &machineConfig{Endpoint: "127.0.0.1:4317"} },
		}},
		Exporters: map[string]pipeline.ExporterFactory{"exp": {
			Type: "exp", Signals: all,
			CreateDefaultConfig: func() pipeline.Config { return &machineConfig{Timeout: 5 * time.Second} },
			Create:              none,
		}},
		Processors: map[string]pipeline.ProcessorFactory{},
		Connectors: map[string]pipeline.ConnectorFactory{},
	}
}

const pipelines = "service: {pipelines: {traces: {receivers: [recv], exporters: [exp]}}}\n"

// Each case's whole error output, exactly.
func TestFirstHourErrors(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	cases := []struct{ name, src, want string }{
		{"indentation", "receivers:\n  recv:\n    endpoint: 127.0.0.1:1\nexporters:\n  exp:\n     timeout: 1s\n    ca_file: x\n",
			"x.yaml:7:5: YAML syntax: did not find expected key"},
		{"indentation of a list item", "receivers:\n  recv:\n    endpoint: 127.0.0.1:1\n  - exp\n",
			"x.yaml:4:3: YAML syntax: did not find expected key"},
		{"tab", "receivers:\n  recv:\n\tendpoint: 127.0.0.1:1\n",
			"x.yaml:3:1: YAML syntax: a tab character in the indentation (YAML indents with spaces only)"},
		{"tab after spaces", "receivers:\n  recv:\n  \t endpoint: 127.0.0.1:1\n",
			"x.yaml:3:3: YAML syntax: a tab character in the indentation (YAML indents with spaces only)"},
		{"flow list over lines, error after it", "receivers:\n  recv: {endpoint: 127.0.0.1:1,\n    timeout: 1s}\nexporters: [\n",
			"x.yaml:4:1: YAML syntax: did not find expected node content"},
		{"memory_limiter", "processors:\n  memory_limiter: {check_interval: 1s}\nreceivers: {recv: }\nexporters: {exp: }\n" +
			"service: {pipelines: {traces: {receivers: [recv], processors: [memory_limiter], exporters: [exp]}}}\n",
			"x.yaml:2:3: processors.memory_limiter: unknown processor type \"memory_limiter\": outpost has no memory_limiter processor: set the top-level memory_limit (e.g. `memory_limit: 256MiB`), which every receiver enforces, and remove it from the pipelines"},
		{"health_check", "extensions:\n  health_check:\nreceivers: {recv: }\nexporters: {exp: }\n" +
			"service: {extensions: [health_check], pipelines: {traces: {receivers: [recv], exporters: [exp]}}}\n",
			"x.yaml:2:3: extensions.health_check: unknown extension type \"health_check\": outpost has no health_check extension: /healthz and /readyz are served on telemetry.address (default 127.0.0.1:8888); remove it and its entry in service.extensions"},
		{"service.telemetry", "receivers: {recv: }\nexporters: {exp: }\nservice:\n  telemetry: {logs: {level: debug}}\n  pipelines: {traces: {receivers: [recv], exporters: [exp]}}\n",
			"x.yaml:4:3: service.telemetry: outpost's own telemetry is the top-level telemetry section (address, logs.level, logs.format), not service.telemetry: move it there"},
		{"logging", "receivers: {recv: }\nexporters:\n  logging: {verbosity: detailed}\nservice: {pipelines: {traces: {receivers: [recv], exporters: [logging]}}}\n",
			"x.yaml:3:3: exporters.logging: unknown exporter type \"logging\": the logging exporter is called debug (as in the Collector since v0.86): rename it to debug"},
		{"missing CA file", "receivers: {recv: }\nexporters:\n  exp: {ca_file: " + missing + "}\n" + pipelines,
			"x.yaml:3:3: exporters.exp.ca_file: open " + missing + ": no such file or directory"},
		{"two receivers on one port", "receivers:\n  recv: {endpoint: 127.0.0.1:4317}\n  recv/2: {endpoint: 127.0.0.1:4400, http: {endpoint: \"0.0.0.0:4317\"}}\nexporters: {exp: }\n" +
			"service: {pipelines: {traces: {receivers: [recv, recv/2], exporters: [exp]}}}\n",
			"x.yaml:3:3: receivers.recv/2.http.endpoint: 0.0.0.0:4317: receivers.recv.endpoint already listens on this port (127.0.0.1:4317): two listeners cannot share a port"},
		{"memory queue over memory_limit", "memory_limit: 64MiB\nreceivers: {recv: }\nexporters:\n  exp: {queue: {kind: memory, max_bytes: 48MiB}}\n  exp/2: {queue: {kind: memory, max_bytes: 32MiB}}\n" +
			"service: {pipelines: {traces: {receivers: [recv], exporters: [exp, exp/2]}}}\n",
			"x.yaml:1:15: memory_limit: the memory queues' max_bytes add up to 80MiB, more than memory_limit 64MiB (exp 48MiB, exp/2 32MiB): lower their max_bytes, use kind: disk, or raise memory_limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.src), machineFactories(), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
	// What exists is not an error; unused components are not checked.
	ok := "receivers:\n  recv: {endpoint: 127.0.0.1:4317}\n  recv/unused: {endpoint: 127.0.0.1:4317}\nexporters:\n  exp: {ca_file: " + ca + "}\n  exp/unused: {ca_file: " + missing + "}\n" + pipelines
	if _, err := Parse("x.yaml", []byte(ok), machineFactories(), noEnv); err != nil {
		t.Errorf("valid file refused: %v", err)
	}
}

func TestEnvExpansionFirstHour(t *testing.T) {
	env := map[string]string{"EMPTY": "", "SET": "v"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct {
		in, want string
		warns    []string
	}{
		{"a${env:EMPTY}b", "ab", nil},
		{"${env:EMPTY:-dflt}", "dflt", nil},
		{"${env:SET}", "v", nil},
		{"$SET/x", "$SET/x", []string{"$SET is kept literally: outpost expands only ${env:SET} (write $$ for a literal $)"}},
		{"${SET}", "${SET}", []string{"${SET} is kept literally: outpost expands only ${env:SET} (write $$ for a literal $)"}},
		{"$$SET", "$SET", nil},
	}
	for _, c := range cases {
		got, warns, err := expandString(c.in, lookup)
		if err != nil || got != c.want || strings.Join(warns, "|") != strings.Join(c.warns, "|") {
			t.Errorf("expandString(%q) = %q, %q, %v; want %q, %q", c.in, got, warns, err, c.want, c.warns)
		}
	}
	src := "receivers: {recv: {endpoint: \"127.0.0.1:1${env:EMPTY}\"}}\nexporters: {exp: {token: $TOKEN}}\n" + pipelines
	cfg, err := Parse("x.yaml", []byte(src), machineFactories(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Graph.Receivers[pipeline.ID{Type: "recv"}].(*machineConfig).Endpoint; got != "127.0.0.1:1" {
		t.Errorf("endpoint %q", got)
	}
	want := "x.yaml:2:26: exporters.exp.token: $TOKEN is kept literally: outpost expands only ${env:TOKEN} (write $$ for a literal $)"
	if got := cfg.Warnings.Error(); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

// Effective gives a file that loads again to the same configuration, with
// defaults filled in and secrets redacted.
func TestEffective(t *testing.T) {
	src := "memory_limit: 100MiB\nreceivers: {recv: }\nexporters:\n  exp: {password: hunter2, token: abc, headers: {authorization: Bearer xyz}, queue: {kind: memory, max_bytes: 1MiB}}\n" + pipelines
	cfg, err := Parse("x.yaml", []byte(src), machineFactories(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.Effective()
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, secret := range []string{"hunter2", "abc", "xyz"} {
		if strings.Contains(text, secret) {
			t.Errorf("secret %q printed:\n%s", secret, text)
		}
	}
	for _, want := range []string{
		"memory_limit: 100MiB\n",
		"    endpoint: 127.0.0.1:4317\n", // the receiver's default
		"    timeout: 5s\n",              // the exporter's default
		"    password: '" + clientconfig.Redacted + "'\n",
		"      authorization: '" + clientconfig.Redacted + "'\n",
		"  directory: ./data\n",
		"      receivers: [recv]\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("effective config lacks %q:\n%s", want, text)
		}
	}
	again, err := Parse("y.yaml", out, machineFactories(), noEnv)
	if err != nil {
		t.Fatalf("effective config does not load again: %v\n%s", err, text)
	}
	if a, b := again.Graph.Exporters[pipeline.ID{Type: "exp"}].(*machineConfig), cfg.Graph.Exporters[pipeline.ID{Type: "exp"}].(*machineConfig); a.Timeout != b.Timeout || a.Queue != b.Queue {
		t.Errorf("reloaded %+v, was %+v", a, b)
	}
}
