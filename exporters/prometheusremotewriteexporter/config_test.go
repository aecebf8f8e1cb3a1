package prometheusremotewriteexporter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/clientconfig"
)

// decode strictly decodes a testdata file onto cfg (holding defaults), as
// the configs package does.
func decode(t *testing.T, name string, cfg *Config) error {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return configs.Decode(name, b, cfg)
}

func TestDecodeClientOptions(t *testing.T) {
	c := createDefaultConfig()
	if err := decode(t, "client_options.yaml", c); err != nil {
		t.Fatal(err)
	}
	wantTLS := clientconfig.TLS{
		CAFile: "/etc/outpost/tls/ca.pem", CertFile: "/etc/outpost/tls/client.pem", KeyFile: "/etc/outpost/tls/client-key.pem",
		ServerName: "mimir.central.example",
	}
	wantAuth := clientconfig.Auth{Basic: clientconfig.BasicAuth{Username: "edge-7", PasswordFile: "/var/run/secrets/outpost/mimir-password"}}
	if c.TLS != wantTLS || c.Auth != wantAuth || len(c.Headers) != 1 || c.Headers["X-Scope-OrgID"] != "site-7" || c.Timeout != 10*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	err := decode(t, "unknown_auth_key.yaml", createDefaultConfig())
	if err == nil || !strings.Contains(err.Error(), "bearer_token") {
		t.Fatalf("unknown auth key: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error shows the value: %v", err)
	}
}

// TestValidateClientOptions: auth, headers and tls errors name their key.
func TestValidateClientOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"bearer token file", func(c *Config) { c.Auth.BearerTokenFile = "/run/token" }, nil},
		{"basic with password", func(c *Config) { c.Auth.Basic = clientconfig.BasicAuth{Username: "u", Password: "p"} }, nil},
		{"authorization header without auth", func(c *Config) { c.Headers = clientconfig.Headers{"Authorization": "Bearer x"} }, nil},
		{"authorization header with auth", func(c *Config) {
			c.Auth.BearerTokenFile = "/run/token"
			c.Headers = clientconfig.Headers{"authorization": "Bearer x"}
		}, []string{"headers.authorization: set by auth"}},
		{"token and basic", func(c *Config) {
			c.Auth = clientconfig.Auth{BearerTokenFile: "/run/token", Basic: clientconfig.BasicAuth{Username: "u", Password: "p"}}
		}, []string{"auth.bearer_token_file, basic: give one or the other"}},
		{"basic without username", func(c *Config) { c.Auth.Basic.PasswordFile = "/run/pw" }, []string{"auth.basic.username: required"}},
		{"basic without password", func(c *Config) { c.Auth.Basic.Username = "u" }, []string{"auth.basic.password, basic.password_file: give one"}},
		{"protocol header", func(c *Config) {
			c.Headers = clientconfig.Headers{"X-Prometheus-Remote-Write-Version": "2.0.0"}
		}, []string{"headers.X-Prometheus-Remote-Write-Version: set by the exporter itself"}},
		{"header control character", func(c *Config) { c.Headers = clientconfig.Headers{"X-Scope-OrgID": "a\x01b"} }, []string{"headers.X-Scope-OrgID: value holds a control character"}},
		{"metadata every request", func(c *Config) { c.SendMetadataInterval = 0 }, nil},
		{"negative metadata interval", func(c *Config) { c.SendMetadataInterval = -time.Second }, []string{"send_metadata_interval: must be 0 (every request) or positive, got -1s"}},
		{"bad header name", func(c *Config) { c.Headers = clientconfig.Headers{"X Scope": "a"} }, []string{"headers.X Scope: invalid header name"}},
		{"half a client certificate", func(c *Config) {
			c.Endpoint = "https://prom:9090/api/v1/write"
			c.TLS.CertFile = "/etc/client.pem"
		}, []string{"tls.cert_file, key_file: give both or neither"}},
		{"insecure with https", func(c *Config) {
			c.Endpoint = "https://prom:9090/api/v1/write"
			c.TLS.Insecure = true
		}, []string{"tls.insecure: true contradicts an https:// endpoint"}},
		{"insecure with other tls keys", func(c *Config) { c.TLS = clientconfig.TLS{Insecure: true, ServerName: "x"} }, []string{"tls.server_name: set, but insecure: true", "tls: certificate settings with an http:// endpoint"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createDefaultConfig()
			c.Endpoint = "http://prom:9090/api/v1/write"
			tc.mod(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
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

// TestCreateReadsFiles: the factory reads the tls and auth files, and an
// unreadable one is an error naming its key.
func TestCreateReadsFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"missing token file", func(c *Config) { c.Auth.BearerTokenFile = missing }, "auth.bearer_token_file: "},
		{"empty token file", func(c *Config) { c.Auth.BearerTokenFile = empty }, "auth.bearer_token_file: empty"},
		{"missing password file", func(c *Config) { c.Auth.Basic = clientconfig.BasicAuth{Username: "u", PasswordFile: missing} }, "auth.basic.password_file: "},
		{"missing ca file", func(c *Config) { c.Endpoint = "https://127.0.0.1:1/api/v1/write"; c.TLS.CAFile = missing }, "tls.ca_file: "},
		{"empty ca file", func(c *Config) { c.Endpoint = "https://127.0.0.1:1/api/v1/write"; c.TLS.CAFile = empty }, "tls.ca_file: no PEM certificate"},
		{"missing certificate", func(c *Config) {
			c.Endpoint = "https://127.0.0.1:1/api/v1/write"
			c.TLS.CertFile, c.TLS.KeyFile = missing, missing
		}, "tls.cert_file, key_file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig("http://127.0.0.1:1/api/v1/write", tc.mod)
			_, err := NewFactory().Create(t.Context(), testSettings(), c)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error starting %q", err, tc.want)
			}
			if errors.Is(err, os.ErrNotExist) != strings.Contains(tc.name, "missing") {
				t.Errorf("errors.Is(ErrNotExist) = %v: %v", errors.Is(err, os.ErrNotExist), err)
			}
		})
	}
}

// TestSecretsNotShown: the password and header values of a configuration
// do not appear when it is formatted, whatever the verb.
func TestSecretsNotShown(t *testing.T) {
	c := createDefaultConfig()
	c.Endpoint = "https://mimir.central.example/api/v1/push"
	c.Headers = clientconfig.Headers{"X-Scope-OrgID": "tenant-secret-1", "X-Api-Key": "api-key-secret-2"}
	c.Auth.Basic = clientconfig.BasicAuth{Username: "edge-7", Password: "password-secret-3"}
	secrets := []string{"tenant-secret-1", "api-key-secret-2", "password-secret-3"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{c, *c, c.Auth, c.Headers} {
			got := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(got, s) {
					t.Errorf("%s of %T shows %q: %s", verb, v, s, got)
				}
			}
		}
	}
	if got := fmt.Sprintf("%+v", c); !strings.Contains(got, "X-Api-Key:[redacted] X-Scope-OrgID:[redacted]") ||
		!strings.Contains(got, "Username:edge-7") || !strings.Contains(got, "Password:[redacted]") {
		t.Errorf("%%+v shows neither keys nor redaction: %s", got)
	}
	// A bad header value is named by its key alone.
	c.Headers["X-Api-Key"] = "api-key-secret-2\n"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("validation error: %v", err)
	}
}
