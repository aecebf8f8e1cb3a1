package sender

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Each hint from the error a real client gets.
func TestErrorHint(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer plain.Close()

	// A TLS client on a plaintext port.
	tlsURL := "https://" + plain.Listener.Addr().String() + "/v1/traces"
	_, tlsErr := http.Post(tlsURL, "application/x-protobuf", nil)
	if tlsErr == nil {
		t.Fatal("TLS to a plaintext server succeeded")
	}

	// The same with crypto/tls itself (what gRPC's transport gets).
	_, dialErr := tls.Dial("tcp", plain.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if dialErr == nil {
		t.Fatal("TLS handshake with a plaintext server succeeded")
	}

	// Connection refused: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	_, refusedErr := http.Post("http://"+closed+"/v1/logs", "application/x-protobuf", nil)
	if refusedErr == nil {
		t.Fatal("a closed port answered")
	}

	cases := []struct {
		name string
		err  error
		want string
	}{
		{"tls on plaintext", NetError("POST "+tlsURL, tlsErr),
			"the endpoint answered in plaintext, not TLS: if it has no TLS, set tls.insecure: true (or give an http:// endpoint); data stays queued"},
		{"tls handshake on plaintext", fmt.Errorf("rpc error: code = Unavailable desc = connection error: %w", dialErr),
			"the endpoint answered in plaintext, not TLS: if it has no TLS, set tls.insecure: true (or give an http:// endpoint); data stays queued"},
		{"signal path twice", fmt.Errorf("POST %s/v1/traces/v1/traces: 404 Not Found", plain.URL),
			"the endpoint already ends in /v1/traces, and the exporter appends the signal's path: give the base URL (such as http://host:4318); data stays queued"},
		{"connection refused", NetError("POST http://"+closed+"/v1/logs", refusedErr),
			"connection refused: nothing listens at the endpoint's host and port; check endpoint and that the server runs; data stays queued"},
		{"other", errors.New("500 Internal Server Error"), ""},
	}
	for _, c := range cases {
		if got := ErrorHint(c.err); got != c.want {
			t.Errorf("%s: ErrorHint(%v) = %q, want %q", c.name, c.err, got, c.want)
		}
	}
	// Blocked without a specific hint: the blocked reason's.
	if got := hintFor(errors.New("x"), BlockedDNS); got != BlockedHint(BlockedDNS) {
		t.Errorf("hintFor blocked = %q", got)
	}
}
