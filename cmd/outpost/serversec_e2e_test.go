package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// runTelemetrygen runs telemetrygen with exactly args (no --otlp-insecure)
// and returns its output and error.
func runTelemetrygen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testutil.Binary(t, "TELEMETRYGEN_BIN", "telemetrygen")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--rate", "0", "--workers", "1")...).CombinedOutput()
	return string(out), err
}

// TestSecuredGatewayBinary (issue 15, acceptance 2, through the binary):
// an edge outpost exports over mutual TLS with a bearer token to a gateway
// outpost whose OTLP receiver requires both, and the token file is the
// same file at both ends. telemetrygen sends to the gateway directly over
// HTTPS with a client certificate and the token; a wrong token is refused
// and counted; the gateway's certificate, rewritten on disk, is served to
// the next connection without a restart.
func TestSecuredGatewayBinary(t *testing.T) {
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 12})
	gw, edge := newOutpost(t), newOutpost(t)
	dir := filepath.Dir(gw.config)
	ca, clients := clientconfigtest.NewCA(t, "site-ca"), clientconfigtest.NewCA(t, "site-clients")
	writeServer := func(cn string) {
		leaf := ca.Server(t, cn)
		clientconfigtest.WriteFile(t, dir, "gw.pem", leaf.CertPEM)
		clientconfigtest.WriteFile(t, dir, "gw-key.pem", leaf.KeyPEM)
	}
	writeServer("gateway-1")
	caFile := clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	clientCAFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clients.CertPEM)
	leaf := clients.Client(t, "edge-1")
	clientCert := clientconfigtest.WriteFile(t, dir, "edge.pem", leaf.CertPEM)
	clientKey := clientconfigtest.WriteFile(t, dir, "edge-key.pem", leaf.KeyPEM)
	token := clientconfigtest.WriteFile(t, dir, "token", []byte("site-token-1\n"))

	security := testutil.Sprintf(`
        tls: {cert_file: %s, key_file: %s, client_ca_file: %s}
        auth: {bearer_token_file: %s}`, filepath.Join(dir, "gw.pem"), filepath.Join(dir, "gw-key.pem"), clientCAFile, token)
	gw.start(t, testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s%s
      http:
        endpoint: %s%s
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp]}
`, filepath.Join(dir, "gw-data"), gw.telemetry, gw.grpc, security, gw.http, security, sink.GRPCAddr()))
	edge.start(t, edge.otlpIn()+testutil.Sprintf(`
exporters:
  otlp:
    endpoint: %s
    tls: {ca_file: %s, cert_file: %s, key_file: %s}
    auth: {bearer_token_file: %s}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp]}
`, gw.grpc, caFile, clientCert, clientKey, token))

	// Through the edge: telemetrygen sends two spans per trace.
	telemetrygen(t, "traces", "--otlp-endpoint", edge.grpc, "--traces", "50")
	testutil.Eventually(t, 15*time.Second, "100 spans through the secured gateway", func() bool { return sink.Spans() == 100 })

	direct := func(endpoint, tok string, extra ...string) (string, error) {
		args := append([]string{"traces", "--otlp-endpoint", endpoint, "--traces", "5",
			"--ca-cert", caFile, "--mtls", "--client-cert", clientCert, "--client-key", clientKey,
			"--otlp-header", `Authorization="Bearer ` + tok + `"`}, extra...)
		return runTelemetrygen(t, args...)
	}
	if out, err := direct(gw.http, "site-token-1", "--otlp-http"); err != nil {
		t.Fatalf("telemetrygen over HTTPS: %v\n%s", err, out)
	}
	testutil.Eventually(t, 15*time.Second, "10 more spans over HTTPS", func() bool { return sink.Spans() == 110 })

	// A wrong token: refused before the pipeline, counted.
	out, _ := direct(gw.grpc, "not-the-token")
	testutil.Eventually(t, 10*time.Second, "the refused call counted", func() bool {
		return testutil.Scrape(t, gw.telemetry).Sum("outpost_receiver_bad_requests_total",
			map[string]string{"transport": "grpc", "signal": "traces", "reason": "unauthenticated"}) >= 1
	})
	if sink.Spans() != 110 {
		t.Errorf("spans with a wrong token arrived: %d\n%s", sink.Spans(), out)
	}

	// Rotation of the gateway's certificate: the next connection gets it.
	writeServer("gateway-2")
	if out, err := runTelemetrygen(t, "traces", "--otlp-endpoint", gw.grpc, "--traces", "5",
		"--ca-cert", caFile, "--mtls", "--client-cert", clientCert, "--client-key", clientKey,
		"--otlp-header", `Authorization="Bearer site-token-1"`); err != nil {
		t.Fatalf("telemetrygen after rotation: %v\n%s", err, out)
	}
	testutil.Eventually(t, 15*time.Second, "10 more spans after the rotation", func() bool { return sink.Spans() == 120 })
	if !regexp.MustCompile(`msg="server credentials reloaded" .*files="cert_file, key_file"`).MatchString(gw.proc.Output()) {
		t.Errorf("the gateway did not log the reload:\n%s", gw.proc.Output())
	}
	if strings.Contains(gw.proc.Output(), "beyond this host") || strings.Contains(edge.proc.Output(), "beyond this host") {
		t.Errorf("exposure warning on 127.0.0.1")
	}
}
