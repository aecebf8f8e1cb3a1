package otlpexporter

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
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

// startMTLSHTTP is an OTLP/HTTP server over mutual TLS that closes every
// connection after its request, so that each request makes a new one.
func startMTLSHTTP(t *testing.T, cfg *tls.Config) (string, *recorder) {
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(seen{cert: r.TLS.PeerCertificates[0].Subject.CommonName, auth: r.Header.Get("Authorization"), conn: r.RemoteAddr})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	// TLS by a listener of our own: httptest's StartTLS would add its own
	// certificate, which Go serves in preference to GetCertificate to a
	// client that sends no SNI (one dialling an IP address).
	srv.Listener = tls.NewListener(srv.Listener, cfg)
	srv.Config.SetKeepAlivesEnabled(false)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.Start()
	t.Cleanup(srv.Close)
	return "https://" + srv.Listener.Addr().String(), rec
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	rec *recorder
}

func (s *traceServer) Export(ctx context.Context, _ ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	p, _ := peer.FromContext(ctx)
	info := p.AuthInfo.(credentials.TLSInfo)
	md, _ := metadata.FromIncomingContext(ctx)
	var auth string
	if v := md.Get("authorization"); len(v) > 0 {
		auth = v[0]
	}
	s.rec.add(seen{cert: info.State.PeerCertificates[0].Subject.CommonName, auth: auth, conn: p.Addr.String()})
	return ptraceotlp.NewExportResponse(), nil
}

// startMTLSGRPC is an OTLP/gRPC trace server over mutual TLS that ends
// each connection after maxAge (gRPC's MaxConnectionAge), as servers and
// load balancers in front of a collector do.
func startMTLSGRPC(t *testing.T, cfg *tls.Config, maxAge time.Duration) (string, *recorder) {
	rec := &recorder{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: maxAge, MaxConnectionAgeGrace: time.Second}))
	ptraceotlp.RegisterGRPCServer(srv, &traceServer{rec: rec})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String(), rec
}

// rotationFiles is a client's CA file, certificate pair and token file in
// a temporary directory.
type rotationFiles struct {
	dir                      string
	ca, cert, key, tokenFile string
}

func writeClientFiles(t *testing.T, dir string, serverCA *clientconfigtest.CA, client clientconfigtest.Leaf, token string) rotationFiles {
	t.Helper()
	return rotationFiles{
		dir:       dir,
		ca:        clientconfigtest.WriteFile(t, dir, "ca.pem", serverCA.CertPEM),
		cert:      clientconfigtest.WriteFile(t, dir, "client.pem", client.CertPEM),
		key:       clientconfigtest.WriteFile(t, dir, "client-key.pem", client.KeyPEM),
		tokenFile: clientconfigtest.WriteFile(t, dir, "token", []byte(token+"\n")),
	}
}

func (f rotationFiles) tls() clientconfig.TLS {
	return clientconfig.TLS{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}
}

// TestRotationHTTP: mutual TLS and a bearer token from files over
// OTLP/HTTP. Replacing the client certificate files, the token file or the
// CA file applies to the very next request (the server closes every
// connection, so each request makes a new one).
func TestRotationHTTP(t *testing.T) {
	serverCA, serverCA2, clientCA := clientconfigtest.NewCA(t, "server CA"), clientconfigtest.NewCA(t, "server CA 2"), clientconfigtest.NewCA(t, "client CA")
	var serverCert atomic.Pointer[tls.Certificate]
	c := serverCA.Server(t, "server").TLS(t)
	serverCert.Store(&c)
	url, rec := startMTLSHTTP(t, mtlsServerConfig(clientCA, &serverCert))

	files := writeClientFiles(t, t.TempDir(), serverCA, clientCA.Client(t, "client-1"), "token-1")
	e, _ := startExporter(t, httpConfig(url, func(c *HTTPConfig) {
		c.TLS = files.tls()
		c.Auth = clientconfig.Auth{BearerTokenFile: files.tokenFile}
	}))
	send := func() error { return e.ConsumeTraces(context.Background(), testTraces(2)) }
	check := func(step string, want seen) {
		t.Helper()
		if err := send(); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := rec.last(t); got.cert != want.cert || got.auth != want.auth {
			t.Fatalf("%s: server saw certificate %q and %q, want %q and %q", step, got.cert, got.auth, want.cert, want.auth)
		}
		t.Logf("%s: server saw client certificate %q, %q", step, want.cert, want.auth)
	}
	check("initial", seen{cert: "client-1", auth: "Bearer token-1"})

	// New client certificate and key, renamed into place.
	client2 := clientCA.Client(t, "client-2")
	clientconfigtest.WriteFile(t, files.dir, "client.pem", client2.CertPEM)
	clientconfigtest.WriteFile(t, files.dir, "client-key.pem", client2.KeyPEM)
	check("after replacing cert_file and key_file", seen{cert: "client-2", auth: "Bearer token-1"})

	clientconfigtest.WriteFile(t, files.dir, "token", []byte("token-2\n"))
	check("after replacing bearer_token_file", seen{cert: "client-2", auth: "Bearer token-2"})

	// A certificate written without its key yet does not load: the
	// previous pair goes on being used.
	client3 := clientCA.Client(t, "client-3")
	clientconfigtest.WriteFile(t, files.dir, "client.pem", client3.CertPEM)
	check("certificate written, key not yet", seen{cert: "client-2", auth: "Bearer token-2"})
	clientconfigtest.WriteFile(t, files.dir, "client-key.pem", client3.KeyPEM)
	check("key written too", seen{cert: "client-3", auth: "Bearer token-2"})

	// The server moves to a certificate of another CA: refused until the
	// client's ca_file holds that CA.
	c2 := serverCA2.Server(t, "server-2").TLS(t)
	serverCert.Store(&c2)
	n := rec.count()
	quick, _ := startExporter(t, httpConfig(url, func(c *HTTPConfig) {
		c.TLS = files.tls()
		c.RetryOnFailure.MaxElapsedTime = 50 * time.Millisecond
	}))
	if err := quick.ConsumeTraces(context.Background(), testTraces(1)); err == nil {
		t.Fatal("server certificate of an unknown CA accepted")
	}
	clientconfigtest.WriteFile(t, files.dir, "ca.pem", serverCA2.CertPEM)
	if err := quick.ConsumeTraces(context.Background(), testTraces(1)); err != nil {
		t.Fatalf("after replacing ca_file: %v", err)
	}
	if rec.count() != n+1 {
		t.Fatalf("requests %d, want %d", rec.count(), n+1)
	}
	t.Log("after replacing ca_file: the server's new certificate is trusted")
}

// TestRotationGRPC: the same over OTLP/gRPC, where the connection is kept:
// a replaced certificate is used from the next connection (here the
// server ends each after 200ms), a replaced token from the next call.
func TestRotationGRPC(t *testing.T) {
	serverCA, clientCA := clientconfigtest.NewCA(t, "server CA"), clientconfigtest.NewCA(t, "client CA")
	var serverCert atomic.Pointer[tls.Certificate]
	c := serverCA.Server(t, "server").TLS(t)
	serverCert.Store(&c)
	addr, rec := startMTLSGRPC(t, mtlsServerConfig(clientCA, &serverCert), 200*time.Millisecond)

	files := writeClientFiles(t, t.TempDir(), serverCA, clientCA.Client(t, "client-1"), "token-1")
	e, _ := startExporter(t, grpcConfig(addr, func(c *Config) {
		c.TLS = files.tls()
		c.Auth = clientconfig.Auth{BearerTokenFile: files.tokenFile}
	}))
	send := func() seen {
		t.Helper()
		if err := e.ConsumeTraces(context.Background(), testTraces(2)); err != nil {
			t.Fatal(err)
		}
		return rec.last(t)
	}
	first := send()
	if first.cert != "client-1" || first.auth != "Bearer token-1" {
		t.Fatalf("initial: %+v", first)
	}

	// The token applies to the next call, on the same connection.
	clientconfigtest.WriteFile(t, files.dir, "token", []byte("token-2\n"))
	if got := send(); got.auth != "Bearer token-2" {
		t.Fatalf("after replacing bearer_token_file: %+v", got)
	}

	client2 := clientCA.Client(t, "client-2")
	clientconfigtest.WriteFile(t, files.dir, "client.pem", client2.CertPEM)
	clientconfigtest.WriteFile(t, files.dir, "client-key.pem", client2.KeyPEM)
	oldConns := map[string]bool{}
	rec.mu.Lock()
	for _, s := range rec.reqs {
		oldConns[s.conn] = true
	}
	rec.mu.Unlock()
	// Calls go on over the connection open at the rotation (with the old
	// certificate) until the server ends it; every call on a newer
	// connection carries the new certificate.
	deadline := time.Now().Add(10 * time.Second)
	var calls int
	for {
		got := send()
		calls++
		if oldConns[got.conn] {
			if got.cert != "client-1" {
				t.Fatalf("connection from before the rotation changed certificate: %+v", got)
			}
		} else {
			if got.cert != "client-2" {
				t.Fatalf("new connection %s used certificate %q, want client-2", got.conn, got.cert)
			}
			t.Logf("after replacing cert_file and key_file: %d call(s) on the old connection, then the new connection %s used %q", calls-1, got.conn, got.cert)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never ended the connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
