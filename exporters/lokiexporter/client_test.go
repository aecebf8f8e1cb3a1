package lokiexporter

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// seen is what a test server recorded of one request: the common name of
// the client certificate, the Authorization sent, and the client's
// address (one per connection).
type seen struct {
	cert, auth, conn string
}

// recorder keeps what a server saw, in order.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

func (r *recorder) add(s seen) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, s)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("server saw no request")
	}
	return r.reqs[len(r.reqs)-1]
}

// mtlsServerConfig requires a client certificate signed by clientCA and
// serves the certificate *cert holds at each handshake (so a test can
// switch it).
func mtlsServerConfig(clientCA *clientconfigtest.CA, cert *atomic.Pointer[tls.Certificate]) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  clientCA.Pool(),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cert.Load(), nil
		},
	}
}

// startMTLSLoki is a Loki push endpoint over mutual TLS that decodes each
// body as Loki does and records the client certificate and Authorization.
// With keepAlive false it closes every connection after its request, so
// that each request makes a new one (a new handshake).
func startMTLSLoki(t *testing.T, cfg *tls.Config, keepAlive bool) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = decodeBody(body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.add(seen{cert: r.TLS.PeerCertificates[0].Subject.CommonName, auth: r.Header.Get("Authorization"), conn: r.RemoteAddr})
		w.WriteHeader(http.StatusNoContent)
	}))
	// TLS by a listener of our own: httptest's StartTLS would add its own
	// certificate, which Go serves in preference to GetCertificate to a
	// client that sends no SNI (one dialling an IP address).
	srv.Listener = tls.NewListener(srv.Listener, cfg)
	srv.Config.SetKeepAlivesEnabled(keepAlive)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, rec
}

// pushURL is the push endpoint of a server started by startMTLSLoki.
func pushURL(srv *httptest.Server) string {
	return "https://" + srv.Listener.Addr().String() + "/loki/api/v1/push"
}

// clientFiles are a client's CA file, certificate pair and token file in
// a temporary directory.
type clientFiles struct {
	dir                      string
	ca, cert, key, tokenFile string
}

func writeClientFiles(t *testing.T, serverCA *clientconfigtest.CA, client clientconfigtest.Leaf, token string) clientFiles {
	t.Helper()
	dir := t.TempDir()
	return clientFiles{
		dir:       dir,
		ca:        clientconfigtest.WriteFile(t, dir, "ca.pem", serverCA.CertPEM),
		cert:      clientconfigtest.WriteFile(t, dir, "client.pem", client.CertPEM),
		key:       clientconfigtest.WriteFile(t, dir, "client-key.pem", client.KeyPEM),
		tokenFile: clientconfigtest.WriteFile(t, dir, "token", []byte(token+"\n")),
	}
}

func (f clientFiles) tls() clientconfig.TLS {
	return clientconfig.TLS{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}
}

// replaceFile rotates dir/name to b as clientconfigtest.WriteFile does
// (a new file renamed over the old one), and makes sure its modification
// time moves on. clientconfig re-reads a file when its size or mtime
// changed; this test replaces files within one tick of the file system's
// clock (4ms on ext4), faster than any rotation tool, and a replacement
// of the same size would then look unchanged.
func replaceFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	old, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	clientconfigtest.WriteFile(t, dir, name, b)
	now, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !now.ModTime().After(old.ModTime()) {
		mtime := old.ModTime().Add(10 * time.Millisecond)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// mtlsSetup is a server CA and certificate, a client CA and the server's
// TLS configuration serving the certificate held in cert.
func mtlsSetup(t *testing.T) (serverCA, clientCA *clientconfigtest.CA, cert *atomic.Pointer[tls.Certificate], cfg *tls.Config) {
	serverCA, clientCA = clientconfigtest.NewCA(t, "server CA"), clientconfigtest.NewCA(t, "client CA")
	cert = &atomic.Pointer[tls.Certificate]{}
	c := serverCA.Server(t, "loki", "loki.outpost.test").TLS(t)
	cert.Store(&c)
	return serverCA, clientCA, cert, mtlsServerConfig(clientCA, cert)
}

// TestRotation: mutual TLS and a bearer token from files. The server
// closes every connection after its request, so each request makes a new
// connection: a replaced certificate pair, token file or CA file applies
// to the very next request.
func TestRotation(t *testing.T) {
	serverCA, clientCA, serverCert, serverTLS := mtlsSetup(t)
	srv, rec := startMTLSLoki(t, serverTLS, false)
	files := writeClientFiles(t, serverCA, clientCA.Client(t, "client-1"), "token-1")
	e := startExporter(t, wireConfig(pushURL(srv), func(c *Config) {
		c.TLS = files.tls()
		c.Auth = clientconfig.Auth{BearerTokenFile: files.tokenFile}
	}), "", selftelemetry.New())
	check := func(step string, want seen) {
		t.Helper()
		if err := e.ConsumeLogs(context.Background(), wireLogs()); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := rec.last(t); got.cert != want.cert || got.auth != want.auth {
			t.Fatalf("%s: server saw certificate %q and %q, want %q and %q", step, got.cert, got.auth, want.cert, want.auth)
		}
	}
	check("initial", seen{cert: "client-1", auth: "Bearer token-1"})

	// New client certificate and key, renamed into place.
	client2 := clientCA.Client(t, "client-2")
	replaceFile(t, files.dir, "client.pem", client2.CertPEM)
	replaceFile(t, files.dir, "client-key.pem", client2.KeyPEM)
	check("after replacing cert_file and key_file", seen{cert: "client-2", auth: "Bearer token-1"})

	replaceFile(t, files.dir, "token", []byte("token-2\n"))
	check("after replacing bearer_token_file", seen{cert: "client-2", auth: "Bearer token-2"})

	// A certificate written without its key yet does not load: the
	// previous pair goes on being used.
	client3 := clientCA.Client(t, "client-3")
	replaceFile(t, files.dir, "client.pem", client3.CertPEM)
	check("certificate written, key not yet", seen{cert: "client-2", auth: "Bearer token-2"})
	replaceFile(t, files.dir, "client-key.pem", client3.KeyPEM)
	check("key written too", seen{cert: "client-3", auth: "Bearer token-2"})

	// The server moves to a certificate of another CA: refused until the
	// client's ca_file holds that CA.
	serverCA2 := clientconfigtest.NewCA(t, "server CA 2")
	c2 := serverCA2.Server(t, "loki-2").TLS(t)
	serverCert.Store(&c2)
	n := rec.count()
	quick := startExporter(t, wireConfig(pushURL(srv), func(c *Config) {
		c.TLS = files.tls()
		c.RetryOnFailure.MaxElapsedTime = 50 * time.Millisecond
	}), "", selftelemetry.New())
	if err := quick.ConsumeLogs(context.Background(), wireLogs()); err == nil {
		t.Fatal("server certificate of an unknown CA accepted")
	}
	replaceFile(t, files.dir, "ca.pem", serverCA2.CertPEM)
	if err := quick.ConsumeLogs(context.Background(), wireLogs()); err != nil {
		t.Fatalf("after replacing ca_file: %v", err)
	}
	if rec.count() != n+1 {
		t.Fatalf("requests %d, want %d", rec.count(), n+1)
	}
}

// TestRotationKeepAlive: with a server that keeps connections open, a
// replaced certificate is used from the next new connection: requests on
// the connection open at the rotation keep the old one, and once the
// server closes it the next request's new connection carries the new one.
func TestRotationKeepAlive(t *testing.T) {
	serverCA, clientCA, _, serverTLS := mtlsSetup(t)
	srv, rec := startMTLSLoki(t, serverTLS, true)
	files := writeClientFiles(t, serverCA, clientCA.Client(t, "client-1"), "token-1")
	e := startExporter(t, wireConfig(pushURL(srv), func(c *Config) { c.TLS = files.tls() }), "", selftelemetry.New())
	send := func() seen {
		t.Helper()
		if err := e.ConsumeLogs(context.Background(), wireLogs()); err != nil {
			t.Fatal(err)
		}
		return rec.last(t)
	}
	if got := send(); got.cert != "client-1" {
		t.Fatalf("initial: %+v", got)
	}
	client2 := clientCA.Client(t, "client-2")
	replaceFile(t, files.dir, "client.pem", client2.CertPEM)
	replaceFile(t, files.dir, "client-key.pem", client2.KeyPEM)
	old := map[string]bool{}
	rec.mu.Lock()
	for _, s := range rec.reqs {
		old[s.conn] = true
	}
	rec.mu.Unlock()
	// Whether Go's transport reuses the idle connection is up to its
	// timing, so either is accepted: the old connection with the old
	// certificate, or a new one with the new certificate.
	if got := send(); old[got.conn] != (got.cert == "client-1") || (got.cert != "client-1" && got.cert != "client-2") {
		t.Fatalf("after the rotation, before the connection closed: %+v (old connections %v)", got, old)
	}
	srv.CloseClientConnections()
	if got := send(); old[got.conn] || got.cert != "client-2" {
		t.Fatalf("after the server closed the connection: %+v, want client-2 on a new connection", got)
	}
}

// TestBasicAuth: inline password, and a password file re-read when it
// changes; an Authorization header is allowed (and sent) only without
// auth.
func TestBasicAuth(t *testing.T) {
	loki := startFakeLoki(t)
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	lastAuth := func() string {
		t.Helper()
		got := loki.received()
		if len(got) == 0 {
			t.Fatal("no request")
		}
		return got[len(got)-1].header.Get("Authorization")
	}
	send := func(e *exporter) {
		t.Helper()
		if err := e.ConsumeLogs(context.Background(), wireLogs()); err != nil {
			t.Fatal(err)
		}
	}

	inline := startExporter(t, wireConfig(loki.url(), func(c *Config) {
		c.Auth.Basic = clientconfig.BasicAuth{Username: "edge-7", Password: "pw-inline"}
	}), "", selftelemetry.New())
	send(inline)
	if got, want := lastAuth(), basic("edge-7", "pw-inline"); got != want {
		t.Fatalf("inline password: Authorization %q, want %q", got, want)
	}

	dir := t.TempDir()
	pwFile := clientconfigtest.WriteFile(t, dir, "password", []byte("pw-1\n"))
	fromFile := startExporter(t, wireConfig(loki.url(), func(c *Config) {
		c.Auth.Basic = clientconfig.BasicAuth{Username: "edge-7", PasswordFile: pwFile}
	}), "", selftelemetry.New())
	send(fromFile)
	if got, want := lastAuth(), basic("edge-7", "pw-1"); got != want {
		t.Fatalf("password_file: Authorization %q, want %q", got, want)
	}
	replaceFile(t, dir, "password", []byte("pw-2\n"))
	send(fromFile)
	if got, want := lastAuth(), basic("edge-7", "pw-2"); got != want {
		t.Fatalf("after replacing password_file: Authorization %q, want %q", got, want)
	}
	// Emptied (half-written) file: the previous password goes on.
	replaceFile(t, dir, "password", nil)
	send(fromFile)
	if got, want := lastAuth(), basic("edge-7", "pw-2"); got != want {
		t.Fatalf("after emptying password_file: Authorization %q, want %q", got, want)
	}

	static := startExporter(t, wireConfig(loki.url(), func(c *Config) {
		c.Headers = clientconfig.Headers{"Authorization": "Bearer static"}
	}), "", selftelemetry.New())
	send(static)
	if got := lastAuth(); got != "Bearer static" {
		t.Fatalf("static header without auth: Authorization %q", got)
	}
}

// TestCreateReadsFiles: the files are read when the exporter is created,
// and a missing one is an error naming its key.
func TestCreateReadsFiles(t *testing.T) {
	missing := t.TempDir() + "/missing.pem"
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ca_file", func(c *Config) { c.TLS.CAFile = missing }, "tls.ca_file: "},
		{"cert_file", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = missing, missing }, "tls.cert_file, key_file: "},
		{"bearer_token_file", func(c *Config) { c.Auth.BearerTokenFile = missing }, "auth.bearer_token_file: "},
		{"password_file", func(c *Config) { c.Auth.Basic = clientconfig.BasicAuth{Username: "u", PasswordFile: missing} }, "auth.basic.password_file: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID(testID)}, wireConfig("https://loki.example/loki/api/v1/push", tc.mod))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "missing.pem") {
				t.Fatalf("error %v, want %q about missing.pem", err, tc.want)
			}
		})
	}
}

// TestSecretsRedacted: no format of the configuration shows a password or
// a header value.
func TestSecretsRedacted(t *testing.T) {
	cfg := wireConfig("https://loki.example/loki/api/v1/push", func(c *Config) {
		c.Tenant = "factory-7"
		c.Headers = clientconfig.Headers{"X-Api-Key": "hdr-secret", "X-Other": "other-secret"}
		c.Auth.Basic = clientconfig.BasicAuth{Username: "edge-7", Password: "pw-secret"}
	})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, *cfg, cfg.Headers, cfg.Auth} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{"hdr-secret", "other-secret", "pw-secret"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s of %T shows %q: %s", verb, v, secret, out)
				}
			}
		}
	}
	got := fmt.Sprintf("%+v", cfg)
	for _, want := range []string{"X-Api-Key:[redacted]", "X-Other:[redacted]", "Username:edge-7", "Password:[redacted]", "Tenant:factory-7"} {
		if !strings.Contains(got, want) {
			t.Errorf("%%+v lacks %q: %s", want, got)
		}
	}
}

// TestProxyFromEnvironment: requests go through the proxy the environment
// names, read when the exporter starts. Go never proxies requests to
// localhost or a loopback address, so the endpoint is a name only the
// proxy resolves, as a central Loki's name would be.
func TestProxyFromEnvironment(t *testing.T) {
	t.Run("HTTP_PROXY", func(t *testing.T) {
		loki := startFakeLoki(t)
		target, _ := url.Parse(loki.URL)
		var mu sync.Mutex
		var proxied []string
		proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
			mu.Lock()
			proxied = append(proxied, r.In.Method+" "+r.In.URL.String()+" "+r.In.Header.Get("Authorization"))
			mu.Unlock()
			r.SetURL(target)
			r.Out.URL.Path = r.In.URL.Path
		}})
		t.Cleanup(proxy.Close)
		setProxyEnv(t, "HTTP_PROXY", proxy.URL)

		tokenFile := clientconfigtest.WriteFile(t, t.TempDir(), "token", []byte("tok\n"))
		e := startExporter(t, wireConfig("http://loki.outpost.test:3100/loki/api/v1/push", func(c *Config) {
			c.Auth.BearerTokenFile = tokenFile
		}), "", selftelemetry.New())
		if err := e.ConsumeLogs(context.Background(), wireLogs()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(proxied) != 1 || proxied[0] != "POST http://loki.outpost.test:3100/loki/api/v1/push Bearer tok" || loki.entries() != 6 {
			t.Fatalf("proxy saw %q, Loki got %d entries", proxied, loki.entries())
		}
	})
	t.Run("HTTPS_PROXY", func(t *testing.T) {
		serverCA, clientCA, _, serverTLS := mtlsSetup(t)
		srv, rec := startMTLSLoki(t, serverTLS, false)
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		proxy, tunnels := startConnectProxy(t, srv.Listener.Addr().String())
		setProxyEnv(t, "HTTPS_PROXY", proxy)

		files := writeClientFiles(t, serverCA, clientCA.Client(t, "client-1"), "tok")
		e := startExporter(t, wireConfig("https://loki.outpost.test:"+port+"/loki/api/v1/push", func(c *Config) {
			c.TLS = files.tls()
		}), "", selftelemetry.New())
		if err := e.ConsumeLogs(context.Background(), wireLogs()); err != nil {
			t.Fatal(err)
		}
		// Under load the transport may dial a second tunnel (a retried
		// attempt); every one must go through the proxy to Loki's name.
		got := tunnels()
		if len(got) == 0 {
			t.Fatal("the proxy tunnelled nothing")
		}
		for _, g := range got {
			if g != "loki.outpost.test:"+port {
				t.Fatalf("proxy tunnelled to %q", got)
			}
		}
		if got := rec.last(t); got.cert != "client-1" {
			t.Fatalf("server saw %+v", got)
		}
	})
}

// setProxyEnv sets one proxy variable (both spellings) and clears the
// others, for the test.
func setProxyEnv(t *testing.T, key, val string) {
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} {
		v := ""
		if k == key {
			v = val
		}
		t.Setenv(k, v)
		t.Setenv(strings.ToLower(k), v)
	}
}

// startConnectProxy is an HTTP CONNECT proxy that tunnels every CONNECT
// to backend, whatever host it names (which only the proxy "resolves").
// It returns the proxy's URL and the CONNECT targets it saw.
func startConnectProxy(t *testing.T, backend string) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var targets []string
	var closed bool
	var wg sync.WaitGroup
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		targets = append(targets, r.Host)
		mu.Unlock()
		up, err := net.Dial("tcp", backend)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		// The client sends nothing before the 200, so nothing is left in
		// the hijacked buffer. Either side closing ends the tunnel.
		pipe := func(dst, src net.Conn) {
			defer wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		// wg.Add under mu, refused once the cleanup waits: an Add
		// concurrent with Wait is a race.
		mu.Lock()
		if closed {
			mu.Unlock()
			up.Close()
			down.Close()
			return
		}
		wg.Add(2)
		mu.Unlock()
		go pipe(up, down)
		go pipe(down, up)
	}))
	t.Cleanup(func() {
		proxy.Close()
		mu.Lock()
		closed = true
		mu.Unlock()
		wg.Wait()
	})
	return proxy.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), targets...)
	}
}
