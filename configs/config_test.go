package configs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/pipeline"
)

type recvConfig struct {
	Endpoint string      `yaml:"endpoint"`
	Limit    ByteSize    `yaml:"limit"`
	Port     int         `yaml:"port"`
	Debug    bool        `yaml:"debug"`
	GRPC     *grpcConfig `yaml:"grpc"`
	Tags     []string    `yaml:"tags"`
}

type grpcConfig struct {
	Endpoint string `yaml:"endpoint"`
}

func (g *grpcConfig) SetDefaults() { g.Endpoint = "127.0.0.1:4317" }

func (c *recvConfig) Validate() error {
	if c.Endpoint == "" {
		return errors.New("endpoint: must be set")
	}
	return nil
}

type expConfig struct {
	Timeout time.Duration     `yaml:"timeout"`
	Headers map[string]string `yaml:"headers"`
	Rate    Rate              `yaml:"rate"`
	Disk    ByteSize          `yaml:"disk"`
}

func (c *expConfig) StorageBytes() int64 { return int64(c.Disk) }

func (c *expConfig) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	if c.Timeout > time.Hour {
		errs = append(errs, errors.New("timeout: must be at most 1h"))
	}
	return errors.Join(errs...)
}

func testFactories() pipeline.Factories {
	none := func(context.Context, pipeline.Settings, pipeline.Config) (pipeline.Component, error) { return nil, nil }
	return pipeline.Factories{
		Receivers: map[string]pipeline.ReceiverFactory{"recv": {
			Type: "recv", Signals: []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalLogs},
			CreateDefaultConfig: func() pipeline.Config { return &recvConfig{Endpoint: "127.0.0.1:1"} },
		}},
		Exporters: map[string]pipeline.ExporterFactory{"exp": {
			Type: "exp", Signals: []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics},
			CreateDefaultConfig: func() pipeline.Config { return &expConfig{Timeout: 5 * time.Second} },
			Create:              none,
		}},
		Connectors: map[string]pipeline.ConnectorFactory{"conn": {
			Type:                "conn",
			Pairs:               []pipeline.SignalPair{{From: pipeline.SignalTraces, To: pipeline.SignalTraces}},
			CreateDefaultConfig: func() pipeline.Config { return &expConfig{Timeout: time.Second} },
		}},
		Processors: map[string]pipeline.ProcessorFactory{},
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestThreeErrorsWithLines(t *testing.T) {
	_, err := Load("testdata/three-errors.yaml", testFactories())
	es, ok := AsErrors(err)
	if !ok {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`testdata/three-errors.yaml:4:5: receivers.recv.endpont: unknown key "endpont"`,
		`testdata/three-errors.yaml:7:14: exporters.exp.timeout: invalid duration "fast"`,
		`testdata/three-errors.yaml:11:25: service.pipelines.traces.receivers[1]: receiver "missing" is not defined`,
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), es)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d:\n got %s\nwant %s...", i, es[i], w)
		}
	}
}

func TestParse(t *testing.T) {
	env := map[string]string{"EP": "10.0.0.1:99", "PORT": "4317", "DBG": "true"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	src := `
node: {name: "${env:NODE:-edge-1}", site: plant-7, labels: {line: "3"}}
storage: {directory: /tmp/x, max_bytes: 1GiB}
uplink: {bytes_per_second: 64KiB/s, burst: 1MiB}
telemetry: {address: 127.0.0.1:0}
receivers:
  recv:
    endpoint: ${env:EP}
    port: ${env:PORT}
    debug: ${env:DBG}
    limit: 4MiB
    grpc:
    tags: [a, "$${literal}"]
  recv/two:
exporters:
  exp: {timeout: 1m, headers: {x-a: b}, rate: 1MB/s}
connectors:
  conn:
service:
  pipelines:
    traces/in: {receivers: [recv, recv/two], exporters: [exp, conn]}
    traces/out: {receivers: [conn], exporters: [exp]}
`
	cfg, err := Parse("x.yaml", []byte(src), testFactories(), lookup)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Graph.Receivers[pipeline.MustID("recv")].(*recvConfig)
	if r.Endpoint != "10.0.0.1:99" || r.Port != 4317 || !r.Debug || r.Limit != 4<<20 {
		t.Errorf("receiver config: %+v", r)
	}
	if r.GRPC == nil || r.GRPC.Endpoint != "127.0.0.1:4317" {
		t.Errorf("naming grpc: should enable it with defaults, got %+v", r.GRPC)
	}
	if len(r.Tags) != 2 || r.Tags[1] != "${literal}" {
		t.Errorf("tags: %q", r.Tags)
	}
	if r2 := cfg.Graph.Receivers[pipeline.MustID("recv/two")].(*recvConfig); r2.Endpoint != "127.0.0.1:1" || r2.GRPC != nil {
		t.Errorf("an empty section keeps the defaults: %+v", r2)
	}
	e := cfg.Graph.Exporters[pipeline.MustID("exp")].(*expConfig)
	if e.Timeout != time.Minute || e.Headers["x-a"] != "b" || e.Rate != 1e6 {
		t.Errorf("exporter config: %+v", e)
	}
	if cfg.Node.Name != "edge-1" || cfg.Graph.Node.Labels["line"] != "3" {
		t.Errorf("node: %+v", cfg.Node)
	}
	if cfg.Storage.MaxBytes != 1<<30 || cfg.Uplink.BytesPerSecond != 64<<10 || cfg.Uplink.Burst != 1<<20 {
		t.Errorf("storage/uplink: %+v %+v", cfg.Storage, cfg.Uplink)
	}
	if len(cfg.Graph.Pipelines) != 2 || len(cfg.Graph.Pipelines[pipeline.MustID("traces/in")].Exporters) != 2 {
		t.Errorf("pipelines: %+v", cfg.Graph.Pipelines)
	}
	if cfg.Hash == "" || cfg.Telemetry.Logs.Level != "info" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestParseErrors(t *testing.T) {
	base := func(extra string) string {
		return "receivers: {recv: }\nexporters: {exp: }\nservice: {pipelines: {traces: {receivers: [recv], exporters: [exp]}}}\n" + extra
	}
	cases := []struct {
		name, src string
		want      []string
	}{
		{"syntax", "receivers: [", []string{"YAML syntax"}},
		{"empty", "", []string{"the file is empty"}},
		{"unknown top", base("bogus: 1"), []string{`4:1: bogus: unknown top-level key`}},
		{"unknown type", "receivers: {nope: }\nservice: {pipelines: {traces: {receivers: [nope], exporters: [exp]}}}",
			[]string{"x.yaml:1:13: receivers.nope: unknown receiver type \"nope\" (this build has: recv)\nx.yaml:2:63: service.pipelines.traces.exporters[0]: exporter \"exp\" is not defined"}},
		{"bad id", base("processors: {\"9x\": }"), []string{`invalid id "9x"`}},
		{"wrong type int", "receivers: {recv: {port: abc}}", []string{`receivers.recv.port: expected an integer, got "abc"`}},
		{"wrong type bool", "receivers: {recv: {debug: 3}}", []string{`expected true or false`}},
		{"wrong type list", "receivers: {recv: {tags: x}}", []string{`expected a list`}},
		{"wrong type struct", "receivers: {recv: {grpc: [1]}}", []string{`receivers.recv.grpc: expected a mapping`}},
		{"bad size", "receivers: {recv: {limit: 12XB}}", []string{`x.yaml:1:27: receivers.recv.limit: invalid size "12XB": want a non-negative number with an optional unit`}},
		{"bad size list", "receivers: {recv: {limit: [1]}}", []string{`x.yaml:1:27: receivers.recv.limit: expected a single value, got a list`}},
		{"bad rate", base("uplink: {bytes_per_second: fast}"), []string{`x.yaml:4:28: uplink.bytes_per_second: invalid rate "fast": want a size per second such as 64KiB/s`}},
		{"validate", "receivers: {recv: {endpoint: \"\"}}", []string{`receivers.recv: endpoint: must be set`}},
		{"validate joined", "exporters: {exp: {timeout: -1s}}", []string{`exporters.exp: timeout: must be positive`}},
		{"validate joined 2", "exporters: {exp: {timeout: 2h}}", []string{`timeout: must be at most 1h`}},
		{"env missing", "receivers: {recv: {endpoint: \"${env:NOPE}\"}}", []string{`environment variable NOPE is not set`}},
		{"env bad ref", "receivers: {recv: {endpoint: \"${file:x}\"}}", []string{`unsupported reference`}},
		{"duplicate key", "receivers: {recv: {port: 1, port: 2}}", []string{`receivers.recv.port: duplicate key`}},
		{"signal", "receivers: {recv: }\nexporters: {exp: }\nservice: {pipelines: {metrics: {receivers: [recv], exporters: [exp]}}}",
			[]string{`receiver "recv" does not produce metrics`}},
		{"exporter signal", "receivers: {recv: }\nexporters: {exp: }\nservice: {pipelines: {logs: {receivers: [recv], exporters: [exp]}}}",
			[]string{`exporter "exp" does not accept logs`}},
		{"bad pipeline name", "receivers: {recv: }\nexporters: {exp: }\nservice: {pipelines: {spans: {receivers: [recv], exporters: [exp]}}}",
			[]string{`unknown signal "spans"`}},
		{"no pipelines", "receivers: {recv: }", []string{`service: missing`}},
		{"empty pipeline", "service: {pipelines: {traces: {}}}", []string{`needs at least one receiver`, `needs at least one exporter`}},
		{"duplicate section", base("connectors: {conn: }\nservice: {pipelines: {traces: {receivers: [recv], exporters: [conn]}}}"),
			[]string{"duplicate key"}},
		{"connector no reader", "receivers: {recv: }\nconnectors: {conn: }\nservice: {pipelines: {traces: {receivers: [recv], exporters: [conn]}}}",
			[]string{`connectors.conn: used as an exporter but no pipeline takes it as a receiver`}},
		{"connector signals", "receivers: {recv: }\nexporters: {exp: }\nconnectors: {conn: }\nservice: {pipelines: {traces: {receivers: [recv], exporters: [conn]}, metrics: {receivers: [conn], exporters: [exp]}}}",
			[]string{`takes traces but no pipeline it feeds`, `feeds a metrics pipeline`}},
		{"listed twice", "receivers: {recv: }\nexporters: {exp: }\nservice: {pipelines: {traces: {receivers: [recv, recv], exporters: [exp]}}}",
			[]string{`service.pipelines.traces.receivers[1]: "recv" is listed twice`}},
		{"extension", base("extensions: {health_check: }"), []string{`unknown extension type "health_check"`}},
		{"storage cap", "storage: {directory: /tmp/x, max_bytes: 1GiB}\nreceivers: {recv: }\nexporters: {exp: {disk: 768MiB}, exp/b: {disk: 512MiB}}\nservice: {pipelines: {traces: {receivers: [recv], exporters: [exp, exp/b]}}}",
			[]string{`1:30: storage.max_bytes: the disk queues' max_bytes add up to 1280MiB, more than 1GiB (exp 768MiB, exp/b 512MiB)`}},
		{"telemetry", base("telemetry: {address: nope, logs: {level: loud, format: xml}}"),
			[]string{`telemetry.address`, `telemetry.logs.level`, `telemetry.logs.format`}},
		{"uplink", base("uplink: {burst: 1MiB, bytes_per_second: 0}"), []string{`uplink.burst: needs uplink.bytes_per_second`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.src), testFactories(), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), testFactories())
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	f.Add([]byte("receivers: {recv: {grpc: , tags: [a]}}\nservice: {pipelines: {traces: {receivers: [recv], exporters: [exp]}}}"))
	f.Add([]byte("a: &x {b: *x}"))
	facs := testFactories()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, facs, noEnv)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("want exactly one of config and error: %v %v", cfg, err)
		}
	})
}

func TestDecodeComponent(t *testing.T) {
	cfg := &recvConfig{Endpoint: "default"}
	if err := Decode("c.yaml", []byte("port: 7\ngrpc:\n"), cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoint != "default" || cfg.Port != 7 || cfg.GRPC == nil || cfg.GRPC.Endpoint != "127.0.0.1:4317" {
		t.Fatalf("decoded %+v", cfg)
	}
	err := Decode("c.yaml", []byte("port: x\nbogus: 1\n"), &recvConfig{})
	es, ok := AsErrors(err)
	if !ok || len(es) != 2 || es[0].Line != 1 || es[1].Line != 2 {
		t.Fatalf("errors: %v", err)
	}
}
