package otlpreceiver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
)

// secClient is how a test client connects: the CA it trusts (nil:
// plaintext), the certificate it presents, the Authorization it sends.
type secClient struct {
	roots         *clientconfigtest.CA
	cert          *clientconfigtest.Leaf
	authorization string
}

func (c secClient) tlsConfig(t testing.TB) *tls.Config {
	t.Helper()
	if c.roots == nil {
		return nil
	}
	cfg := &tls.Config{RootCAs: c.roots.Pool(), MinVersion: tls.VersionTLS12}
	if c.cert != nil {
		cfg.Certificates = []tls.Certificate{c.cert.TLS(t)}
	}
	return cfg
}

// postTraces sends a traces request over OTLP/HTTP on a new connection
// and returns the answer's status and body, and the common name of the
// server certificate.
func postTraces(t testing.TB, addr string, c secClient, header http.Header) (code int, body []byte, serverCN string, err error) {
	t.Helper()
	scheme := "http"
	tr := &http.Transport{DisableKeepAlives: true}
	if cfg := c.tlsConfig(t); cfg != nil {
		scheme, tr.TLSClientConfig = "https", cfg
		tr.ForceAttemptHTTP2 = true
	}
	defer tr.CloseIdleConnections()
	b, merr := ptraceotlp.NewExportRequestFromTraces(makeTraces(4)).MarshalProto()
	if merr != nil {
		t.Fatal(merr)
	}
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, scheme+"://"+addr+"/v1/traces", bytes.NewReader(b))
	req.Header.Set("Content-Type", contentTypeProto)
	for k, v := range header {
		req.Header[k] = v
	}
	if c.authorization != "" {
		req.Header.Set("Authorization", c.authorization)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		serverCN = resp.TLS.PeerCertificates[0].Subject.CommonName
		if resp.ProtoMajor != 2 {
			t.Errorf("HTTPS answered over %s, want HTTP/2 (negotiated by ALPN)", resp.Proto)
		}
	}
	return resp.StatusCode, body, serverCN, nil
}

// exportTraces sends a traces request over OTLP/gRPC on a new connection
// and returns the error and the common name of the server certificate.
func exportTraces(t testing.TB, addr string, c secClient) (serverCN string, err error) {
	t.Helper()
	creds := insecure.NewCredentials()
	if cfg := c.tlsConfig(t); cfg != nil {
		creds = credentials.NewTLS(cfg)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := testContext(t)
	if c.authorization != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", c.authorization)
	}
	var p peer.Peer
	_, err = ptraceotlp.NewGRPCClient(cc).Export(ctx, ptraceotlp.NewExportRequestFromTraces(makeTraces(4)), grpc.Peer(&p))
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
		serverCN = info.State.PeerCertificates[0].Subject.CommonName
	}
	return serverCN, err
}

// tlsFiles writes a server certificate (named cn) and key signed by ca.
func tlsFiles(t testing.TB, dir string, ca *clientconfigtest.CA, cn string) (certFile, keyFile string) {
	t.Helper()
	leaf := ca.Server(t, cn)
	return clientconfigtest.WriteFile(t, dir, "server.pem", leaf.CertPEM), clientconfigtest.WriteFile(t, dir, "server-key.pem", leaf.KeyPEM)
}

// secureReceiver starts a receiver serving traces on both protocols with
// the same blocks on each.
func secureReceiver(t testing.TB, s *sink, tlsBlock *serverconfig.TLS, auth *serverconfig.Auth, cors *serverconfig.CORS) *testReceiver {
	t.Helper()
	cfg := bothProtocols()
	cfg.Protocols.GRPC.TLS, cfg.Protocols.GRPC.Auth = tlsBlock, auth
	cfg.Protocols.HTTP.TLS, cfg.Protocols.HTTP.Auth, cfg.Protocols.HTTP.CORS = tlsBlock, auth, cors
	return startReceiver(t, cfg, s.consumers(t, pipeline.SignalTraces))
}

// TestTLSCertificateRotation: both protocols serve TLS, and a certificate
// rewritten on disk is served to new connections without a restart.
// Plaintext clients are refused.
func TestTLSCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost-1")
	s := newSink()
	r := secureReceiver(t, s, &serverconfig.TLS{CertFile: cert, KeyFile: key}, nil, nil)
	client := secClient{roots: ca}

	check := func(wantCN string) {
		t.Helper()
		code, body, cn, err := postTraces(t, r.httpAddr, client, nil)
		if err != nil || code != http.StatusOK || cn != wantCN {
			t.Errorf("http: %d %q, server %q, %v; want 200 from %q", code, body, cn, err, wantCN)
		}
		cn, err = exportTraces(t, r.grpcAddr, client)
		if err != nil || cn != wantCN {
			t.Errorf("grpc: server %q, %v; want OK from %q", cn, err, wantCN)
		}
	}
	check("outpost-1")
	tlsFiles(t, dir, ca, "outpost-2")
	check("outpost-2")
	if got := s.got(pipeline.SignalTraces); got != 4*4 {
		t.Errorf("sink has %d spans, want 16", got)
	}

	if code, _, _, err := postTraces(t, r.httpAddr, secClient{}, nil); err == nil && code == http.StatusOK {
		t.Error("http: a plaintext request was served")
	}
	if _, err := exportTraces(t, r.grpcAddr, secClient{}); err == nil {
		t.Error("grpc: a plaintext call was served")
	}
	if _, err := exportTraces(t, r.grpcAddr, secClient{roots: clientconfigtest.NewCA(t, "other")}); err == nil {
		t.Error("grpc: a client that does not trust the server's CA got through")
	}
}

// TestMutualTLS: with client_ca_file, a client needs a certificate from
// one of its CAs; a rewritten CA file decides from the next connection.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	clientCA1, clientCA2 := clientconfigtest.NewCA(t, "clients-1"), clientconfigtest.NewCA(t, "clients-2")
	caFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA1.CertPEM)
	s := newSink()
	r := secureReceiver(t, s, &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: caFile, MinVersion: "1.3"}, nil, nil)

	leaf1, leaf2 := clientCA1.Client(t, "app-1"), clientCA2.Client(t, "app-2")
	f := func(name string, c secClient, wantOK bool) {
		t.Run(name, func(t *testing.T) {
			code, body, _, err := postTraces(t, r.httpAddr, c, nil)
			if ok := err == nil && code == http.StatusOK; ok != wantOK {
				t.Errorf("http: %d %q %v, want success %v", code, body, err, wantOK)
			}
			_, err = exportTraces(t, r.grpcAddr, c)
			if ok := err == nil; ok != wantOK {
				t.Errorf("grpc: %v, want success %v", err, wantOK)
			}
		})
	}
	f("no client certificate", secClient{roots: ca}, false)
	f("certificate of the client CA", secClient{roots: ca, cert: &leaf1}, true)
	f("certificate of another CA", secClient{roots: ca, cert: &leaf2}, false)
	clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA2.CertPEM)
	f("rotated CA: the old CA's certificate", secClient{roots: ca, cert: &leaf1}, false)
	f("rotated CA: the new CA's certificate", secClient{roots: ca, cert: &leaf2}, true)
	if got := s.got(pipeline.SignalTraces); got != 2*2*4 {
		t.Errorf("sink has %d spans, want 16", got)
	}
}

// TestAuth: bearer token and basic auth on both protocols: a request
// without valid credentials is answered 401 / UNAUTHENTICATED, counted as
// a bad request with reason unauthenticated, and never reaches the
// pipeline; a rewritten secret file applies from the next request.
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string { return clientconfigtest.WriteFile(t, dir, name, []byte(s+"\n")) }
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	for _, tc := range []struct {
		name      string
		auth      *serverconfig.Auth
		rotate    func()
		good, bad []string // Authorization values before rotation
		rotated   []string // good after rotation, and the old good is bad
	}{
		{
			name:    "bearer",
			auth:    &serverconfig.Auth{BearerTokenFile: write("token", "tok-1")},
			rotate:  func() { write("token", "tok-2") },
			good:    []string{"Bearer tok-1", "bearer tok-1"},
			bad:     []string{"", "Bearer tok-2", "Bearer tok-1x", "Basic dG9rLTE=", "tok-1"},
			rotated: []string{"Bearer tok-2"},
		},
		{
			name:    "basic with password_file",
			auth:    &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "edge", PasswordFile: write("password", "pw-1")}},
			rotate:  func() { write("password", "pw-2") },
			good:    []string{basic("edge", "pw-1")},
			bad:     []string{"", basic("edge", "pw-2"), basic("other", "pw-1"), "Bearer pw-1", "Basic !!!"},
			rotated: []string{basic("edge", "pw-2")},
		},
		{
			name: "basic inline",
			auth: &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "edge", Password: "inline-pw"}},
			good: []string{basic("edge", "inline-pw")},
			bad:  []string{basic("edge", "inline-p"), basic("edge", "inline-pw:")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink()
			r := secureReceiver(t, s, nil, tc.auth, nil)
			spans := 0
			try := func(authz string, wantOK bool) {
				t.Helper()
				c := secClient{authorization: authz}
				badHTTP := r.badRequests(pipeline.SignalTraces, transportHTTP, reasonUnauthenticated)
				badGRPC := r.badRequests(pipeline.SignalTraces, transportGRPC, reasonUnauthenticated)
				code, body, _, err := postTraces(t, r.httpAddr, c, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, gerr := exportTraces(t, r.grpcAddr, c)
				if wantOK {
					spans += 2 * 4
					if code != http.StatusOK || gerr != nil {
						t.Errorf("%q: http %d %q, grpc %v; want both accepted", authz, code, body, gerr)
					}
					return
				}
				var st status.Status
				if code != http.StatusUnauthorized || proto.Unmarshal(body, &st) != nil ||
					codes.Code(st.GetCode()) != codes.Unauthenticated || st.GetMessage() != "missing or invalid credentials" {
					t.Errorf("%q: http %d %q, want 401 with status UNAUTHENTICATED", authz, code, body)
				}
				if got := grpcstatus.Code(gerr); got != codes.Unauthenticated {
					t.Errorf("%q: grpc %v, want UNAUTHENTICATED", authz, gerr)
				}
				if d := r.badRequests(pipeline.SignalTraces, transportHTTP, reasonUnauthenticated) - badHTTP; d != 1 {
					t.Errorf("%q: http bad_requests{unauthenticated} +%v, want +1", authz, d)
				}
				if d := r.badRequests(pipeline.SignalTraces, transportGRPC, reasonUnauthenticated) - badGRPC; d != 1 {
					t.Errorf("%q: grpc bad_requests{unauthenticated} +%v, want +1", authz, d)
				}
			}
			for _, a := range tc.good {
				try(a, true)
			}
			for _, a := range tc.bad {
				try(a, false)
			}
			if tc.rotate != nil {
				tc.rotate()
				for _, a := range tc.good {
					try(a, false)
				}
				for _, a := range tc.rotated {
					try(a, true)
				}
			}
			if got := s.got(pipeline.SignalTraces); got != spans {
				t.Errorf("sink has %d spans, want %d", got, spans)
			}
		})
	}
}

// TestAuthWWWAuthenticate: a 401 names the scheme the receiver expects.
func TestAuthWWWAuthenticate(t *testing.T) {
	tok := clientconfigtest.WriteFile(t, t.TempDir(), "token", []byte("tok"))
	r := secureReceiver(t, newSink(), nil, &serverconfig.Auth{BearerTokenFile: tok}, nil)
	req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, "http://"+r.httpAddr+"/v1/traces", strings.NewReader("{}"))
	req.Header.Set("Content-Type", contentTypeJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="outpost"` ||
		!strings.Contains(string(body), `"missing or invalid credentials"`) {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
}

// TestCORS: a preflight from an allowed origin is answered 204 with the
// allowed method, headers and max age, without credentials; an origin not
// allowed gets no CORS headers; an actual request, accepted or refused,
// carries Access-Control-Allow-Origin so the page can read the answer.
func TestCORS(t *testing.T) {
	tok := clientconfigtest.WriteFile(t, t.TempDir(), "token", []byte("tok"))
	s := newSink()
	r := secureReceiver(t, s, nil, &serverconfig.Auth{BearerTokenFile: tok}, &serverconfig.CORS{
		AllowedOrigins: []string{"https://app.example.com", "https://*.shop.example"},
		AllowedHeaders: []string{"X-Tenant"},
		MaxAge:         600,
	})
	preflight := func(origin, headers string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodOptions, "http://"+r.httpAddr+"/v1/traces", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", headers)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, origin := range []string{"https://app.example.com", "https://store-7.shop.example"} {
		// Browsers send the names in lower case, sorted.
		resp := preflight(origin, "authorization,content-type,x-tenant")
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
			h.Get("Access-Control-Allow-Methods") != http.MethodPost || h.Get("Access-Control-Max-Age") != "600" ||
			h.Get("Access-Control-Allow-Headers") != "authorization,content-type,x-tenant" {
			t.Errorf("preflight from %s: %d %v", origin, resp.StatusCode, h)
		}
	}
	for _, tc := range []struct{ origin, headers string }{
		{"https://evil.example", "content-type"},
		{"http://app.example.com", "content-type"},
		{"https://app.example.com", "x-not-allowed"},
	} {
		resp := preflight(tc.origin, tc.headers)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("preflight from %s with %s: allowed (%q)", tc.origin, tc.headers, got)
		}
	}
	if got := r.badRequests(pipeline.SignalTraces, transportHTTP, reasonUnauthenticated); got != 0 {
		t.Errorf("preflights counted as unauthenticated: %v", got)
	}

	origin := http.Header{"Origin": {"https://app.example.com"}}
	for _, tc := range []struct {
		authz string
		code  int
	}{{"Bearer tok", http.StatusOK}, {"", http.StatusUnauthorized}} {
		tr := &http.Transport{}
		b, _ := ptraceotlp.NewExportRequestFromTraces(makeTraces(2)).MarshalProto()
		req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, "http://"+r.httpAddr+"/v1/traces", bytes.NewReader(b))
		req.Header = origin.Clone()
		req.Header.Set("Content-Type", contentTypeProto)
		if tc.authz != "" {
			req.Header.Set("Authorization", tc.authz)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != tc.code || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			resp.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
			t.Errorf("POST with %q: %d %v, want %d with CORS headers", tc.authz, resp.StatusCode, resp.Header, tc.code)
		}
	}
	if got := s.got(pipeline.SignalTraces); got != 2 {
		t.Errorf("sink has %d spans, want 2", got)
	}
}

// fullDiskFS is the OS's file system, on which every write fails as on
// a full disk once full is set: with the file's path in the error, as
// the OS reports it.
type fullDiskFS struct {
	queue.OSFS
	mu   sync.Mutex
	full bool
}

func (f *fullDiskFS) OpenFile(name string, flag int, perm fs.FileMode) (queue.File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fullDiskFile{File: file, name: name, fs: f}, nil
}

type fullDiskFile struct {
	queue.File
	name string
	fs   *fullDiskFS
}

func (f *fullDiskFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	full := f.fs.full
	f.fs.mu.Unlock()
	if full {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
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

// TestErrorAnswersRevealNoPaths: a disk queue that cannot write (a full
// disk) and a queue full under `block` fail the request; the client is
// told to retry, in words that name no path, exporter or queue, while the
// log keeps the whole error.
func TestErrorAnswersRevealNoPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queues", "otlp_central")
	fsys := &fullDiskFS{}
	q, err := queue.Open(queue.Options{Dir: dir, FS: fsys, Limits: queue.Limits{MaxBytes: 1 << 20}, Exporter: "otlp/central"})
	if err != nil {
		t.Fatal(err)
	}
	disk := q
	t.Cleanup(func() { _ = disk.Close() })
	// The consumer appends as an exporter's sender does
	// (pipeline/sender/output.go), and wraps its errors the same way.
	var lastErr error
	var mu sync.Mutex
	next, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			return err
		}
		mu.Lock()
		q := q
		mu.Unlock()
		err = q.Append(queue.Record{Lane: queue.LaneNormal, Items: td.SpanCount(), Signal: "traces", Body: body})
		switch {
		case errors.Is(err, queue.ErrFull):
			err = pipeline.NewThrottle(fmt.Errorf("queue of exporter otlp/central is full: %w", err), 0)
		case err != nil:
			err = fmt.Errorf("exporter otlp/central: queue: %w", err)
		}
		mu.Lock()
		lastErr = err
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuf
	tr := startReceiverSettings(t, bothProtocols(), pipeline.Consumers{Traces: next},
		pipeline.Settings{Logger: slog.New(slog.NewTextHandler(&log, nil))})

	if code, body, _, err := postTraces(t, tr.httpAddr, secClient{}, nil); err != nil || code != http.StatusOK {
		t.Fatalf("before the disk fills: %d %q %v", code, body, err)
	}
	fsys.mu.Lock()
	fsys.full = true
	fsys.mu.Unlock()

	secret := []string{dir, filepath.Base(dir), "otlp/central", "no space", "segment", "queue"}
	check := func(what string, wantHTTP int, wantGRPC codes.Code, wantInErr string) {
		t.Helper()
		code, body, _, err := postTraces(t, tr.httpAddr, secClient{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var st status.Status
		if code != wantHTTP || proto.Unmarshal(body, &st) != nil {
			t.Errorf("%s: http %d %q, want %d with a status", what, code, body, wantHTTP)
		}
		_, gerr := exportTraces(t, tr.grpcAddr, secClient{})
		if grpcstatus.Code(gerr) != wantGRPC {
			t.Errorf("%s: grpc %v, want %v", what, gerr, wantGRPC)
		}
		mu.Lock()
		perr := lastErr
		mu.Unlock()
		if perr == nil || !strings.Contains(perr.Error(), wantInErr) {
			t.Fatalf("%s: the pipeline's error %v lacks %q: the test does not test", what, perr, wantInErr)
		}
		for _, msg := range []string{st.GetMessage(), grpcstatus.Convert(gerr).Message()} {
			for _, s := range secret {
				if strings.Contains(msg, s) {
					t.Errorf("%s: the client was told %q, which reveals %q", what, msg, s)
				}
			}
		}
		if !strings.Contains(log.String(), wantInErr) {
			t.Errorf("%s: the log lacks the error's detail %q:\n%s", what, wantInErr, log.String())
		}
	}
	check("disk full", http.StatusServiceUnavailable, codes.Unavailable, dir)

	fsys.mu.Lock()
	fsys.full = false
	fsys.mu.Unlock()
	small, err := queue.Open(queue.Options{Kind: queue.KindMemory, Limits: queue.Limits{MaxBytes: 64 << 10}, Exporter: "otlp/central"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = small.Close() })
	for err == nil {
		err = small.Append(queue.Record{Lane: queue.LaneNormal, Items: 1, Signal: "traces", Body: make([]byte, 1000)})
	}
	if !errors.Is(err, queue.ErrFull) {
		t.Fatalf("filling the memory queue: %v", err)
	}
	mu.Lock()
	q = small
	mu.Unlock()
	check("queue full", http.StatusTooManyRequests, codes.ResourceExhausted, "queue full")
}

// loopbackHost opens every listener on 127.0.0.1, whatever address it is
// asked for, so that a test can configure an exposed endpoint without
// listening beyond this host.
type loopbackHost struct{ testHost }

func (h *loopbackHost) Listen(network, _ string) (net.Listener, error) {
	return h.testHost.Listen(network, "127.0.0.1:0")
}

// TestExposureWarning: Start warns for each protocol whose endpoint is
// beyond loopback and lacks TLS or auth, and for no other.
func TestExposureWarning(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlsFiles(t, dir, clientconfigtest.NewCA(t, "ca"), "outpost")
	tok := clientconfigtest.WriteFile(t, dir, "token", []byte("tok"))
	for _, tc := range []struct {
		name       string
		grpc, http string
		secure     bool // tls and auth on grpc
		want       []string
	}{
		{"loopback", "127.0.0.1:4317", "localhost:4318", false, nil},
		{"all interfaces", ":4317", "0.0.0.0:4318", false, []string{
			`level=WARN msg="receiver listens beyond this host without TLS (tls) or authentication (auth)" protocol=grpc endpoint=:4317`,
			`level=WARN msg="receiver listens beyond this host without TLS (tls) or authentication (auth)" protocol=http endpoint=0.0.0.0:4318`,
		}},
		{"grpc secured", "[::]:4317", "[::]:4318", true, []string{
			`level=WARN msg="receiver listens beyond this host without TLS (tls) or authentication (auth)" protocol=http endpoint=[::]:4318`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bothProtocols()
			cfg.Protocols.GRPC.Endpoint, cfg.Protocols.HTTP.Endpoint = tc.grpc, tc.http
			if tc.secure {
				cfg.Protocols.GRPC.TLS = &serverconfig.TLS{CertFile: cert, KeyFile: key}
				cfg.Protocols.GRPC.Auth = &serverconfig.Auth{BearerTokenFile: tok}
			}
			var log syncBuf
			comp, err := NewFactory().Create(context.Background(), pipeline.Settings{
				ID: pipeline.MustID("otlp"), Logger: slog.New(slog.NewTextHandler(&log, nil)),
			}, cfg, newSink().consumers(t, pipeline.SignalTraces))
			if err != nil {
				t.Fatal(err)
			}
			if err := comp.Start(context.Background(), &loopbackHost{}); err != nil {
				t.Fatal(err)
			}
			if err := comp.Shutdown(testContext(t)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.Split(log.String(), "\n") {
				if strings.Contains(line, "beyond this host") {
					got = append(got, line[strings.Index(line, "level="):])
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCreateRefusesMissingFiles: a missing certificate or token file
// fails the receiver's creation (so a reload keeps the old graph), with
// the key path.
func TestCreateRefusesMissingFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cfg := bothProtocols()
	cfg.Protocols.HTTP.TLS = &serverconfig.TLS{CertFile: missing, KeyFile: missing}
	_, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("otlp")}, cfg, newSink().consumers(t, pipeline.SignalTraces))
	if want := "otlp receiver otlp: protocols.http.tls.cert_file, key_file: stat " + missing; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%v, want %q", err, want)
	}
	cfg = bothProtocols()
	cfg.Protocols.GRPC.Auth = &serverconfig.Auth{BearerTokenFile: missing}
	_, err = NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("otlp")}, cfg, newSink().consumers(t, pipeline.SignalTraces))
	if want := "otlp receiver otlp: protocols.grpc.auth.bearer_token_file: stat " + missing; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%v, want %q", err, want)
	}
}

// TestTelemetrygenTLSAndToken: the OpenTelemetry Go SDK's exporters (in
// telemetrygen) send over TLS with a CA file, and over mutual TLS, with a
// bearer token header, on both protocols.
func TestTelemetrygenTLSAndToken(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a peer binary")
	}
	bin := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	caFile := clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	clientCA := clientconfigtest.NewCA(t, "clients")
	clientCAFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA.CertPEM)
	leaf := clientCA.Client(t, "app")
	clientCert := clientconfigtest.WriteFile(t, dir, "client.pem", leaf.CertPEM)
	clientKey := clientconfigtest.WriteFile(t, dir, "client-key.pem", leaf.KeyPEM)
	tok := clientconfigtest.WriteFile(t, dir, "token", []byte("s3cret-token\n"))

	for _, mtls := range []bool{false, true} {
		tb := &serverconfig.TLS{CertFile: cert, KeyFile: key}
		if mtls {
			tb.ClientCAFile = clientCAFile
		}
		s := newSink()
		r := secureReceiver(t, s, tb, &serverconfig.Auth{BearerTokenFile: tok}, nil)
		for _, transport := range []string{transportGRPC, transportHTTP} {
			args := []string{"traces", "--ca-cert", caFile, "--rate", "0", "--traces", "5",
				"--otlp-header", `Authorization="Bearer s3cret-token"`}
			if mtls {
				args = append(args, "--mtls", "--client-cert", clientCert, "--client-key", clientKey)
			}
			if transport == transportHTTP {
				args = append(args, "--otlp-endpoint", r.httpAddr, "--otlp-http")
			} else {
				args = append(args, "--otlp-endpoint", r.grpcAddr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("telemetrygen %v: %v\n%s", args, err, out)
			}
			if got := r.accepted(pipeline.SignalTraces, transport); got != 10 {
				t.Errorf("mtls %v, %s: accepted %v spans, want 10\n%s", mtls, transport, got, out)
			}
		}
	}
}
