package lokireceiver

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

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
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

// answer is what a push got.
type answer struct {
	code     int
	body     string
	header   http.Header
	serverCN string // common name of the server's certificate (TLS)
}

// pushJSON sends a JSON push of n entries to path on a new connection
// (HTTP/2 over TLS, HTTP/1.1 without); err is a failure to get an answer
// at all (a refused handshake).
func pushJSON(t testing.TB, r running, path string, c secClient, n int) (answer, error) {
	t.Helper()
	url := r.url + path
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
	var values []string
	for i := range n {
		values = append(values, fmt.Sprintf(`["%d","line %d"]`, t0.UnixNano()+int64(i), i))
	}
	body := `{"streams":[{"stream":{"service_name":"app"},"values":[` + strings.Join(values, ",") + `]}]}`
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	resp, err := (&http.Client{Transport: ht}).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, body: string(b), header: resp.Header}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		a.serverCN = resp.TLS.PeerCertificates[0].Subject.CommonName
		if resp.ProtoMajor != 2 {
			t.Errorf("HTTPS answered over %s, want HTTP/2 (negotiated by ALPN)", resp.Proto)
		}
	}
	return a, nil
}

// entries is how many log records the pipeline took (and forgets them).
func (r running) entries() int {
	n := 0
	for _, ld := range r.s.take() {
		n += ld.LogRecordCount()
	}
	return n
}

func (r running) badN(reason string) float64 {
	return promtest.ToFloat64(r.tel.ReceiverBadRequests.WithLabelValues("loki/test", "logs", "http", reason))
}

// secureConfig is the default HTTP configuration with the given blocks.
func secureConfig(tlsBlock *serverconfig.TLS, auth *serverconfig.Auth) *Config {
	cfg := createDefaultConfig()
	cfg.Protocols.HTTP = &HTTPConfig{}
	cfg.Protocols.HTTP.SetDefaults()
	cfg.Protocols.HTTP.TLS, cfg.Protocols.HTTP.Auth = tlsBlock, auth
	return cfg
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
	r := startReceiver(t, secureConfig(&serverconfig.TLS{CertFile: cert, KeyFile: key}, nil), nil)

	check := func(wantCN string) {
		t.Helper()
		a, err := pushJSON(t, r, PushPath, secClient{roots: ca}, 3)
		if err != nil || a.code != http.StatusNoContent || a.serverCN != wantCN {
			t.Errorf("%d %q, server %q, %v; want 204 from %q", a.code, a.body, a.serverCN, err, wantCN)
		}
	}
	check("outpost-1")
	tlsFiles(t, dir, ca, "outpost-2")
	check("outpost-2")

	if a, err := pushJSON(t, r, PushPath, secClient{}, 3); err == nil && a.code == http.StatusNoContent {
		t.Error("a plaintext push was served")
	}
	if _, err := pushJSON(t, r, PushPath, secClient{roots: clientconfigtest.NewCA(t, "other")}, 3); err == nil {
		t.Error("a client that does not trust the receiver's CA got an answer")
	}
	if got := r.entries(); got != 6 {
		t.Errorf("the pipeline took %d entries, want 6", got)
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
	r := startReceiver(t, secureConfig(&serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: caFile, MinVersion: "1.3"}, nil), nil)

	leaf1, leaf2 := clientCA1.Client(t, "promtail-1"), clientCA2.Client(t, "promtail-2")
	try := func(name string, c secClient, wantOK bool) {
		t.Helper()
		a, err := pushJSON(t, r, PushPath, c, 2)
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
	if got := r.entries(); got != 4 {
		t.Errorf("the pipeline took %d entries, want 4", got)
	}
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// TestAuth: bearer token and basic auth, on both push paths: a push
// without valid credentials is answered 401 with WWW-Authenticate, counted
// as a bad request with reason unauthenticated, and never reaches the
// pipeline; a rewritten secret file applies from the next request. A path
// that serves nothing is refused too, but not counted.
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
			auth:      &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "promtail", PasswordFile: write("password", "pw-1")}},
			challenge: `Basic realm="outpost"`,
			rotate:    func() { write("password", "pw-2") },
			good:      []string{basic("promtail", "pw-1")},
			bad:       []string{"", basic("promtail", "pw-2"), basic("other", "pw-1"), "Bearer pw-1", "Basic !!!"},
			rotated:   []string{basic("promtail", "pw-2")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t, secureConfig(nil, tc.auth), nil)
			entries := 0
			try := func(authz string, wantOK bool) {
				t.Helper()
				for _, path := range []string{PushPath, LegacyPushPath} {
					before := r.badN(reasonUnauthenticated)
					a, err := pushJSON(t, r, path, secClient{authorization: authz}, 2)
					if err != nil {
						t.Fatal(err)
					}
					if wantOK {
						entries += 2
						if a.code != http.StatusNoContent {
							t.Errorf("%s %q: %d %q, want 204", path, authz, a.code, a.body)
						}
						continue
					}
					if a.code != http.StatusUnauthorized || a.body != "missing or invalid credentials\n" ||
						a.header.Get("WWW-Authenticate") != tc.challenge {
						t.Errorf("%s %q: %d %q %q, want 401 %q", path, authz, a.code, a.body, a.header.Get("WWW-Authenticate"), tc.challenge)
					}
					if d := r.badN(reasonUnauthenticated) - before; d != 1 {
						t.Errorf("%s %q: bad_requests{unauthenticated} +%v, want +1", path, authz, d)
					}
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
			if got := r.entries(); got != entries {
				t.Errorf("the pipeline took %d entries, want %d", got, entries)
			}
			before := r.badN(reasonUnauthenticated)
			if a, err := pushJSON(t, r, "/elsewhere", secClient{}, 1); err != nil || a.code != http.StatusUnauthorized {
				t.Errorf("another path without credentials: %d %v, want 401", a.code, err)
			}
			if d := r.badN(reasonUnauthenticated) - before; d != 0 {
				t.Errorf("another path counted: +%v", d)
			}
		})
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

// TestErrorAnswersRevealNoPaths: the pipeline's errors (a queue's full
// disk names its segment file) are logged whole, and the client is told
// only the kind of failure.
func TestErrorAnswersRevealNoPaths(t *testing.T) {
	const path = "/var/lib/outpost/queues/loki_central/00000042.seg"
	var log syncBuf
	s := &sink{}
	cfg := secureConfig(nil, nil)
	cfg.Protocols.HTTP.Endpoint = "127.0.0.1:0"
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("loki/test"),
		Logger: slog.New(slog.NewTextHandler(&log, nil))}, cfg, pipeline.Consumers{Logs: consumer.Logs(s)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	r := running{url: "http://" + c.(*receiver).address().String(), s: s}
	diskFull := fmt.Errorf("exporter loki/central: queue: write %s: no space left on device", path)
	for _, tc := range []struct {
		name string
		err  error
		code int
		want string
	}{
		{"disk full", diskFull, http.StatusServiceUnavailable, serverconfig.MsgUnavailable},
		{"queue full", pipeline.NewThrottle(fmt.Errorf("queue of exporter loki/central is full: %w", diskFull), 0), http.StatusServiceUnavailable, serverconfig.MsgThrottled},
		{"permanent", consumererror.NewPermanent(diskFull), http.StatusBadRequest, serverconfig.MsgPermanent},
		{"partial", &pipeline.PartialError{Rejected: 1, Err: diskFull}, http.StatusBadRequest, serverconfig.MsgPartial},
	} {
		s.setErr(tc.err)
		a, err := pushJSON(t, r, PushPath, secClient{}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if a.code != tc.code || a.body != tc.want+"\n" {
			t.Errorf("%s: %d %q, want %d %q", tc.name, a.code, a.body, tc.code, tc.want)
		}
		for _, secret := range []string{path, "loki/central", "no space", "queue"} {
			if strings.Contains(a.body, secret) {
				t.Errorf("%s: the client was told %q, which reveals %q", tc.name, a.body, secret)
			}
		}
	}
	if !strings.Contains(log.String(), path) {
		t.Errorf("the log lacks the error's detail:\n%s", log.String())
	}
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
		{name: "loopback", endpoint: "127.0.0.1:3500"},
		{name: "localhost", endpoint: "localhost:3500"},
		{name: "all interfaces", endpoint: ":3500", want: msg + `TLS (tls) or authentication (auth)" protocol=http endpoint=:3500`},
		{name: "tls only", endpoint: "0.0.0.0:3500", tls: true, want: msg + `authentication (auth)" protocol=http endpoint=0.0.0.0:3500`},
		{name: "auth only", endpoint: "[::]:3500", auth: true, want: msg + `TLS (tls)" protocol=http endpoint=[::]:3500`},
		{name: "both", endpoint: "0.0.0.0:3500", tls: true, auth: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := secureConfig(nil, nil)
			cfg.Protocols.HTTP.Endpoint = tc.endpoint
			if tc.tls {
				cfg.Protocols.HTTP.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key}
			}
			if tc.auth {
				cfg.Protocols.HTTP.Auth = &serverconfig.Auth{BearerTokenFile: tok}
			}
			var log syncBuf
			comp, err := NewFactory().Create(context.Background(), pipeline.Settings{
				ID: pipeline.MustID("loki"), Logger: slog.New(slog.NewTextHandler(&log, nil)),
			}, cfg, pipeline.Consumers{Logs: &sink{}})
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
			if tc.want == "" && len(got) > 0 || tc.want != "" && strings.Join(got, "\n") != tc.want {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

// TestCreateRefusesMissingFiles: a missing certificate or password file
// fails the receiver's creation (so validate and a reload refuse it),
// naming the key.
func TestCreateRefusesMissingFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		cfg  *Config
		want string
	}{
		{secureConfig(&serverconfig.TLS{CertFile: missing, KeyFile: missing}, nil), "loki receiver loki: protocols.http.tls.cert_file, key_file: stat " + missing},
		{secureConfig(nil, &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "u", PasswordFile: missing}}), "loki receiver loki: protocols.http.auth.basic.password_file: stat " + missing},
	} {
		_, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("loki")}, tc.cfg, pipeline.Consumers{Logs: &sink{}})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}
