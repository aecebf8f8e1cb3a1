package clientconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/outpost-edge/outpost/internal/filewatch"
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
// now, and only now: the result is a snapshot (LoadReloading follows the
// files); an unreadable or empty file is an error naming it.
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

// LoadReloading builds the client *tls.Config of a long-lived client, one
// that follows its files: the client certificate (cert_file, key_file) is
// handed out through GetClientCertificate and the CA pool (ca_file)
// checked through VerifyConnection, both re-read when the files change on
// disk (see internal/filewatch: one stat per file per handshake, a re-read only on a
// changed size or mtime, a re-parse only on a changed content hash). The
// files are read once now, and an unreadable or invalid file is an error
// naming its key, as with Load. A later change that does not load (a
// certificate written before its key) keeps the previous files' contents
// until the pair loads again; logger (nil for none) says so, once per
// change.
//
// A new certificate or CA applies from the next TLS handshake: to a new
// connection. HTTP/1.1 and HTTP/2 clients keep connections open while
// they are used, and gRPC keeps one connection for as long as it stays
// up, so a rotated certificate takes effect when the server (or a proxy)
// closes the connection, for example at its maximum connection age.
//
// Verification with a CA file is the standard one (chain to the pool, the
// server name or IP address in the certificate, the server-auth usage),
// done by VerifyConnection because Go's own check would use a fixed pool.
// The name checked is server_name if set, otherwise the name the
// connection was made to (SNI); a connection to an IP address sends no
// SNI, so its address is taken from hosts: the hosts of the endpoints this
// configuration serves (an IP address that is not among them cannot be
// verified).
func (t TLS) LoadReloading(logger *slog.Logger, hosts ...string) (*tls.Config, error) {
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
	if t.CertFile != "" {
		pair, err := filewatch.New(watchOpts("cert_file, key_file", logger), func(c [][]byte) (*tls.Certificate, error) {
			cert, err := tls.X509KeyPair(c[0], c[1])
			if err != nil {
				return nil, err
			}
			return &cert, nil
		}, t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file, key_file: %w", err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return pair.Get()
		}
	}
	if t.CAFile != "" && !t.InsecureSkipVerify {
		roots, err := filewatch.New(watchOpts("ca_file", logger), func(c [][]byte) (*x509.CertPool, error) {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(c[0]) {
				return nil, fmt.Errorf("no PEM certificate in %s", t.CAFile)
			}
			return pool, nil
		}, t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		names := ipNames(t.ServerName, hosts)
		// Go's verification is off so that VerifyConnection can do the
		// same with the current pool.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			pool, err := roots.Get()
			if err != nil {
				return err
			}
			return verifyServer(cs, pool, names)
		}
	}
	return cfg, nil
}

// ipNames are the names to check a certificate against when the handshake
// sent no SNI (an IP address): server_name if it is one, else the IP
// addresses among hosts.
func ipNames(serverName string, hosts []string) []string {
	if serverName != "" {
		return []string{serverName}
	}
	var names []string
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if net.ParseIP(h) != nil {
			names = append(names, h)
		}
	}
	return names
}

// verifyServer is crypto/tls's verification of a server certificate, with
// pool as the roots: the name is the SNI sent, or for a connection to an
// IP address one of ipNames.
func verifyServer(cs tls.ConnectionState, pool *x509.CertPool, ipNames []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	names := ipNames
	if cs.ServerName != "" {
		names = []string{cs.ServerName}
	}
	if len(names) == 0 {
		return errors.New("tls: no server name to verify the certificate against (set tls.server_name)")
	}
	var err error
	for _, n := range names {
		opts.DNSName = n
		if _, err = cs.PeerCertificates[0].Verify(opts); err == nil {
			return nil
		}
	}
	return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
}
