package prometheusremotewritereceiver

import (
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
)

func TestDefaults(t *testing.T) {
	f := NewFactory()
	if f.Type != "prometheusremotewrite" || len(f.Signals) != 1 {
		t.Errorf("factory type %q signals %v", f.Type, f.Signals)
	}
	cfg := f.CreateDefaultConfig().(*Config)
	if cfg.Endpoint != "127.0.0.1:9091" || cfg.URLPath != "/api/v1/write" || cfg.MaxRequestBodySize.String() != "20MiB" || cfg.MetadataCacheSize != 10000 {
		t.Errorf("defaults %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigDecode(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		err        string // substring of the error; "" for none
	}{
		{"every key", "endpoint: 0.0.0.0:19291\nurl_path: /receive\nmax_request_body_size: 1MiB\nmetadata_cache_size: 0\n", ""},
		{"unknown key", "endpoint: 127.0.0.1:9091\nprotocols: {}\n", "protocols"},
		{"bad endpoint", "endpoint: nowhere\n", "endpoint: want host:port"},
		{"bad port", "endpoint: 127.0.0.1:99999\n", "invalid port"},
		{"bad path", "url_path: api\n", "url_path: must start with '/'"},
		{"zero size", "max_request_body_size: 0B\n", "max_request_body_size"},
		{"negative cache", "metadata_cache_size: -1\n", "metadata_cache_size"},
		{"tls and auth", "tls: {cert_file: /etc/outpost/rw.pem, key_file: /etc/outpost/rw-key.pem, client_ca_file: /etc/outpost/ca.pem, min_version: \"1.3\"}\nauth: {bearer_token_file: /etc/outpost/rw-token}\n", ""},
		{"tls without key", "tls: {cert_file: /etc/outpost/rw.pem}\n", "tls.key_file: required"},
		{"empty auth", "auth: {}\n", "auth.bearer_token_file, basic: give one"},
		{"basic without password", "auth: {basic: {username: prom}}\n", "auth.basic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			err := configs.Decode("test.yaml", []byte(tc.yaml), cfg)
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
			if tc.name == "every key" && (cfg.Endpoint != "0.0.0.0:19291" || cfg.URLPath != "/receive" || cfg.MaxRequestBodySize != 1<<20 || cfg.MetadataCacheSize != 0) {
				t.Errorf("decoded %+v", cfg)
			}
		})
	}
}
