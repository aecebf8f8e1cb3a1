package otlpreceiver

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

func TestDefaults(t *testing.T) {
	f := NewFactory()
	if f.Type != "otlp" || len(f.Signals) != 3 {
		t.Errorf("factory type %q signals %v", f.Type, f.Signals)
	}
	cfg := f.CreateDefaultConfig().(*Config)
	if cfg.Protocols.GRPC != nil || cfg.Protocols.HTTP != nil {
		t.Error("a protocol is on by default")
	}
	var g GRPCConfig
	g.SetDefaults()
	if g.Endpoint != "127.0.0.1:4317" || g.MaxRecvMsgSize.String() != "4MiB" {
		t.Errorf("grpc defaults %+v", g)
	}
	var h HTTPConfig
	h.SetDefaults()
	if h.Endpoint != "127.0.0.1:4318" || h.MaxRequestBodySize.String() != "20MiB" ||
		h.TracesURLPath != "/v1/traces" || h.MetricsURLPath != "/v1/metrics" || h.LogsURLPath != "/v1/logs" {
		t.Errorf("http defaults %+v", h)
	}
	cfg.Protocols.GRPC, cfg.Protocols.HTTP = &g, &h
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// TestConfigFile decodes every key strictly, so that a yaml tag that does
// not match the documented key fails here.
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
	g, h := cfg.Protocols.GRPC, cfg.Protocols.HTTP
	if g.Endpoint != "0.0.0.0:4317" || g.MaxRecvMsgSize != 8<<20 || g.MaxConcurrentStreams != 64 {
		t.Errorf("grpc %+v", g)
	}
	if p := g.Keepalive.ServerParameters; p.MaxConnectionAge != time.Hour || p.Timeout != 20*time.Second {
		t.Errorf("keepalive %+v", p)
	}
	if p := g.Keepalive.EnforcementPolicy; p.MinTime != 10*time.Second || !p.PermitWithoutStream {
		t.Errorf("enforcement %+v", p)
	}
	if h.MaxRequestBodySize != 16<<20 || h.LogsURLPath != "/otlp/v1/logs" {
		t.Errorf("http %+v", h)
	}
	if g.TLS.KeyFile != "/etc/outpost/tls/server-key.pem" || len(g.TLS.CipherSuites) != 1 || g.Auth.BearerTokenFile != "/etc/outpost/otlp-token" {
		t.Errorf("grpc tls %+v auth %+v", g.TLS, g.Auth)
	}
	if h.TLS.ClientCAFile != "/etc/outpost/tls/clients-ca.pem" || h.TLS.MinVersion != "1.3" || h.Auth.Basic.PasswordFile != "/etc/outpost/otlp-password" ||
		len(h.CORS.AllowedOrigins) != 2 || h.CORS.AllowedHeaders[0] != "X-Tenant" || h.CORS.MaxAge != 7200 {
		t.Errorf("http tls %+v auth %+v cors %+v", h.TLS, h.Auth, h.CORS)
	}
}

func TestValidate(t *testing.T) {
	grpcOn := func(mod func(*GRPCConfig)) *Config {
		c := createDefaultConfig()
		c.Protocols.GRPC = &GRPCConfig{}
		c.Protocols.GRPC.SetDefaults()
		mod(c.Protocols.GRPC)
		return c
	}
	httpOn := func(mod func(*HTTPConfig)) *Config {
		c := createDefaultConfig()
		c.Protocols.HTTP = &HTTPConfig{}
		c.Protocols.HTTP.SetDefaults()
		mod(c.Protocols.HTTP)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  *Config
		want []string // substrings of the error, in order; none: valid
	}{
		{"grpc only", grpcOn(func(*GRPCConfig) {}), nil},
		{"http only", httpOn(func(*HTTPConfig) {}), nil},
		{"all interfaces", grpcOn(func(g *GRPCConfig) { g.Endpoint = ":4317" }), nil},
		{"ipv6", grpcOn(func(g *GRPCConfig) { g.Endpoint = "[::1]:4317" }), nil},
		{"none", createDefaultConfig(), []string{"protocols: must enable at least one of grpc, http"}},
		{"grpc no port", grpcOn(func(g *GRPCConfig) { g.Endpoint = "localhost" }), []string{"protocols.grpc.endpoint: want host:port"}},
		{"grpc empty", grpcOn(func(g *GRPCConfig) { g.Endpoint = "" }), []string{"protocols.grpc.endpoint: want host:port"}},
		{"grpc bad port", grpcOn(func(g *GRPCConfig) { g.Endpoint = "127.0.0.1:70000" }), []string{"protocols.grpc.endpoint: invalid port"}},
		{"grpc named port", grpcOn(func(g *GRPCConfig) { g.Endpoint = "127.0.0.1:otlp" }), []string{"protocols.grpc.endpoint: invalid port"}},
		{"grpc url", grpcOn(func(g *GRPCConfig) { g.Endpoint = "http://127.0.0.1:4317" }), []string{"protocols.grpc.endpoint:"}},
		{"grpc zero size", grpcOn(func(g *GRPCConfig) { g.MaxRecvMsgSize = 0 }), []string{"protocols.grpc.max_recv_msg_size: must be between"}},
		{"grpc huge size", grpcOn(func(g *GRPCConfig) { g.MaxRecvMsgSize = 2 << 30 }), []string{"protocols.grpc.max_recv_msg_size: must be between"}},
		{"keepalive negative", grpcOn(func(g *GRPCConfig) {
			g.Keepalive = &KeepaliveConfig{
				ServerParameters:  &KeepaliveServerConfig{Time: -time.Second},
				EnforcementPolicy: &KeepaliveEnforcementConfig{MinTime: -time.Second},
			}
		}), []string{"protocols.grpc.keepalive.server_parameters.time: must be ≥ 0", "protocols.grpc.keepalive.enforcement_policy.min_time: must be ≥ 0"}},
		{"http bad endpoint", httpOn(func(h *HTTPConfig) { h.Endpoint = "4318" }), []string{"protocols.http.endpoint: want host:port"}},
		{"http zero size", httpOn(func(h *HTTPConfig) { h.MaxRequestBodySize = 0 }), []string{"protocols.http.max_request_body_size: must be between"}},
		{"http relative path", httpOn(func(h *HTTPConfig) { h.TracesURLPath = "v1/traces" }), []string{"protocols.http.traces_url_path: must start with '/'"}},
		{"http same paths", httpOn(func(h *HTTPConfig) { h.LogsURLPath = h.MetricsURLPath }), []string{`protocols.http.logs_url_path: "/v1/metrics" is already used by metrics_url_path`}},
		{"same endpoint", func() *Config {
			c := grpcOn(func(*GRPCConfig) {})
			c.Protocols.HTTP = &HTTPConfig{}
			c.Protocols.HTTP.SetDefaults()
			c.Protocols.HTTP.Endpoint = c.Protocols.GRPC.Endpoint
			return c
		}(), []string{"protocols.http.endpoint: \"127.0.0.1:4317\" is also the grpc endpoint"}},
		{"grpc tls without key", grpcOn(func(g *GRPCConfig) { g.TLS = &serverconfig.TLS{CertFile: "c.pem", MinVersion: "1.1"} }),
			[]string{"protocols.grpc.tls.key_file: required", `protocols.grpc.tls.min_version: want "1.2" or "1.3", got "1.1"`}},
		{"grpc auth empty", grpcOn(func(g *GRPCConfig) { g.Auth = &serverconfig.Auth{} }), []string{"protocols.grpc.auth.bearer_token_file, basic: give one"}},
		{"http auth both", httpOn(func(h *HTTPConfig) {
			h.Auth = &serverconfig.Auth{BearerTokenFile: "t", Basic: clientconfig.BasicAuth{Username: "u", Password: "p"}}
		}), []string{"protocols.http.auth.bearer_token_file, basic: give one or the other"}},
		{"http cors", httpOn(func(h *HTTPConfig) {
			h.CORS = &serverconfig.CORS{AllowedOrigins: []string{"app.example.com"}, MaxAge: -1}
		}), []string{`protocols.http.cors.allowed_origins: want scheme://host[:port], got "app.example.com"`, "protocols.http.cors.max_age: must be ≥ 0"}},
		{"every error at once", func() *Config {
			c := grpcOn(func(g *GRPCConfig) { g.Endpoint, g.MaxRecvMsgSize = "nope", -1 })
			c.Protocols.HTTP = &HTTPConfig{Endpoint: "x"}
			return c
		}(), []string{
			"protocols.grpc.endpoint:", "protocols.grpc.max_recv_msg_size:",
			"protocols.http.endpoint:", "protocols.http.max_request_body_size:",
			"protocols.http.traces_url_path:", "protocols.http.metrics_url_path:", "protocols.http.logs_url_path:",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i < len(lines) && !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}
