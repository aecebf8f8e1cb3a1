package serverconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/outpost-edge/outpost/internal/filewatch"
)

// TLS is the `tls` block of a receiver's listener: the server's
// certificate, and for mutual TLS the CAs that sign client certificates.
// Key names are the OpenTelemetry Collector's (configtls.ServerConfig).
// Leaving the block out serves plaintext.
type TLS struct {
	// CertFile and KeyFile are the server's PEM certificate (chain) and
	// private key. Required.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates. Set, it turns on mutual TLS: a client must present a
	// certificate that chains to one of them, or the handshake fails.
	ClientCAFile string `yaml:"client_ca_file"`
	// MinVersion and MaxVersion bound the TLS version: "1.2" or "1.3".
	// Defaults "1.2" and the newest Go supports.
	MinVersion string `yaml:"min_version"`
	MaxVersion string `yaml:"max_version"`
	// CipherSuites restricts the TLS 1.2 cipher suites, by their IANA
	// names as Go spells them (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	// ...); only the suites Go deems secure are accepted. Empty: Go's
	// defaults. TLS 1.3 suites are not configurable.
	CipherSuites []string `yaml:"cipher_suites"`
}

var versions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func parseVersion(key, v string, def uint16) (uint16, error) {
	if v == "" {
		return def, nil
	}
	n, ok := versions[v]
	if !ok {
		return 0, fmt.Errorf("%s: want \"1.2\" or \"1.3\", got %q", key, v)
	}
	return n, nil
}

func cipherSuite(name string) (uint16, bool) {
	for _, s := range tls.CipherSuites() {
		if s.Name == name {
			return s.ID, true
		}
	}
	return 0, false
}

// Validate reports every problem, named by its key below `tls`. It does
// not read the files; Load does.
func (t *TLS) Validate() error {
	var errs []error
	if t.CertFile == "" {
		errs = append(errs, errors.New("cert_file: required"))
	}
	if t.KeyFile == "" {
		errs = append(errs, errors.New("key_file: required"))
	}
	lo, err := parseVersion("min_version", t.MinVersion, tls.VersionTLS12)
	errs = append(errs, err)
	hi, err2 := parseVersion("max_version", t.MaxVersion, tls.VersionTLS13)
	errs = append(errs, err2)
	if err == nil && err2 == nil && lo > hi {
		errs = append(errs, fmt.Errorf("min_version, max_version: %s is above %s", t.MinVersion, t.MaxVersion))
	}
	for _, name := range t.CipherSuites {
		if _, ok := cipherSuite(name); !ok {
			errs = append(errs, fmt.Errorf("cipher_suites: %q is not a secure TLS 1.2 cipher suite Go knows", name))
		}
	}
	return errors.Join(errs...)
}

// serverTLS hands out the server's current tls.Config, built from the
// files as they are now.
type serverTLS struct {
	base *tls.Config // versions and suites; no certificate
	pair *filewatch.Value[*tls.Certificate]
	cas  *filewatch.Value[*x509.CertPool] // nil without client_ca_file
	last atomic.Pointer[builtTLS]
}

// builtTLS is a config and the file contents it was built from.
type builtTLS struct {
	cert *tls.Certificate
	cas  *x509.CertPool
	cfg  *tls.Config
}

// load reads the files now: an unreadable or invalid file is an error
// naming its key.
func (t *TLS) load(logger *slog.Logger) (*serverTLS, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	lo, _ := parseVersion("", t.MinVersion, tls.VersionTLS12)
	hi, _ := parseVersion("", t.MaxVersion, tls.VersionTLS13)
	base := &tls.Config{MinVersion: lo, MaxVersion: hi}
	for _, name := range t.CipherSuites {
		id, _ := cipherSuite(name)
		base.CipherSuites = append(base.CipherSuites, id)
	}
	opts := func(what string) filewatch.Options {
		return filewatch.Options{What: what, Role: "server credentials", Logger: logger}
	}
	s := &serverTLS{base: base}
	var err error
	s.pair, err = filewatch.New(opts("cert_file, key_file"), func(c [][]byte) (*tls.Certificate, error) {
		cert, err := tls.X509KeyPair(c[0], c[1])
		if err != nil {
			return nil, err
		}
		return &cert, nil
	}, t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file, key_file: %w", err)
	}
	if t.ClientCAFile != "" {
		s.cas, err = filewatch.New(opts("client_ca_file"), func(c [][]byte) (*x509.CertPool, error) {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(c[0]) {
				return nil, errors.New("no PEM certificate in the file")
			}
			return pool, nil
		}, t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %w", err)
		}
	}
	return s, nil
}

// current is the config for a handshake now: the files are stat'ed (and
// re-read only when they changed), and a config is built again only when
// their contents did.
func (s *serverTLS) current() (*tls.Config, error) {
	cert, err := s.pair.Get()
	if err != nil {
		return nil, err
	}
	var cas *x509.CertPool
	if s.cas != nil {
		if cas, err = s.cas.Get(); err != nil {
			return nil, err
		}
	}
	if b := s.last.Load(); b != nil && b.cert == cert && b.cas == cas {
		return b.cfg, nil
	}
	cfg := s.base.Clone()
	cfg.Certificates = []tls.Certificate{*cert}
	if cas != nil {
		cfg.ClientCAs = cas
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	s.last.Store(&builtTLS{cert: cert, cas: cas, cfg: cfg})
	return cfg, nil
}

// config is a tls.Config that takes the current files at each handshake
// (GetConfigForClient), offering nextProtos by ALPN.
func (s *serverTLS) config(nextProtos []string) *tls.Config {
	cfg := s.base.Clone()
	cfg.NextProtos = slices.Clone(nextProtos)
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := s.current()
		if err != nil {
			return nil, err
		}
		if len(nextProtos) > 0 {
			c = c.Clone()
			c.NextProtos = slices.Clone(nextProtos)
		}
		return c, nil
	}
	return cfg
}
