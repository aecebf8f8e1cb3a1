package clientconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS is the `tls` block of a client. The zero value means TLS with the
// system's root certificates.
type TLS struct {
	// Insecure turns TLS off (plaintext). The other fields must then be
	// empty. Protocols whose URL carries a scheme (http:// or https://)
	// take the scheme's word instead.
	Insecure bool `yaml:"insecure"`
	// CAFile is a PEM file of the certificate authorities that sign the
	// server's certificate; empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client's PEM certificate and key for
	// mutual TLS; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked against the server's
	// certificate (and sent as SNI); empty means the endpoint's host.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only: it
	// makes TLS useless against an active attacker.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate reports every inconsistent field, named by its YAML key. It
// does not read the files; Load does.
func (t TLS) Validate() error {
	var errs []error
	if t.Insecure {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"ca_file", t.CAFile != ""},
			{"cert_file", t.CertFile != ""},
			{"key_file", t.KeyFile != ""},
			{"server_name", t.ServerName != ""},
			{"insecure_skip_verify", t.InsecureSkipVerify},
		} {
			if f.set {
				errs = append(errs, fmt.Errorf("%s: set, but insecure: true turns TLS off", f.key))
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New("cert_file, key_file: give both or neither"))
	}
	return errors.Join(errs...)
}

// Load builds the client *tls.Config: nil when Insecure, otherwise TLS 1.2
// or later with the configured roots and client certificate. Files are read
// now; an unreadable or empty file is an error naming it.
func (t TLS) Load() (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Insecure {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // the user asked for it, documented as tests only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: no PEM certificate in %s", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
