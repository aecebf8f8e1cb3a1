package otlpexporter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// decode strictly decodes a testdata file onto cfg (holding defaults), as
// the configs package does.
func decode(t *testing.T, name string, cfg pipeline.Config) error {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return configs.Decode(name, b, cfg)
}

func TestDefaults(t *testing.T) {
	c := createDefaultConfig()
	if c.Compression != "gzip" || c.Timeout != 10*time.Second || c.TLS != (clientconfig.TLS{}) ||
		c.RetryOnFailure != sender.DefaultRetryConfig() {
		t.Fatalf("otlp defaults %+v", c)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "endpoint: required") {
		t.Fatalf("defaults without endpoint: %v", err)
	}
	h := createDefaultHTTPConfig()
	if h.Encoding != "proto" || h.Compression != "gzip" || h.Timeout != 10*time.Second || h.RetryOnFailure != sender.DefaultRetryConfig() {
		t.Fatalf("otlphttp defaults %+v", h)
	}
	if NewFactory().Type != "otlp" || NewHTTPFactory().Type != "otlphttp" {
		t.Fatal("types")
	}
}

func TestDecodeConfig(t *testing.T) {
	c := createDefaultConfig()
	if err := decode(t, "otlp.yaml", c); err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Endpoint:    "jaeger.central.example:4317",
		TLS:         clientconfig.TLS{CAFile: "/etc/outpost/ca.pem", ServerName: "jaeger.central.example"},
		Compression: "zstd",
		Headers:     map[string]string{"x-scope-orgid": "factory-7"},
		Timeout:     5 * time.Second,
		RetryOnFailure: sender.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 10 * time.Second,
			MaxElapsedTime: 0, Multiplier: 2, RandomizationFactor: 0.2},
	}
	if c.Endpoint != want.Endpoint || c.TLS != want.TLS || c.Compression != want.Compression ||
		c.Headers["x-scope-orgid"] != "factory-7" || c.Timeout != want.Timeout || c.RetryOnFailure != want.RetryOnFailure {
		t.Fatalf("decoded %+v\nwant %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	h := createDefaultHTTPConfig()
	if err := decode(t, "otlphttp.yaml", h); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.Encoding != "json" || h.Compression != "none" || h.RetryOnFailure != sender.DefaultRetryConfig() {
		t.Fatalf("decoded %+v", h)
	}
	for sig, want := range map[string]string{
		"traces":  "https://jaeger.central.example/v1/traces",
		"metrics": "https://gateway.site.example:4318/otlp/v1/metrics",
		"logs":    "https://gateway.site.example:4318/otlp/v1/logs",
	} {
		if got := h.signalURL(sig); got != want {
			t.Errorf("%s URL %q, want %q", sig, got, want)
		}
	}

	if err := decode(t, "otlp_unknown_key.yaml", createDefaultConfig()); err == nil || !strings.Contains(err.Error(), "max_retries") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestValidateGRPC(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"ok", func(*Config) {}, nil},
		{"ok ipv6", func(c *Config) { c.Endpoint = "[::1]:4317" }, nil},
		{"scheme", func(c *Config) { c.Endpoint = "http://jaeger:4317" }, []string{"endpoint: want host:port without a scheme"}},
		{"no port", func(c *Config) { c.Endpoint = "jaeger" }, []string{"endpoint: want host:port"}},
		{"bad port", func(c *Config) { c.Endpoint = "jaeger:99999" }, []string{"endpoint: invalid port"}},
		{"no host", func(c *Config) { c.Endpoint = ":4317" }, []string{"endpoint: want host:port"}},
		{"compression", func(c *Config) { c.Compression = "snappy" }, []string{`compression: want gzip, zstd or none, got "snappy"`}},
		{"empty compression", func(c *Config) { c.Compression = "" }, []string{"compression:"}},
		{"timeout", func(c *Config) { c.Timeout = 0 }, []string{"timeout: must be positive"}},
		{"reserved header", func(c *Config) { c.Headers = map[string]string{"grpc-timeout": "1s"} }, []string{"headers.grpc-timeout: set by the exporter"}},
		{"bad header name", func(c *Config) { c.Headers = map[string]string{"x tenant": "a"} }, []string{"headers.x tenant: invalid header name"}},
		{"bad header value", func(c *Config) { c.Headers = map[string]string{"x-tenant": "a\nb"} }, []string{"headers.x-tenant: value holds a control character"}},
		{"tls", func(c *Config) { c.TLS = clientconfig.TLS{Insecure: true, CAFile: "ca.pem"} }, []string{"tls.ca_file: set, but insecure: true"}},
		{"retry", func(c *Config) { c.RetryOnFailure.Multiplier = 0; c.RetryOnFailure.InitialInterval = 0 },
			[]string{"retry_on_failure.multiplier", "retry_on_failure.initial_interval"}},
		{"every error", func(c *Config) { c.Endpoint = ""; c.Compression = "lz4"; c.Timeout = -1 },
			[]string{"endpoint: required", "compression:", "timeout:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig()
			c.Endpoint = "jaeger.central:4317"
			tc.mod(c)
			checkErrors(t, c.Validate(), tc.want)
		})
	}
}

func TestValidateHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*HTTPConfig)
		want []string
	}{
		{"ok", func(*HTTPConfig) {}, nil},
		{"only a signal endpoint", func(c *HTTPConfig) { c.Endpoint = ""; c.LogsEndpoint = "http://loki:3100/otlp/v1/logs" }, nil},
		{"no endpoint", func(c *HTTPConfig) { c.Endpoint = "" }, []string{"endpoint: required"}},
		{"not a URL", func(c *HTTPConfig) { c.Endpoint = "127.0.0.1:4318" }, []string{"endpoint: want an http:// or https:// URL"}},
		{"no host", func(c *HTTPConfig) { c.TracesEndpoint = "http:///v1/traces" }, []string{"traces_endpoint: no host"}},
		{"query", func(c *HTTPConfig) { c.MetricsEndpoint = "http://x/v1/metrics?a=b" }, []string{"metrics_endpoint: no query"}},
		{"encoding", func(c *HTTPConfig) { c.Encoding = "protobuf" }, []string{`encoding: want proto or json, got "protobuf"`}},
		{"insecure https", func(c *HTTPConfig) { c.Endpoint = "https://x:4318"; c.TLS.Insecure = true }, []string{"tls.insecure: true contradicts an https:// endpoint"}},
		{"insecure http is fine", func(c *HTTPConfig) { c.TLS.Insecure = true }, nil},
		{"reserved header", func(c *HTTPConfig) { c.Headers = map[string]string{"Content-Type": "text/plain"} }, []string{"headers.Content-Type: set by the exporter"}},
		{"retry", func(c *HTTPConfig) { c.RetryOnFailure.RandomizationFactor = 2 }, []string{"retry_on_failure.randomization_factor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultHTTPConfig()
			c.Endpoint = "http://127.0.0.1:4318"
			tc.mod(c)
			checkErrors(t, c.Validate(), tc.want)
		})
	}
}

func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
