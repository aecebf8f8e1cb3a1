package clientconfig

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  TLS
		want []string
	}{
		{"zero is TLS with system roots", TLS{}, nil},
		{"insecure", TLS{Insecure: true}, nil},
		{"files", TLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "x"}, nil},
		{"insecure with TLS settings", TLS{Insecure: true, CAFile: "ca.pem", InsecureSkipVerify: true},
			[]string{"ca_file: set, but insecure: true", "insecure_skip_verify: set"}},
		{"cert without key", TLS{CertFile: "c.pem"}, []string{"cert_file, key_file: give both or neither"}},
		{"key without cert", TLS{KeyFile: "k.pem"}, []string{"give both or neither"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tls.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected: %v", err)
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

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := otlpsink.WriteTestCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := (TLS{Insecure: true}).Load(); cfg != nil || err != nil {
		t.Fatalf("insecure: %v %v", cfg, err)
	}
	cfg, err := TLS{}.Load()
	if err != nil || cfg == nil || cfg.RootCAs != nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("default: %+v %v", cfg, err)
	}
	cfg, err = TLS{CAFile: certFile, CertFile: certFile, KeyFile: keyFile, ServerName: "example"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "example" {
		t.Fatalf("loaded %+v", cfg)
	}

	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tls  TLS
		want string
	}{
		{TLS{CAFile: filepath.Join(dir, "missing.pem")}, "ca_file: open"},
		{TLS{CAFile: empty}, "ca_file: no PEM certificate in"},
		{TLS{CertFile: certFile, KeyFile: empty}, "cert_file, key_file:"},
		{TLS{CertFile: certFile}, "give both or neither"},
	} {
		if _, err := tc.tls.Load(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.tls, err, tc.want)
		}
	}
}
