package jaegerexporter

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
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if c.Protocol != "grpc" || c.endpoint() != "127.0.0.1:4317" || c.Compression != "gzip" || c.Timeout != 10*time.Second ||
		!c.Queue.Enabled || c.Queue.Kind != sender.DefaultQueueConfig().Kind || c.RetryOnFailure != sender.DefaultRetryConfig() {
		t.Fatalf("defaults %+v", c)
	}
	if !c.plaintext() {
		t.Error("default loopback endpoint is not plaintext")
	}
	c.Protocol = ProtocolHTTP
	if c.tracesURL() != "http://127.0.0.1:4318/v1/traces" || c.Validate() != nil {
		t.Fatalf("http default %q: %v", c.tracesURL(), c.Validate())
	}
	if f := NewFactory(); f.Type != "jaeger" || len(f.Signals) != 1 || f.Signals[0] != pipeline.SignalTraces {
		t.Fatalf("factory %+v", f)
	}
}

func TestPlaintext(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		tls      clientconfig.TLS
		want     bool
	}{
		{"127.0.0.1:4317", clientconfig.TLS{}, true},
		{"localhost:4317", clientconfig.TLS{}, true},
		{"[::1]:4317", clientconfig.TLS{}, true},
		{"127.0.0.1:4317", clientconfig.TLS{CAFile: "ca.pem"}, false},
		{"jaeger.example:4317", clientconfig.TLS{}, false},
		{"10.0.0.1:4317", clientconfig.TLS{}, false},
		{"jaeger.example:4317", clientconfig.TLS{Insecure: true}, true},
	} {
		c := createDefaultConfig()
		c.Endpoint, c.TLS = tc.endpoint, tc.tls
		if got := c.plaintext(); got != tc.want {
			t.Errorf("%s %+v: plaintext %v, want %v", tc.endpoint, tc.tls, got, tc.want)
		}
	}
}

func TestDecodeConfig(t *testing.T) {
	c := createDefaultConfig()
	if err := decode(t, "jaeger.yaml", c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.endpoint() != "jaeger-collector.central.example:4317" || c.TLS.CAFile != "/etc/outpost/ca.pem" || c.plaintext() ||
		c.Auth.BearerTokenFile != "/var/run/secrets/outpost/jaeger-token" || c.Headers["x-scope-orgid"] != "factory-7" ||
		c.Compression != "zstd" || c.Timeout != 5*time.Second || c.DefaultServiceName != "unknown_service" || c.StorageBytes() != 256<<20 {
		t.Fatalf("decoded %+v", c)
	}
	h := createDefaultConfig()
	if err := decode(t, "jaeger_http.yaml", h); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	if h.tracesURL() != "https://jaeger.central.example:4318/v1/traces" || h.Auth.Basic.Username != "edge-7" || h.Compression != "gzip" {
		t.Fatalf("decoded %+v", h)
	}
	if err := configs.Decode("x.yaml", []byte("protocol: grpc\nendpint: x:1\n"), createDefaultConfig()); err == nil || !strings.Contains(err.Error(), "endpint") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"bad protocol", func(c *Config) { c.Protocol = "thrift" }, []string{`protocol: want grpc or http, got "thrift"`}},
		{"grpc with a URL", func(c *Config) { c.Endpoint = "http://jaeger:4317" }, []string{"endpoint: want host:port without a scheme", "protocol: grpc takes host:port"}},
		{"http with host:port", func(c *Config) { c.Protocol, c.Endpoint = ProtocolHTTP, "jaeger:4318" }, []string{"endpoint: want an http:// or https:// URL", "protocol: http takes a base URL"}},
		{"insecure https", func(c *Config) {
			c.Protocol, c.Endpoint, c.TLS.Insecure = ProtocolHTTP, "https://jaeger:4318", true
		}, []string{"tls.insecure: true contradicts an https:// endpoint"}},
		{"compression", func(c *Config) { c.Compression = "snappy" }, []string{"compression: want gzip, zstd or none"}},
		{"authorization header with auth", func(c *Config) {
			c.Auth.BearerTokenFile = "t"
			c.Headers = clientconfig.Headers{"Authorization": "x"}
		}, []string{"headers.Authorization: set by auth"}},
		{"auth", func(c *Config) { c.Auth.Basic.Username = "u" }, []string{"auth.basic.password, basic.password_file: give one"}},
		{"tls", func(c *Config) { c.TLS.CertFile = "c.pem" }, []string{"tls.cert_file, key_file: give both or neither"}},
		{"grpc header", func(c *Config) { c.Headers = clientconfig.Headers{"grpc-timeout": "1"} }, []string{"headers.grpc-timeout: set by the exporter itself"}},
		{"timeout", func(c *Config) { c.Timeout = 0 }, []string{"timeout: must be positive"}},
		{"service name", func(c *Config) { c.DefaultServiceName = " x" }, []string{"default_service_name: leading or trailing space"}},
		{"queue", func(c *Config) { c.Queue.Kind = "tape" }, []string{"queue."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig()
			tc.mod(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}
