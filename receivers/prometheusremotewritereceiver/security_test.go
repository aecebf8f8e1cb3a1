package prometheusremotewritereceiver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
)

// secClient is how a test client connects: the CA it trusts (nil:
// plaintext), the certificate it presents, the Authorization it sends.
type secClient struct {
	roots         *clientconfigtest.CA
	cert          *clientconfigtest.Leaf
	authorization string
}

// answer is what a request got.
type answer struct {
	code     int
	body     string
	header   http.Header
	serverCN string // common name of the server's certificate (TLS)
}

// send posts a remote-write 1.0 request of n series on a new connection
// (HTTP/2 over TLS, HTTP/1.1 without); err is a failure to get an answer
// at all (a refused handshake).
func send(t testing.TB, tr *testReceiver, c secClient, n int) (answer, error) {
	t.Helper()
	url := tr.url
	ht := &http.Transport{DisableKeepAlives: true}
	if c.roots != nil {
		url = strings.Replace(url, "http://", "https://", 1)
		cfg := &tls.Config{RootCAs: c.roots.Pool(), MinVersion: tls.VersionTLS12}
		if c.cert != nil {
			cfg.Certificates = []tls.Certificate{c.cert.TLS(t)}
		}
		ht.TLSClientConfig, ht.ForceAttemptHTTP2 = cfg, true
	}
	defer ht.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(snappy.Encode(nil, v1Body(t, n))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctV1)
	req.Header.Set("Content-Encoding", "snappy")
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	resp, err := (&http.Client{Transport: ht}).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: string(body), header: resp.Header}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.serverCN = resp.TLS.PeerCertificates[0].Subject.CommonName
		if resp.ProtoMajor != 2 {
			t.Errorf("HTTPS answered over %s, want HTTP/2 (negotiated by ALPN)", resp.Proto)
		}
	}
	return a, nil
}

// tlsFiles writes a server certificate (named cn) and key signed by ca,
// replacing the files as rotation tools do.
func tlsFiles(t testing.TB, dir string, ca *clientconfigtest.CA, cn string) (certFile, keyFile string) {
	t.Helper()
	leaf := ca.Server(t, cn)
	return clientconfigtest.WriteFile(t, dir, "server.pem", leaf.CertPEM), clientconfigtest.WriteFile(t, dir, "server-key.pem", leaf.KeyPEM)
}

// TestTLSCertificateRotation: the receiver serves HTTPS, and a certificate
// rewritten on disk is served to new connections without a restart.
// Plaintext clients and clients that do not trust the CA get nothing in.
func TestTLSCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost-1")
	tr := startReceiver(t, func(c *Config) { c.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key} }, nil)

	check := func(wantCN string) {
		t.Helper()
		a, err := send(t, tr, secClient{roots: ca}, 3)
		if err != nil || a.code != http.StatusNoContent || a.serverCN != wantCN {
			t.Errorf("%d %q, server %q, %v; want 204 from %q", a.code, a.body, a.serverCN, err, wantCN)
		}
	}
	check("outpost-1")
	tlsFiles(t, dir, ca, "outpost-2")
	check("outpost-2")

	if a, err := send(t, tr, secClient{}, 3); err == nil && a.code == http.StatusNoContent {
		t.Error("a plaintext request was served")
	}
	if _, err := send(t, tr, secClient{roots: clientconfigtest.NewCA(t, "other")}, 3); err == nil {
		t.Error("a client that does not trust the receiver's CA got an answer")
	}
	if got := tr.sink.points(); got != 6 {
		t.Errorf("sink has %d points, want 6", got)
	}
}

// TestMutualTLS: with client_ca_file a client needs a certificate from one
// of its CAs; a rewritten CA file decides from the next connection.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	clientCA1, clientCA2 := clientconfigtest.NewCA(t, "clients-1"), clientconfigtest.NewCA(t, "clients-2")
	caFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA1.CertPEM)
	tr := startReceiver(t, func(c *Config) {
		c.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: caFile, MinVersion: "1.3"}
	}, nil)

	leaf1, leaf2 := clientCA1.Client(t, "prometheus-1"), clientCA2.Client(t, "prometheus-2")
	try := func(name string, c secClient, wantOK bool) {
		t.Helper()
		a, err := send(t, tr, c, 2)
		if ok := err == nil && a.code == http.StatusNoContent; ok != wantOK {
			t.Errorf("%s: %d %q %v, want success %v", name, a.code, a.body, err, wantOK)
		}
	}
	try("no client certificate", secClient{roots: ca}, false)
	try("certificate of the client CA", secClient{roots: ca, cert: &leaf1}, true)
	try("certificate of another CA", secClient{roots: ca, cert: &leaf2}, false)
	clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA2.CertPEM)
	try("rotated CA: the old CA's certificate", secClient{roots: ca, cert: &leaf1}, false)
	try("rotated CA: the new CA's certificate", secClient{roots: ca, cert: &leaf2}, true)
	if got := tr.sink.points(); got != 4 {
		t.Errorf("sink has %d points, want 4", got)
	}
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// TestAuth: bearer token and basic auth: a request without valid
// credentials is answered 401 with WWW-Authenticate, counted as a bad
// request with reason unauthenticated, and never reaches the pipeline; a
// rewritten secret file applies from the next request.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return clientconfigtest.WriteFile(t, dir, name, []byte(s+"\n")) }
	for _, tc := range []struct {
		name      string
		auth      *serverconfig.Auth
		challenge string
		rotate    func()
		good, bad []string // Authorization values before rotation
		rotated   []string // good after rotation, and the old good is bad
	}{
		{
			name:      "bearer",
			auth:      &serverconfig.Auth{BearerTokenFile: write("token", "tok-1")},
			challenge: `Bearer realm="outpost"`,
			rotate:    func() { write("token", "tok-2") },
			good:      []string{"Bearer tok-1", "bearer tok-1"},
			bad:       []string{"", "Bearer tok-2", "Bearer tok-1x", "Basic dG9rLTE=", "tok-1"},
			rotated:   []string{"Bearer tok-2"},
		},
		{
			name:      "basic with password_file",
			auth:      &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "prom", PasswordFile: write("password", "pw-1")}},
			challenge: `Basic realm="outpost"`,
			rotate:    func() { write("password", "pw-2") },
			good:      []string{basic("prom", "pw-1")},
			bad:       []string{"", basic("prom", "pw-2"), basic("other", "pw-1"), "Bearer pw-1", "Basic !!!"},
			rotated:   []string{basic("prom", "pw-2")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := startReceiver(t, func(c *Config) { c.Auth = tc.auth }, nil)
			points := 0
			try := func(authz string, wantOK bool) {
				t.Helper()
				before := tr.bad(reasonUnauthenticated)
				a, err := send(t, tr, secClient{authorization: authz}, 2)
				if err != nil {
					t.Fatal(err)
				}
				if wantOK {
					points += 2
					if a.code != http.StatusNoContent {
						t.Errorf("%q: %d %q, want 204", authz, a.code, a.body)
					}
					return
				}
				if a.code != http.StatusUnauthorized || a.body != "missing or invalid credentials\n" ||
					a.header.Get("WWW-Authenticate") != tc.challenge {
					t.Errorf("%q: %d %q %q, want 401 %q", authz, a.code, a.body, a.header.Get("WWW-Authenticate"), tc.challenge)
				}
				if d := tr.bad(reasonUnauthenticated) - before; d != 1 {
					t.Errorf("%q: bad_requests{unauthenticated} +%v, want +1", authz, d)
				}
			}
			for _, a := range tc.good {
				try(a, true)
			}
			for _, a := range tc.bad {
				try(a, false)
			}
			tc.rotate()
			for _, a := range tc.good {
				try(a, false)
			}
			for _, a := range tc.rotated {
				try(a, true)
			}
			if got := tr.sink.points(); got != points {
				t.Errorf("sink has %d points, want %d", got, points)
			}
			if got := tr.accepted(); got != float64(points) {
				t.Errorf("accepted %v, want %d", got, points)
			}
		})
	}
}

// TestTLSAndAuth: both blocks at once, over HTTPS with a client
// certificate and a token.
func TestTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	clientCA := clientconfigtest.NewCA(t, "clients")
	caFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA.CertPEM)
	tok := clientconfigtest.WriteFile(t, dir, "token", []byte("s3cret\n"))
	tr := startReceiver(t, func(c *Config) {
		c.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: caFile}
		c.Auth = &serverconfig.Auth{BearerTokenFile: tok}
	}, nil)
	leaf := clientCA.Client(t, "prometheus")
	if a, err := send(t, tr, secClient{roots: ca, cert: &leaf, authorization: "Bearer s3cret"}, 4); err != nil || a.code != http.StatusNoContent {
		t.Errorf("%d %q %v, want 204", a.code, a.body, err)
	}
	if a, err := send(t, tr, secClient{roots: ca, cert: &leaf}, 4); err != nil || a.code != http.StatusUnauthorized {
		t.Errorf("without the token: %d %q %v, want 401", a.code, a.body, err)
	}
	if got := tr.sink.points(); got != 4 {
		t.Errorf("sink has %d points, want 4", got)
	}
}

// TestErrorAnswersRevealNoPaths: the pipeline's errors (a queue's full
// disk names its segment file) are logged whole, and the client is told
// only the kind of failure.
func TestErrorAnswersRevealNoPaths(t *testing.T) {
	const path = "/var/lib/outpost/queues/prometheusremotewrite_central/00000042.seg"
	var log syncBuf
	s := &sink{}
	next, err := consumer.NewMetrics(s.consume)
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	cfg.Endpoint = "127.0.0.1:0"
	r, err := newReceiver(pipeline.Settings{ID: pipeline.MustID(Type), Logger: slog.New(slog.NewTextHandler(&log, nil))}, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	tr := &testReceiver{receiver: r, url: "http://" + r.address().String() + cfg.URLPath, sink: s}
	diskFull := fmt.Errorf("exporter prometheusremotewrite/central: queue: write %s: no space left on device", path)
	for _, tc := range []struct {
		name string
		err  error
		code int
		want string
	}{
		{"disk full", diskFull, http.StatusServiceUnavailable, serverconfig.MsgUnavailable},
		{"queue full", pipeline.NewThrottle(fmt.Errorf("queue of exporter prometheusremotewrite/central is full: %w", diskFull), 0), http.StatusServiceUnavailable, serverconfig.MsgThrottled},
		{"permanent", consumererror.NewPermanent(diskFull), http.StatusBadRequest, serverconfig.MsgPermanent},
		{"partial", &pipeline.PartialError{Rejected: 1, Err: diskFull}, http.StatusBadRequest, serverconfig.MsgPartial},
	} {
		s.setErr(tc.err)
		a, err := send(t, tr, secClient{}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if a.code != tc.code || a.body != tc.want+"\n" {
			t.Errorf("%s: %d %q, want %d %q", tc.name, a.code, a.body, tc.code, tc.want)
		}
		for _, secret := range []string{path, "prometheusremotewrite/central", "no space", "queue"} {
			if strings.Contains(a.body, secret) {
				t.Errorf("%s: the client was told %q, which reveals %q", tc.name, a.body, secret)
			}
		}
	}
	if !strings.Contains(log.String(), path) {
		t.Errorf("the log lacks the error's detail:\n%s", log.String())
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

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// loopbackHost opens every listener on 127.0.0.1, whatever address it is
// asked for, so that a test can configure an exposed endpoint without
// listening beyond this host.
type loopbackHost struct{ testHost }

func (h *loopbackHost) Listen(network, _ string) (net.Listener, error) {
	return h.testHost.Listen(network, "127.0.0.1:0")
}

// TestExposureWarning: Start warns when the endpoint is beyond loopback
// and lacks TLS or auth.
func TestExposureWarning(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlsFiles(t, dir, clientconfigtest.NewCA(t, "ca"), "outpost")
	tok := clientconfigtest.WriteFile(t, dir, "token", []byte("tok"))
	const msg = `level=WARN msg="receiver listens beyond this host without `
	for _, tc := range []struct {
		name, endpoint string
		tls, auth      bool
		want           string
	}{
		{name: "loopback", endpoint: "127.0.0.1:9091"},
		{name: "localhost", endpoint: "localhost:9091"},
		{name: "all interfaces", endpoint: ":9091", want: msg + `TLS (tls) or authentication (auth)" protocol=http endpoint=:9091`},
		{name: "tls only", endpoint: "0.0.0.0:9091", tls: true, want: msg + `authentication (auth)" protocol=http endpoint=0.0.0.0:9091`},
		{name: "auth only", endpoint: "[::]:9091", auth: true, want: msg + `TLS (tls)" protocol=http endpoint=[::]:9091`},
		{name: "both", endpoint: "0.0.0.0:9091", tls: true, auth: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.Endpoint = tc.endpoint
			if tc.tls {
				cfg.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key}
			}
			if tc.auth {
				cfg.Auth = &serverconfig.Auth{BearerTokenFile: tok}
			}
			var log syncBuf
			next, _ := consumer.NewMetrics((&sink{}).consume)
			comp, err := NewFactory().Create(context.Background(), pipeline.Settings{
				ID: pipeline.MustID(Type), Logger: slog.New(slog.NewTextHandler(&log, nil)),
			}, cfg, pipeline.Consumers{Metrics: next})
			if err != nil {
				t.Fatal(err)
			}
			if err := comp.Start(context.Background(), &loopbackHost{}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := comp.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.Split(log.String(), "\n") {
				if strings.Contains(line, "beyond this host") {
					got = append(got, line[strings.Index(line, "level="):])
				}
			}
			if want := []string{tc.want}; tc.want == "" && len(got) > 0 || tc.want != "" && strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

// TestCreateRefusesMissingFiles: a missing certificate or token file fails
// the receiver's creation (so validate and a reload refuse it), naming
// the key.
func TestCreateRefusesMissingFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	next, _ := consumer.NewMetrics((&sink{}).consume)
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.TLS = &serverconfig.TLS{CertFile: missing, KeyFile: missing} }, "prometheusremotewrite receiver prometheusremotewrite: tls.cert_file, key_file: stat " + missing},
		{func(c *Config) { c.Auth = &serverconfig.Auth{BearerTokenFile: missing} }, "prometheusremotewrite receiver prometheusremotewrite: auth.bearer_token_file: stat " + missing},
	} {
		cfg := createDefaultConfig()
		tc.mod(cfg)
		_, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(Type)}, cfg, pipeline.Consumers{Metrics: next})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}
