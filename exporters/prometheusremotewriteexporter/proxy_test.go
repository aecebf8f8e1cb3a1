package prometheusremotewriteexporter

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
)

// setProxyEnv sets the proxy variables, both spellings, for this test.
func setProxyEnv(t *testing.T, httpProxy, httpsProxy, noProxy string) {
	for k, v := range map[string]string{"HTTP_PROXY": httpProxy, "HTTPS_PROXY": httpsProxy, "NO_PROXY": noProxy} {
		t.Setenv(k, v)
		t.Setenv(strings.ToLower(k), v)
	}
}

// TestProxyHTTPFromEnvironment: an http:// endpoint is reached through
// the proxy HTTP_PROXY names, as it was when the exporter started. Go
// never proxies requests to localhost or a loopback address, so the
// endpoint is a name only the proxy resolves (to the test server), as a
// central Prometheus's name would be.
func TestProxyHTTPFromEnvironment(t *testing.T) {
	srv := startServer(t)
	target, _ := url.Parse(srv.URL)
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
	setProxyEnv(t, proxy.URL, "", "")

	tokenFile := clientconfigtest.WriteFile(t, t.TempDir(), "token", []byte("token-1\n"))
	e, _ := startExporter(t, testConfig("http://prometheus.outpost.test:9090/api/v1/write", func(c *Config) {
		c.Auth.BearerTokenFile = tokenFile
	}), "")
	// Read at start: a later change applies at the next reload only.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	for range 2 {
		if err := e.ConsumeMetrics(context.Background(), sampleMetrics(3)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := "POST http://prometheus.outpost.test:9090/api/v1/write Bearer token-1"
	if len(proxied) != 2 || proxied[0] != want || proxied[1] != want || len(srv.requests()) != 2 {
		t.Fatalf("proxy saw %q, server got %d requests", proxied, len(srv.requests()))
	}
	t.Logf("through the proxy: %s; server got %d requests", proxied[0], len(srv.requests()))
}

// TestProxyNoProxy: a host NO_PROXY names is not proxied.
func TestProxyNoProxy(t *testing.T) {
	setProxyEnv(t, "http://proxy.outpost.test:3128", "http://proxy.outpost.test:3128", "prometheus.outpost.test,.internal.test")
	e, _ := startExporter(t, testConfig("http://prometheus.outpost.test:9090/api/v1/write", nil), "")
	hc, err := e.cl.Client()
	if err != nil {
		t.Fatal(err)
	}
	tr := hc.Transport.(*http.Transport)
	for u, want := range map[string]string{
		"http://prometheus.outpost.test:9090/api/v1/write": "",
		"https://mimir.internal.test/api/v1/push":          "",
		"https://mimir.central.test/api/v1/push":           "http://proxy.outpost.test:3128",
		"http://mimir.central.test/api/v1/push":            "http://proxy.outpost.test:3128",
	} {
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		got, err := tr.Proxy(req)
		if err != nil {
			t.Fatal(err)
		}
		if s := urlString(got); s != want {
			t.Errorf("proxy for %s: %q, want %q", u, s, want)
		}
	}
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// connectProxy is an HTTPS proxy: it answers CONNECT by opening a tunnel,
// whatever the host asked for, to target.
type connectProxy struct {
	target string
	mu     sync.Mutex
	hosts  []string   // asked for, in order
	conns  []net.Conn // both ends of every tunnel
	closed bool       // close has begun: no new tunnel
	wg     sync.WaitGroup
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	// wg.Add under mu, refused once close waits: an Add concurrent with
	// Wait is a race.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		up.Close()
		down.Close()
		return
	}
	p.hosts = append(p.hosts, r.Host)
	p.conns = append(p.conns, up, down)
	p.wg.Add(2)
	p.mu.Unlock()
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		up.Close()
		down.Close()
		p.wg.Add(-2)
		return
	}
	pipe := func(dst io.Writer, src io.Reader) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		up.Close()
		down.Close()
	}
	go pipe(up, brw) // brw: what the client sent after CONNECT, then the connection
	go pipe(down, up)
}

// close ends every tunnel and waits for them.
func (p *connectProxy) close(t *testing.T) {
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("proxy tunnels did not end")
	}
}

// TestProxyHTTPSConnect: an https:// endpoint is reached through an HTTP
// CONNECT tunnel to the proxy HTTPS_PROXY names, with TLS (mutual, the
// server's certificate checked against ca_file and the endpoint's name)
// end to end through it.
func TestProxyHTTPSConnect(t *testing.T) {
	serverCA, clientCA := clientconfigtest.NewCA(t, "server CA"), clientconfigtest.NewCA(t, "client CA")
	var serverCert atomic.Pointer[tls.Certificate]
	sc := serverCA.Server(t, "server", "prometheus.outpost.test").TLS(t)
	serverCert.Store(&sc)
	srv, rec := startTLSServer(t, mtlsServerConfig(clientCA, &serverCert), true)
	p := &connectProxy{target: srv.Listener.Addr().String()}
	proxy := httptest.NewServer(p)
	t.Cleanup(func() { p.close(t); proxy.Close() })
	setProxyEnv(t, "", proxy.URL, "")

	files := writeClientFiles(t, serverCA, clientCA.Client(t, "client-1"), "token-1")
	e, _ := startExporter(t, testConfig("https://prometheus.outpost.test:9443/api/v1/write", func(c *Config) {
		c.TLS = files.tls()
		c.Auth = clientconfig.Auth{BearerTokenFile: files.secrets}
	}), "")
	if err := e.ConsumeMetrics(context.Background(), sampleMetrics(3)); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	p.mu.Lock()
	hosts := append([]string(nil), p.hosts...)
	p.mu.Unlock()
	if len(hosts) != 1 || hosts[0] != "prometheus.outpost.test:9443" || got.cert != "client-1" || got.auth != "Bearer token-1" {
		t.Fatalf("proxy tunnelled to %q; server saw %+v", hosts, got)
	}
	t.Logf("CONNECT %s; server saw client certificate %q, %q", hosts[0], got.cert, got.auth)
}
