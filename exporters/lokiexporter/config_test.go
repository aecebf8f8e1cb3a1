package lokiexporter

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// decodeFile strictly decodes a testdata file onto cfg (holding defaults),
// as the configs package does.
func decodeFile(t *testing.T, name string, cfg pipeline.Config) error {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return configs.Decode(name, b, cfg)
}

func TestDefaults(t *testing.T) {
	c := createDefaultConfig()
	if c.BodyFormat != "json" || c.ResourceAttributes != "metadata" || c.Timeout != 10*time.Second ||
		c.RetryOnFailure != sender.DefaultRetryConfig() || c.Queue != sender.DefaultQueueConfig() ||
		!reflect.DeepEqual(c.Labels, DefaultLabels()) || c.Tenant != "" {
		t.Fatalf("defaults %+v", c)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "endpoint: required") {
		t.Fatalf("defaults without endpoint: %v", err)
	}
	if f := NewFactory(); f.Type != "loki" || len(f.Signals) != 1 || f.Signals[0] != pipeline.SignalLogs {
		t.Fatalf("factory %+v", f)
	}
	rules, err := compileLabels(DefaultLabels())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules {
		names = append(names, r.name)
	}
	if strings.Join(names, ",") != "level,node,service_name,site" {
		t.Fatalf("default labels %v", names)
	}
}

func TestDecodeConfig(t *testing.T) {
	c := createDefaultConfig()
	if err := decodeFile(t, "loki.yaml", c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []Label{
		{Label: "service_name", Resource: "service.name", Default: "unknown_service"},
		{Resource: "k8s.namespace.name"},
		{Label: "level", Severity: true},
	}
	if c.Endpoint != "https://loki.central.example/loki/api/v1/push" || c.Tenant != "factory-7" ||
		!reflect.DeepEqual(c.Labels, want) || c.ResourceAttributes != "drop" || c.BodyFormat != "logfmt" ||
		c.Headers["X-Source"] != "edge" || c.Timeout != 5*time.Second ||
		c.TLS != (clientconfig.TLS{CAFile: "/etc/outpost/ca.pem", CertFile: "/etc/outpost/client.pem", KeyFile: "/etc/outpost/client-key.pem"}) ||
		c.Auth != (clientconfig.Auth{BearerTokenFile: "/var/run/secrets/outpost/loki-token"}) || c.RetryOnFailure.InitialInterval != time.Second ||
		c.RetryOnFailure.MaxInterval != sender.DefaultMaxInterval || c.Queue.MaxBytes != 1<<30 || len(c.Priority.Rules) != 1 {
		t.Fatalf("decoded %+v", c)
	}
	if err := decodeFile(t, "loki_unknown_key.yaml", createDefaultConfig()); err == nil || !strings.Contains(err.Error(), "from") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"ok", func(*Config) {}, nil},
		{"ok https with tenant", func(c *Config) { c.Endpoint = "https://loki/loki/api/v1/push"; c.Tenant = "t1" }, nil},
		{"no scheme", func(c *Config) { c.Endpoint = "loki:3100" }, []string{"endpoint: want an http:// or https:// URL"}},
		{"no host", func(c *Config) { c.Endpoint = "http:///push" }, []string{"endpoint: no host"}},
		{"tenant", func(c *Config) { c.Tenant = "a\nb" }, []string{"tenant: holds a control character"}},
		{"body format", func(c *Config) { c.BodyFormat = "text" }, []string{`body_format: want json or logfmt, got "text"`}},
		{"resource attributes", func(c *Config) { c.ResourceAttributes = "labels" }, []string{`resource_attributes: want metadata or drop`}},
		{"two sources", func(c *Config) { c.Labels = []Label{{Resource: "a", Attribute: "b"}} }, []string{"labels[0]: set exactly one of resource, attribute and severity"}},
		{"no source", func(c *Config) { c.Labels = []Label{{Label: "x"}} }, []string{"labels[0]: set exactly one"}},
		{"bad label name", func(c *Config) { c.Labels = []Label{{Label: "service.name", Resource: "service.name"}} },
			[]string{`labels[0].label: "service.name" is not a Loki label name ([a-zA-Z_][a-zA-Z0-9_]*); "service_name" would do`}},
		{"reserved", func(c *Config) { c.Labels = []Label{{Label: "__name__", Resource: "x"}} }, []string{"labels[0].label: \"__name__\": names starting with __ are reserved"}},
		{"duplicate", func(c *Config) { c.Labels = []Label{{Resource: "k8s.pod"}, {Label: "k8s_pod", Attribute: "p"}} },
			[]string{`labels[1]: label "k8s_pod" already defined by labels[0]`}},
		{"too many", func(c *Config) {
			c.Labels = nil
			for i := range 16 {
				c.Labels = append(c.Labels, Label{Attribute: string(rune('a' + i))})
			}
		}, []string{"labels: 16 labels, at most 15"}},
		{"headers", func(c *Config) {
			c.Headers = map[string]string{"Content-Encoding": "gzip", "X-Scope-OrgID": "t", "bad name": "x", "X-Ok": "a\x00"}
		}, []string{"headers.Content-Encoding: set by the exporter", "headers.X-Scope-OrgID: use tenant", "headers.bad name: invalid header name", "headers.X-Ok: value holds a control character"}},
		{"authorization header without auth", func(c *Config) { c.Headers = clientconfig.Headers{"Authorization": "Bearer x"} }, nil},
		{"authorization header with auth", func(c *Config) {
			c.Headers = clientconfig.Headers{"authorization": "Bearer x", "x-scope-orgid": "t"}
			c.Auth.BearerTokenFile = "/run/token"
		}, []string{"headers.authorization: set by auth", "headers.x-scope-orgid: use tenant"}},
		{"auth both", func(c *Config) {
			c.Auth = clientconfig.Auth{BearerTokenFile: "t", Basic: clientconfig.BasicAuth{Username: "u", Password: "p"}}
		}, []string{"auth.bearer_token_file, basic: give one or the other"}},
		{"auth basic", func(c *Config) { c.Auth.Basic.PasswordFile = "p" }, []string{"auth.basic.username: required"}},
		{"auth basic password", func(c *Config) { c.Auth.Basic.Username = "u" }, []string{"auth.basic.password, basic.password_file: give one"}},
		{"timeout", func(c *Config) { c.Timeout = 0 }, []string{"timeout: must be positive"}},
		{"insecure https", func(c *Config) { c.Endpoint = "https://loki/push"; c.TLS.Insecure = true }, []string{"tls.insecure: true contradicts an https:// endpoint"}},
		{"tls", func(c *Config) { c.TLS.CertFile = "c.pem" }, []string{"tls.cert_file, key_file: give both or neither"}},
		{"retry, queue, priority", func(c *Config) {
			c.RetryOnFailure.Multiplier = 0
			c.Queue.Kind = "tape"
			c.Priority.Default = "urgent"
		}, []string{"retry_on_failure.multiplier", "queue.kind", "priority.default"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfgWith(tc.mod)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
