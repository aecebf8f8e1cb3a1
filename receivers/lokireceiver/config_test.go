package lokireceiver

import (
	"os"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

func TestConfigValidate(t *testing.T) {
	http := func(mod func(*HTTPConfig)) *Config {
		c := createDefaultConfig()
		c.Protocols.HTTP = &HTTPConfig{}
		c.Protocols.HTTP.SetDefaults()
		mod(c.Protocols.HTTP)
		return c
	}
	for _, c := range []struct {
		name string
		cfg  *Config
		want string
	}{
		{"defaults", http(func(*HTTPConfig) {}), ""},
		{"no protocol", createDefaultConfig(), "protocols: must enable http"},
		{"no port", http(func(h *HTTPConfig) { h.Endpoint = "localhost" }), "protocols.http.endpoint: want host:port"},
		{"bad port", http(func(h *HTTPConfig) { h.Endpoint = "127.0.0.1:99999" }), "invalid port"},
		{"zero size", http(func(h *HTTPConfig) { h.MaxRequestBodySize = 0 }), "protocols.http.max_request_body_size: must be between"},
		{"huge size", http(func(h *HTTPConfig) { h.MaxRequestBodySize = 2 << 30 }), "max_request_body_size"},
		{"every interface", http(func(h *HTTPConfig) { h.Endpoint = ":3500" }), ""},
		{"max size", http(func(h *HTTPConfig) { h.MaxRequestBodySize = configs.ByteSize(maxMessageSize) }), ""},
		{"tls without cert", http(func(h *HTTPConfig) { h.TLS = &serverconfig.TLS{KeyFile: "k.pem"} }), "protocols.http.tls.cert_file: required"},
		{"empty auth", http(func(h *HTTPConfig) { h.Auth = &serverconfig.Auth{} }), "protocols.http.auth.bearer_token_file, basic: give one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
		})
	}
	d := createDefaultConfig()
	if !d.UseIncomingTimestamp || d.Protocols.HTTP != nil {
		t.Fatalf("defaults %+v", d)
	}
}

// TestConfigFile decodes every key strictly, so that a yaml tag that does
// not match the documented key fails here; `http:` alone takes the
// defaults.
func TestConfigFile(t *testing.T) {
	data, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	if err := configs.Decode("testdata/config.yaml", data, cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if h := cfg.Protocols.HTTP; h.Endpoint != "127.0.0.1:13500" || h.MaxRequestBodySize != 8<<20 || cfg.UseIncomingTimestamp ||
		h.TLS == nil || h.TLS.ClientCAFile != "/etc/outpost/clients.pem" || h.TLS.MinVersion != "1.3" ||
		h.Auth == nil || h.Auth.Basic.Username != "promtail" || h.Auth.Basic.PasswordFile != "/etc/outpost/loki-password" {
		t.Fatalf("decoded %+v %+v", cfg, h)
	}
	cfg = createDefaultConfig()
	if err := configs.Decode("short.yaml", []byte("protocols:\n  http:\n"), cfg); err != nil {
		t.Fatal(err)
	}
	if h := cfg.Protocols.HTTP; h == nil || h.Endpoint != DefaultHTTPEndpoint || h.MaxRequestBodySize != DefaultMaxRequestBodySize {
		t.Fatalf("http: alone gave %+v", h)
	}
	if err := configs.Decode("bad.yaml", []byte("protocols:\n  grpc: {}\n"), createDefaultConfig()); err == nil {
		t.Fatal("unknown key grpc accepted")
	}
}
