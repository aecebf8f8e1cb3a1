package prometheusremotewriteexporter

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
)

// seen is what a test server recorded of one request: the common name of
// the client certificate (over TLS), the Authorization and X-Scope-OrgID
// sent, and the client's address (one per connection).
type seen struct {
	cert, auth, org, conn string
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

// recordingHandler is a remote-write endpoint that records each request
// it can decode (answering 204) and refuses any other (400).
func recordingHandler(rec *recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			http.Error(w, "snappy: "+err.Error(), http.StatusBadRequest)
			return
		}
		var req prompb.WriteRequest
		if err := req.Unmarshal(raw); err != nil || len(req.Timeseries) == 0 {
			http.Error(w, "not a write request", http.StatusBadRequest)
			return
		}
		s := seen{auth: r.Header.Get("Authorization"), org: r.Header.Get("X-Scope-OrgID"), conn: r.RemoteAddr}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			s.cert = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		rec.add(s)
		w.WriteHeader(http.StatusNoContent)
	})
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

// startTLSServer is a remote-write endpoint over TLS (cfg). Without
// keepAlive it closes every connection after its request, so that each
// request makes a new one, with a new handshake.
func startTLSServer(t *testing.T, cfg *tls.Config, keepAlive bool) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(recordingHandler(rec))
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

// clientFiles are a client's CA file, certificate pair and secret files
// in a temporary directory.
type clientFiles struct {
	dir                    string
	ca, cert, key, secrets string
}

func writeClientFiles(t *testing.T, serverCA *clientconfigtest.CA, client clientconfigtest.Leaf, token string) clientFiles {
	t.Helper()
	dir := t.TempDir()
	return clientFiles{
		dir:     dir,
		ca:      clientconfigtest.WriteFile(t, dir, "ca.pem", serverCA.CertPEM),
		cert:    clientconfigtest.WriteFile(t, dir, "client.pem", client.CertPEM),
		key:     clientconfigtest.WriteFile(t, dir, "client-key.pem", client.KeyPEM),
		secrets: clientconfigtest.WriteFile(t, dir, "token", []byte(token+"\n")),
	}
}

func (f clientFiles) tls() clientconfig.TLS {
	return clientconfig.TLS{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}
}

// lockedBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRotation: mutual TLS with a self-signed CA and a bearer token from
// files. The server closes every connection, so each request makes a new
// one: a client certificate, token or CA replaced on disk applies to the
// very next request, and a replacement that does not load keeps the
// previous files' contents.
func TestRotation(t *testing.T) {
	serverCA, serverCA2, clientCA := clientconfigtest.NewCA(t, "server CA"), clientconfigtest.NewCA(t, "server CA 2"), clientconfigtest.NewCA(t, "client CA")
	var serverCert atomic.Pointer[tls.Certificate]
	sc := serverCA.Server(t, "server").TLS(t)
	serverCert.Store(&sc)
	srv, rec := startTLSServer(t, mtlsServerConfig(clientCA, &serverCert), false)
	url := "https://" + srv.Listener.Addr().String() + "/api/v1/write"

	files := writeClientFiles(t, serverCA, clientCA.Client(t, "client-1"), "token-1")
	logs := &lockedBuffer{}
	set := testSettings()
	set.Logger = slog.New(slog.NewTextHandler(logs, nil))
	e := startWithSettings(t, testConfig(url, func(c *Config) {
		c.TLS = files.tls()
		c.Auth = clientconfig.Auth{BearerTokenFile: files.secrets}
		c.Headers = clientconfig.Headers{"X-Scope-OrgID": "site-7"}
	}), set)
	check := func(step string, want seen) {
		t.Helper()
		if err := e.ConsumeMetrics(context.Background(), sampleMetrics(2)); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		got := rec.last(t)
		if got.cert != want.cert || got.auth != want.auth || got.org != "site-7" {
			t.Fatalf("%s: server saw certificate %q, %q, org %q; want %q, %q, site-7", step, got.cert, got.auth, got.org, want.cert, want.auth)
		}
		t.Logf("%s: server saw client certificate %q, %q", step, got.cert, got.auth)
	}
	check("initial", seen{cert: "client-1", auth: "Bearer token-1"})

	// New client certificate and key, renamed into place.
	client2 := clientCA.Client(t, "client-2")
	clientconfigtest.WriteFile(t, files.dir, "client.pem", client2.CertPEM)
	clientconfigtest.WriteFile(t, files.dir, "client-key.pem", client2.KeyPEM)
	check("after replacing cert_file and key_file", seen{cert: "client-2", auth: "Bearer token-1"})

	clientconfigtest.WriteFile(t, files.dir, "token", []byte("token-2\n"))
	check("after replacing bearer_token_file", seen{cert: "client-2", auth: "Bearer token-2"})

	// A removed token file keeps the last token (and logs it, without the
	// token); the file coming back applies at once.
	if err := os.Remove(files.secrets); err != nil {
		t.Fatal(err)
	}
	check("bearer_token_file removed", seen{cert: "client-2", auth: "Bearer token-2"})
	clientconfigtest.WriteFile(t, files.dir, "token", []byte("token-3\n"))
	check("bearer_token_file back", seen{cert: "client-2", auth: "Bearer token-3"})

	// A certificate written without its key yet does not load: the
	// previous pair goes on being used.
	client3 := clientCA.Client(t, "client-3")
	clientconfigtest.WriteFile(t, files.dir, "client.pem", client3.CertPEM)
	check("certificate written, key not yet", seen{cert: "client-2", auth: "Bearer token-3"})
	clientconfigtest.WriteFile(t, files.dir, "client-key.pem", client3.KeyPEM)
	check("key written too", seen{cert: "client-3", auth: "Bearer token-3"})

	out := logs.String()
	for _, want := range []string{
		"keeping the previous ones", "files=bearer_token_file", `files="cert_file, key_file"`, "client credentials reloaded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "token-") {
		t.Errorf("log shows a token:\n%s", out)
	}

	// The server moves to a certificate of another CA: refused until the
	// client's ca_file holds that CA.
	sc2 := serverCA2.Server(t, "server-2").TLS(t)
	serverCert.Store(&sc2)
	n := rec.count()
	quick := startWithSettings(t, testConfig(url, func(c *Config) {
		c.TLS = files.tls()
		c.RetryOnFailure.MaxElapsedTime = 50 * time.Millisecond
	}), testSettings())
	err := quick.ConsumeMetrics(context.Background(), sampleMetrics(1))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("server certificate of an unknown CA: %v", err)
	}
	clientconfigtest.WriteFile(t, files.dir, "ca.pem", serverCA2.CertPEM)
	if err := quick.ConsumeMetrics(context.Background(), sampleMetrics(1)); err != nil {
		t.Fatalf("after replacing ca_file: %v", err)
	}
	if rec.count() != n+1 {
		t.Fatalf("requests %d, want %d", rec.count(), n+1)
	}
	t.Log("after replacing ca_file: the server's new certificate is trusted")
}

// TestRotationKeepAlive: with keep-alive, a replaced client certificate
// is not used on the connection already open; it is from the next new
// connection, here once the server closes the open one. The token, read
// per request, applies at once on the old connection.
func TestRotationKeepAlive(t *testing.T) {
	serverCA, clientCA := clientconfigtest.NewCA(t, "server CA"), clientconfigtest.NewCA(t, "client CA")
	var serverCert atomic.Pointer[tls.Certificate]
	sc := serverCA.Server(t, "server").TLS(t)
	serverCert.Store(&sc)
	srv, rec := startTLSServer(t, mtlsServerConfig(clientCA, &serverCert), true)
	files := writeClientFiles(t, serverCA, clientCA.Client(t, "client-1"), "token-1")
	e, _ := startExporter(t, testConfig("https://"+srv.Listener.Addr().String()+"/api/v1/write", func(c *Config) {
		c.TLS = files.tls()
		c.Auth = clientconfig.Auth{BearerTokenFile: files.secrets}
	}), "")
	send := func() seen {
		t.Helper()
		if err := e.ConsumeMetrics(context.Background(), sampleMetrics(2)); err != nil {
			t.Fatal(err)
		}
		return rec.last(t)
	}
	first := send()
	if first.cert != "client-1" || first.auth != "Bearer token-1" {
		t.Fatalf("initial: %+v", first)
	}

	client2 := clientCA.Client(t, "client-2")
	clientconfigtest.WriteFile(t, files.dir, "client.pem", client2.CertPEM)
	clientconfigtest.WriteFile(t, files.dir, "client-key.pem", client2.KeyPEM)
	clientconfigtest.WriteFile(t, files.dir, "token", []byte("token-2\n"))
	got := send()
	switch {
	case got.auth != "Bearer token-2":
		t.Fatalf("token not applied at the next request: %+v", got)
	case got.conn == first.conn && got.cert != "client-1":
		t.Fatalf("the open connection changed certificate: %+v", got)
	case got.conn != first.conn && got.cert != "client-2":
		t.Fatalf("new connection %s used certificate %q, want client-2", got.conn, got.cert)
	}
	t.Logf("after the rotation, on connection %s (first %s): certificate %q", got.conn, first.conn, got.cert)

	// The server (or its load balancer) ends the connection: the next one
	// is made with the new certificate.
	srv.CloseClientConnections()
	got = send()
	if got.conn == first.conn || got.cert != "client-2" || got.auth != "Bearer token-2" {
		t.Fatalf("after the server closed the connection: %+v (first on %s)", got, first.conn)
	}
	t.Logf("new connection %s: certificate %q", got.conn, got.cert)
}

// TestBasicAuth: basic credentials with a password or a password file,
// the file re-read when it changes.
func TestBasicAuth(t *testing.T) {
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	rec := &recorder{}
	srv := httptest.NewServer(recordingHandler(rec))
	t.Cleanup(srv.Close)
	send := func(e *exporter, want string) {
		t.Helper()
		if err := e.ConsumeMetrics(context.Background(), sampleMetrics(1)); err != nil {
			t.Fatal(err)
		}
		if got := rec.last(t).auth; got != want {
			t.Fatalf("Authorization %q, want %q", got, want)
		}
	}

	e, _ := startExporter(t, testConfig(srv.URL, func(c *Config) {
		c.Auth.Basic = clientconfig.BasicAuth{Username: "edge-7", Password: "pw-1"}
	}), "")
	send(e, basic("edge-7", "pw-1"))

	dir := t.TempDir()
	pwFile := clientconfigtest.WriteFile(t, dir, "password", []byte("pw-2\n"))
	e, _ = startExporter(t, testConfig(srv.URL, func(c *Config) {
		c.Auth.Basic = clientconfig.BasicAuth{Username: "edge-7", PasswordFile: pwFile}
	}), "")
	send(e, basic("edge-7", "pw-2"))
	clientconfigtest.WriteFile(t, dir, "password", []byte("pw-3\n"))
	send(e, basic("edge-7", "pw-3"))
	// Rewritten in place with a new modification time but the same
	// content: still the same password.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(dir, "password"), later, later); err != nil {
		t.Fatal(err)
	}
	send(e, basic("edge-7", "pw-3"))
}
