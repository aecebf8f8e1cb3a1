package serverconfig

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIsLoopback(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"127.0.0.1:4317":     true,
		"127.8.9.10:4317":    true,
		"localhost:4317":     true,
		"LOCALHOST:4317":     true,
		"[::1]:4317":         true,
		"::1":                true,
		":4317":              false,
		"0.0.0.0:4317":       false,
		"[::]:4317":          false,
		"10.1.2.3:4317":      false,
		"[fe80::1]:4317":     false,
		"collector.lan:4317": false,
		"":                   false,
	} {
		if got := IsLoopback(endpoint); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", endpoint, got, want)
		}
	}
}

func TestWarnIfExposed(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "ca")
	leaf := ca.Server(t, "s")
	tb := &TLS{CertFile: clientconfigtest.WriteFile(t, dir, "c.pem", leaf.CertPEM), KeyFile: clientconfigtest.WriteFile(t, dir, "k.pem", leaf.KeyPEM)}
	mtls := &TLS{CertFile: tb.CertFile, KeyFile: tb.KeyFile, ClientCAFile: clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM)}
	ab := &Auth{BearerTokenFile: clientconfigtest.WriteFile(t, dir, "tok", []byte("x"))}
	for _, tc := range []struct {
		endpoint string
		blocks   Blocks
		want     string // the message; "" for none
	}{
		{":4317", Blocks{}, "receiver listens beyond this host without TLS (tls) or authentication (auth)"},
		{"0.0.0.0:4318", Blocks{TLS: tb}, "receiver listens beyond this host without authentication (auth)"},
		{"[::]:4318", Blocks{Auth: ab}, "receiver listens beyond this host without TLS (tls)"},
		{"10.0.0.5:514", Blocks{TLS: tb, Auth: ab}, ""},
		{"10.0.0.5:4317", Blocks{TLS: mtls}, ""}, // the client certificate authenticates
		{"127.0.0.1:4317", Blocks{}, ""},
		{"localhost:4317", Blocks{}, ""},
		{"[::1]:4317", Blocks{}, ""},
	} {
		s, err := New(tc.blocks, nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		warned := s.WarnIfExposed(slog.New(slog.NewTextHandler(&buf, nil)), "grpc", tc.endpoint)
		if warned != (tc.want != "") {
			t.Errorf("%s %+v: warned %v, want %q", tc.endpoint, tc.blocks, warned, tc.want)
		}
		if tc.want != "" {
			want := `level=WARN msg="` + tc.want + `" protocol=grpc endpoint=` + tc.endpoint
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s: logged %q, want %q", tc.endpoint, buf.String(), want)
			}
		} else if buf.Len() > 0 {
			t.Errorf("%s: logged %q", tc.endpoint, buf.String())
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks Blocks
		want   []string
	}{
		{"nothing", Blocks{}, nil},
		{"tls", Blocks{TLS: &TLS{CertFile: "c", KeyFile: "k", ClientCAFile: "ca", MinVersion: "1.2", MaxVersion: "1.3",
			CipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}}}, nil},
		{"tls empty", Blocks{TLS: &TLS{}}, []string{"tls.cert_file: required", "tls.key_file: required"}},
		{"tls versions", Blocks{TLS: &TLS{CertFile: "c", KeyFile: "k", MinVersion: "1.3", MaxVersion: "1.2"}},
			[]string{"tls.min_version, max_version: 1.3 is above 1.2"}},
		{"tls old version", Blocks{TLS: &TLS{CertFile: "c", KeyFile: "k", MaxVersion: "1.0"}},
			[]string{`tls.max_version: want "1.2" or "1.3", got "1.0"`}},
		{"tls insecure suite", Blocks{TLS: &TLS{CertFile: "c", KeyFile: "k", CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}}},
			[]string{`tls.cipher_suites: "TLS_RSA_WITH_RC4_128_SHA" is not a secure TLS 1.2 cipher suite Go knows`}},
		{"auth empty", Blocks{Auth: &Auth{}}, []string{"auth.bearer_token_file, basic: give one"}},
		{"auth basic without password", Blocks{Auth: &Auth{Basic: clientconfig.BasicAuth{Username: "u"}}},
			[]string{"auth.basic.password, basic.password_file: give one"}},
		{"cors", Blocks{CORS: &CORS{AllowedOrigins: []string{"*", "https://*.example.com", "http://localhost:3000"}, MaxAge: 60}}, nil},
		{"cors empty", Blocks{CORS: &CORS{}}, []string{`cors.allowed_origins: required ("*" for every origin)`}},
		{"cors bad origins", Blocks{CORS: &CORS{AllowedOrigins: []string{"https://*.*.example.com", "https://example.com/path"}}},
			[]string{`cors.allowed_origins: "https://*.*.example.com" has more than one '*'`, `cors.allowed_origins: want scheme://host[:port], got "https://example.com/path"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.blocks.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestNewReadsFiles: New fails on a file that is missing or holds no
// usable certificate or secret, naming its key.
func TestNewReadsFiles(t *testing.T) {
	dir := t.TempDir()
	leaf := clientconfigtest.NewCA(t, "ca").Server(t, "s")
	cert := clientconfigtest.WriteFile(t, dir, "c.pem", leaf.CertPEM)
	key := clientconfigtest.WriteFile(t, dir, "k.pem", leaf.KeyPEM)
	junk := clientconfigtest.WriteFile(t, dir, "junk", []byte("not PEM\n"))
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		blocks Blocks
		want   string
	}{
		{Blocks{TLS: &TLS{CertFile: missing, KeyFile: key}}, "tls.cert_file, key_file: stat " + missing},
		{Blocks{TLS: &TLS{CertFile: key, KeyFile: cert}}, "tls.cert_file, key_file: tls: "},
		{Blocks{TLS: &TLS{CertFile: cert, KeyFile: key, ClientCAFile: junk}}, "tls.client_ca_file: no PEM certificate in the file"},
		{Blocks{Auth: &Auth{BearerTokenFile: missing}}, "auth.bearer_token_file: stat " + missing},
		{Blocks{Auth: &Auth{Basic: clientconfig.BasicAuth{Username: "u", PasswordFile: clientconfigtest.WriteFile(t, dir, "empty", nil)}}}, "auth.basic.password_file: empty"},
	} {
		_, err := New(tc.blocks, nil)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.blocks, err, tc.want)
		}
	}
	if _, err := New(Blocks{TLS: &TLS{CertFile: cert, KeyFile: key}}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticate(t *testing.T) {
	tok := clientconfigtest.WriteFile(t, t.TempDir(), "tok", []byte("  t0ken \n"))
	s, err := New(Blocks{Auth: &Auth{BearerTokenFile: tok}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for authz, want := range map[string]error{
		"Bearer t0ken":   nil,
		"BEARER  t0ken ": nil,
		"":               ErrNoCredentials,
		"Bearer":         ErrBadCredentials,
		"Bearer t0ke":    ErrBadCredentials,
		"Bearer t0ken2":  ErrBadCredentials,
		"Token t0ken":    ErrBadCredentials,
	} {
		if err := s.Authenticate(authz); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", authz, err, want)
		}
	}
	off, _ := New(Blocks{}, nil)
	if err := off.Authenticate(""); err != nil {
		t.Errorf("without auth: %v", err)
	}
}

// TestListenerRawTCP: a raw TCP protocol (as syslog over TLS, RFC 5425)
// wraps its listener once; a rotated certificate is served to the next
// connection, client certificates are required with client_ca_file, and
// the version bounds hold.
func TestListenerRawTCP(t *testing.T) {
	dir := t.TempDir()
	ca, clients := clientconfigtest.NewCA(t, "ca"), clientconfigtest.NewCA(t, "clients")
	write := func(cn string) (string, string) {
		leaf := ca.Server(t, cn)
		return clientconfigtest.WriteFile(t, dir, "c.pem", leaf.CertPEM), clientconfigtest.WriteFile(t, dir, "k.pem", leaf.KeyPEM)
	}
	cert, key := write("first")
	caFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clients.CertPEM)
	s, err := New(Blocks{TLS: &TLS{CertFile: cert, KeyFile: key, ClientCAFile: caFile, MinVersion: "1.3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := s.Listener(raw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// An echo of one line, as a line-based protocol would read it.
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				_, _ = c.Write([]byte(line))
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })

	clientLeaf := clients.Client(t, "app")
	dial := func(cfg *tls.Config) (string, error) {
		cfg.RootCAs, cfg.ServerName = ca.Pool(), "localhost"
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", raw.Addr().String(), cfg)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("<13>1 - - - - - - hello\n")); err != nil {
			return "", err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return "", err
		}
		if line != "<13>1 - - - - - - hello\n" {
			t.Errorf("echo %q", line)
		}
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	withCert := func() *tls.Config { return &tls.Config{Certificates: []tls.Certificate{clientLeaf.TLS(t)}} }
	if cn, err := dial(withCert()); err != nil || cn != "first" {
		t.Fatalf("first: %q %v", cn, err)
	}
	write("second")
	if cn, err := dial(withCert()); err != nil || cn != "second" {
		t.Fatalf("after rotation: %q %v", cn, err)
	}
	if _, err := dial(&tls.Config{}); err == nil {
		t.Error("a client without a certificate got through")
	}
	tls12 := withCert()
	tls12.MaxVersion = tls.VersionTLS12
	if _, err := dial(tls12); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("a TLS 1.2 client under min_version 1.3: %v", err)
	}
}

// FuzzAuthenticate: any Authorization value is refused unless it carries
// the configured credentials, and none panics.
func FuzzAuthenticate(f *testing.F) {
	dir := f.TempDir()
	pw := clientconfigtest.WriteFile(f, dir, "pw", []byte("pa:ss\n"))
	s, err := New(Blocks{Auth: &Auth{Basic: clientconfig.BasicAuth{Username: "edge", PasswordFile: pw}}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "Basic ZWRnZTpwYTpzcw==", "basic ZWRnZTpwYTpzcw==", "Basic", "Basic !", "Bearer x", "Basic ZWRnZQ=="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, authz string) {
		err := s.Authenticate(authz)
		scheme, cred, _ := strings.Cut(strings.TrimSpace(authz), " ")
		b, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		valid := strings.EqualFold(scheme, "Basic") && derr == nil && string(b) == "edge:pa:ss"
		if (err == nil) != valid {
			t.Fatalf("%q: %v, valid %v", authz, err, valid)
		}
	})
}

// TestCORSCredentials: credentialed requests are allowed from listed
// origins, never from every origin ("*").
func TestCORSCredentials(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		origins []string
		want    string
	}{
		{[]string{"https://app.example.com"}, "true"},
		{[]string{"*"}, ""},
	} {
		s, err := New(Blocks{CORS: &CORS{AllowedOrigins: tc.origins}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/logs", nil)
		req.Header.Set("Origin", "https://app.example.com")
		w := httptest.NewRecorder()
		s.HTTPHandler(ok, nil).ServeHTTP(w, req)
		h := w.Result().Header
		if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" && h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Credentials") != tc.want {
			t.Errorf("%v: %v, want credentials %q", tc.origins, h, tc.want)
		}
	}
}

// TestClientMessage: a pipeline error becomes a fixed message by its
// kind; its own text, here a queue file's path, never shows.
func TestClientMessage(t *testing.T) {
	disk := &fs.PathError{Op: "write", Path: "/var/lib/outpost/queues/otlp/normal/00000001.seg", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("exporter otlp: queue: %w", disk), MsgUnavailable},
		{pipeline.NewThrottle(fmt.Errorf("queue of exporter otlp is full: %w", disk), time.Second), MsgThrottled},
		{consumererror.NewPermanent(fmt.Errorf("POST https://central.internal/v1/traces: %w", disk)), MsgPermanent},
		{&pipeline.PartialError{Rejected: 3, Err: consumererror.NewPermanent(disk)}, MsgPartial},
		{errors.Join(fmt.Errorf("a: %w", disk), pipeline.NewThrottle(disk, 0)), MsgThrottled},
	} {
		if got := ClientMessage(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
