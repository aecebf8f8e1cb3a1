package syslogreceiver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
)

// tlsFiles writes a server certificate (named cn, for localhost) and key
// signed by ca, replacing the files as rotation tools do.
func tlsFiles(t testing.TB, dir string, ca *clientconfigtest.CA, cn string) (certFile, keyFile string) {
	t.Helper()
	leaf := ca.Server(t, cn)
	return clientconfigtest.WriteFile(t, dir, "server.pem", leaf.CertPEM), clientconfigtest.WriteFile(t, dir, "server-key.pem", leaf.KeyPEM)
}

// tlsClient is a client's TLS side: the CA it trusts, the certificate it
// presents (nil: none).
func tlsClient(t testing.TB, roots *clientconfigtest.CA, cert *clientconfigtest.Leaf) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS(t)}
	}
	return cfg
}

// octet frames m with octet counting (RFC 5425's framing).
func octet(m string) string { return fmt.Sprintf("%d %s", len(m), m) }

// sendTLS sends msgs on a new TLS connection and closes its write side,
// then reads until the receiver closes the connection: nil when the
// receiver read the stream to its end, else the error that ended the
// connection (a handshake the client or the receiver refused). It returns
// the common name of the certificate the receiver presented.
func sendTLS(t testing.TB, addr string, cfg *tls.Config, msgs ...string) (serverCN string, err error) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, cfg)
	defer conn.Close()
	if err := conn.Handshake(); err != nil {
		return "", err
	}
	if pc := conn.ConnectionState().PeerCertificates; len(pc) > 0 {
		serverCN = pc[0].Subject.CommonName
	}
	for _, m := range msgs {
		if _, err := io.WriteString(conn, octet(m)); err != nil {
			return serverCN, err
		}
	}
	if err := conn.CloseWrite(); err != nil {
		return serverCN, err
	}
	// The receiver answers nothing: EOF once it has read everything and
	// closed; an alert when it refused the handshake (TLS 1.3 reports a
	// refused client certificate only here).
	_, err = io.Copy(io.Discard, conn)
	return serverCN, err
}

// startTLS runs a receiver with tcp.tls set to b.
func startTLS(t testing.TB, b *serverconfig.TLS) *running {
	t.Helper()
	return start(t, tcpConfig(func(c *Config) { c.TCP.TLS = b }), nil)
}

// waitAccepted waits until n messages went through TLS and checks their
// bodies.
func waitAccepted(t testing.TB, st *running, want ...string) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d messages over TLS", len(want)), func() bool {
		return st.accepted(transportTLS) >= float64(len(want))
	})
	got := bodies(st.sink)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) || st.accepted(transportTLS) != float64(len(want)) {
		t.Errorf("bodies %q (accepted %v), want %q", got, st.accepted(transportTLS), want)
	}
}

func msg(body string) string { return "<14>1 2026-03-15T11:00:00Z h app - - - " + body }

// TestTLSCertificateRotation: syslog over TLS (RFC 5425) with the shared
// tls block; a certificate rewritten on disk is served to new connections
// without a restart while an open connection goes on; plaintext senders
// and senders that do not trust the certificate get nothing through.
func TestTLSCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost-1")
	st := startTLS(t, &serverconfig.TLS{CertFile: cert, KeyFile: key})

	cn, err := sendTLS(t, st.tcp, tlsClient(t, ca, nil), msg("one"))
	if err != nil || cn != "outpost-1" {
		t.Fatalf("server %q, %v; want outpost-1, read to the end", cn, err)
	}
	// A connection opened before the rotation.
	open, err := tls.Dial("tcp", st.tcp, tlsClient(t, ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if cn := open.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "outpost-1" {
		t.Fatalf("open connection: server %q", cn)
	}

	tlsFiles(t, dir, ca, "outpost-2")
	cn, err = sendTLS(t, st.tcp, tlsClient(t, ca, nil), msg("two"))
	if err != nil || cn != "outpost-2" {
		t.Errorf("after rotation: server %q, %v; want outpost-2", cn, err)
	}
	if _, err := io.WriteString(open, octet(msg("three"))); err != nil {
		t.Errorf("the connection opened before the rotation: %v", err)
	}
	if err := open.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, open); err != nil {
		t.Errorf("the connection opened before the rotation: %v", err)
	}
	waitAccepted(t, st, "one", "two", "three")

	// A plaintext sender: the receiver closes the connection after a
	// failed handshake, having taken nothing.
	plain, err := net.Dial("tcp", st.tcp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(plain, octet(msg("plain"))+"\n")
	_, _ = io.Copy(io.Discard, plain)
	_ = plain.Close()
	// A sender that does not trust the receiver's CA.
	if _, err := sendTLS(t, st.tcp, tlsClient(t, clientconfigtest.NewCA(t, "other"), nil), msg("untrusted")); err == nil {
		t.Error("a client that does not trust the receiver's CA completed a handshake")
	}
	if got := st.accepted(transportTLS); got != 3 {
		t.Errorf("accepted %v after a plaintext and an untrusting sender, want 3", got)
	}
	if got := st.accepted(transportTCP); got != 0 {
		t.Errorf("accepted %v over plain TCP", got)
	}
}

// TestMutualTLS: with tcp.tls.client_ca_file a sender needs a certificate
// from one of its CAs; a rewritten CA file decides from the next
// connection.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	clientCA1, clientCA2 := clientconfigtest.NewCA(t, "clients-1"), clientconfigtest.NewCA(t, "clients-2")
	caFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA1.CertPEM)
	st := startTLS(t, &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: caFile, MinVersion: "1.3"})

	leaf1, leaf2 := clientCA1.Client(t, "app-1"), clientCA2.Client(t, "app-2")
	var accepted []string
	try := func(name string, c *clientconfigtest.Leaf, wantOK bool) {
		t.Helper()
		_, err := sendTLS(t, st.tcp, tlsClient(t, ca, c), msg(name))
		if ok := err == nil; ok != wantOK {
			t.Errorf("%s: %v, want accepted %v", name, err, wantOK)
		}
		if wantOK {
			accepted = append(accepted, name)
		}
	}
	try("no-client-certificate", nil, false)
	try("client-ca-1", &leaf1, true)
	try("client-ca-2", &leaf2, false)
	clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA2.CertPEM)
	try("rotated-old-ca", &leaf1, false)
	try("rotated-new-ca", &leaf2, true)
	waitAccepted(t, st, accepted...)

	// TLS 1.2 is below min_version.
	c := tlsClient(t, ca, &leaf2)
	c.MaxVersion = tls.VersionTLS12
	if _, err := sendTLS(t, st.tcp, c, msg("tls12")); err == nil {
		t.Error("a TLS 1.2 client got through with min_version 1.3")
	}
}

// syncBuf is a log destination tests read while the receiver writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, line := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line[strings.Index(line, "level="):])
		}
	}
	return out
}

// loopbackHost opens every TCP listener on 127.0.0.1, whatever address
// it is asked for, so that a test can configure an exposed address
// without listening beyond this host.
type loopbackHost struct{ testHost }

func (h *loopbackHost) Listen(network, _ string) (net.Listener, error) {
	return h.testHost.Listen(network, "127.0.0.1:0")
}

// TestExposureWarning: a listener beyond loopback warns at start when TCP
// lacks TLS or client certificates (syslog has no other authentication),
// and always for UDP; loopback listeners and mutual TLS do not.
func TestExposureWarning(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlsFiles(t, dir, clientconfigtest.NewCA(t, "ca"), "outpost")
	clients := clientconfigtest.WriteFile(t, dir, "clients.pem", clientconfigtest.NewCA(t, "clients").CertPEM)
	const prefix = `level=WARN msg="receiver listens beyond this host `
	for _, tc := range []struct {
		name     string
		tcp, udp string // "": not enabled
		tls      *serverconfig.TLS
		want     []string
	}{
		{name: "loopback", tcp: "127.0.0.1:6514", udp: "localhost:5514"},
		{name: "loopback v6", tcp: "[::1]:6514"},
		{name: "all interfaces, plaintext", tcp: ":6514", want: []string{
			prefix + `without TLS (tcp.tls) or client certificates (tcp.tls.client_ca_file)" protocol=tcp endpoint=:6514`,
		}},
		{name: "tls without client certificates", tcp: "0.0.0.0:6514", tls: &serverconfig.TLS{CertFile: cert, KeyFile: key}, want: []string{
			prefix + `without client certificates (tcp.tls.client_ca_file)" protocol=tcp endpoint=0.0.0.0:6514`,
		}},
		{name: "mutual tls", tcp: "[::]:6514", tls: &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: clients}},
		{name: "udp", tcp: "127.0.0.1:6514", udp: "0.0.0.0:514", want: []string{
			prefix + `over UDP, which has neither TLS nor authentication: any host can read or send" protocol=udp endpoint=0.0.0.0:514`,
		}},
		{name: "host name", udp: "syslog.site.example:514", want: []string{
			prefix + `over UDP, which has neither TLS nor authentication: any host can read or send" protocol=udp endpoint=syslog.site.example:514`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			if tc.tcp != "" {
				cfg.TCP = &TCPConfig{}
				cfg.TCP.SetDefaults()
				cfg.TCP.ListenAddress, cfg.TCP.TLS = tc.tcp, tc.tls
			}
			if tc.udp != "" {
				cfg.UDP = &UDPConfig{ListenAddress: tc.udp}
			}
			var log syncBuf
			r, err := newReceiver(pipeline.Settings{ID: pipeline.ID{Type: Type}, Telemetry: selftelemetry.New(),
				Logger: slog.New(slog.NewTextHandler(&log, nil))}, cfg, pipeline.Consumers{Logs: newSink()})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.UDP == nil {
				// Start logs the warnings (UDP is bound directly, not
				// through the host, so it is not started here).
				if err := r.Start(context.Background(), &loopbackHost{}); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := r.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
			} else if n := r.warnIfExposed(); n != len(tc.want) {
				t.Errorf("warnIfExposed logged %d warnings, want %d", n, len(tc.want))
			}
			if got := log.lines("beyond this host"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCreateRefusesMissingFiles: a missing or invalid certificate, key
// or CA file fails the receiver's creation (so that validate and a reload
// refuse it), naming the key.
func TestCreateRefusesMissingFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlsFiles(t, dir, clientconfigtest.NewCA(t, "ca"), "outpost")
	missing := filepath.Join(dir, "missing.pem")
	notPEM := clientconfigtest.WriteFile(t, dir, "not.pem", []byte("not a certificate\n"))
	for _, tc := range []struct {
		tls  *serverconfig.TLS
		want string
	}{
		{&serverconfig.TLS{CertFile: missing, KeyFile: key}, "syslog receiver syslog: tcp.tls.cert_file, key_file: stat " + missing},
		{&serverconfig.TLS{CertFile: cert, KeyFile: notPEM}, "syslog receiver syslog: tcp.tls.cert_file, key_file: "},
		{&serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: missing}, "syslog receiver syslog: tcp.tls.client_ca_file: stat " + missing},
		{&serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: notPEM}, "syslog receiver syslog: tcp.tls.client_ca_file: "},
	} {
		cfg := tcpConfig(func(c *Config) { c.TCP.TLS = tc.tls })
		_, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.ID{Type: Type}}, cfg, pipeline.Consumers{Logs: newSink()})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.tls, err, tc.want)
		}
	}
	// And a valid block creates.
	cfg := tcpConfig(func(c *Config) { c.TCP.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key} })
	if _, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.ID{Type: Type}}, cfg, pipeline.Consumers{Logs: newSink()}); err != nil {
		t.Error(err)
	}
}
