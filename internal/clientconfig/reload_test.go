package clientconfig

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
)

// handshake dials a TLS server holding leaf with cfg as the client (with
// serverName, if set, as the name dialled) and returns the error.
func handshake(t *testing.T, leaf clientconfigtest.Leaf, cfg *tls.Config, serverName string) error {
	t.Helper()
	cert := leaf.TLS(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	defer func() { <-done }()
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = serverName
	}
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(ln.Addr().String())
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err != nil {
		return err
	}
	return conn.Close()
}

// TestLoadReloadingVerifies: verification with a reloadable CA pool keeps
// the standard semantics: the chain, and the name (SNI or IP address, or
// server_name).
func TestLoadReloadingVerifies(t *testing.T) {
	dir := t.TempDir()
	ca, other := clientconfigtest.NewCA(t, "ca"), clientconfigtest.NewCA(t, "other")
	caFile := clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	good := ca.Server(t, "server", "jaeger.example")

	f := func(name string, tc TLS, hosts []string, leaf clientconfigtest.Leaf, dial, want string) {
		t.Run(name, func(t *testing.T) {
			cfg, err := tc.LoadReloading(nil, hosts...)
			if err != nil {
				t.Fatal(err)
			}
			err = handshake(t, leaf, cfg, dial)
			if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
	}
	f("IP in the certificate", TLS{CAFile: caFile}, []string{"127.0.0.1"}, good, "", "")
	f("IP not among the hosts", TLS{CAFile: caFile}, nil, good, "", "no server name")
	f("DNS name", TLS{CAFile: caFile}, nil, good, "jaeger.example", "")
	f("wrong DNS name", TLS{CAFile: caFile}, nil, good, "other.example", "certificate is valid for")
	f("server_name", TLS{CAFile: caFile, ServerName: "jaeger.example"}, nil, good, "", "")
	f("wrong server_name", TLS{CAFile: caFile, ServerName: "nope.example"}, []string{"127.0.0.1"}, good, "", "certificate is valid for")
	f("unknown CA", TLS{CAFile: caFile}, []string{"127.0.0.1"}, other.Server(t, "server"), "", "unknown authority")
	f("insecure_skip_verify", TLS{CAFile: caFile, InsecureSkipVerify: true}, nil, other.Server(t, "server"), "", "")
}
