package prometheusremotewritereceiver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestPrometheusTLSAndAuth: a real Prometheus (agent mode) remote-writes
// over HTTPS: with mutual TLS and a bearer token read from the file the
// receiver checks too (rotated on disk mid-run: both ends follow it), and
// with basic auth from a password file (rotated likewise). Nothing is
// refused as unauthenticated before the rotation.
func TestPrometheusTLSAndAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a peer binary")
	}
	bin := testutil.Binary(t, "PROMETHEUS_BIN", "prometheus")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE rwsec_up gauge\nrwsec_up 1\n")
	}))
	t.Cleanup(target.Close)

	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	caFile := clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	clientCA := clientconfigtest.NewCA(t, "clients")
	clientCAFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA.CertPEM)
	leaf := clientCA.Client(t, "prometheus")
	clientCert := clientconfigtest.WriteFile(t, dir, "client.pem", leaf.CertPEM)
	clientKey := clientconfigtest.WriteFile(t, dir, "client-key.pem", leaf.KeyPEM)
	token := clientconfigtest.WriteFile(t, dir, "token", []byte("tok-1\n"))
	password := clientconfigtest.WriteFile(t, dir, "password", []byte("pw-1\n"))

	for _, tc := range []struct {
		name   string
		tls    *serverconfig.TLS
		auth   *serverconfig.Auth
		client string // remote_write keys
		rotate string // file rewritten mid-run, read by both ends
	}{
		{
			name:   "mutual TLS and bearer token",
			tls:    &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: clientCAFile},
			auth:   &serverconfig.Auth{BearerTokenFile: token},
			client: testutil.Sprintf("    tls_config: {ca_file: %q, cert_file: %q, key_file: %q}\n    authorization: {credentials_file: %q}\n", caFile, clientCert, clientKey, token),
			rotate: token,
		},
		{
			name:   "TLS and basic auth",
			tls:    &serverconfig.TLS{CertFile: cert, KeyFile: key},
			auth:   &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "prom", PasswordFile: password}},
			client: testutil.Sprintf("    tls_config: {ca_file: %q}\n    basic_auth: {username: prom, password_file: %q}\n", caFile, password),
			rotate: password,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := startReceiver(t, func(c *Config) { c.TLS, c.Auth = tc.tls, tc.auth }, nil)
			url := strings.Replace(tr.url, "http://", "https://", 1)
			pdir := t.TempDir()
			cfg := testutil.Sprintf(`global: {scrape_interval: 200ms, scrape_timeout: 150ms}
scrape_configs:
  - job_name: rwsec
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s
    queue_config: {batch_send_deadline: 100ms, min_backoff: 50ms, max_backoff: 200ms}
%s`, strings.TrimPrefix(target.URL, "http://"), url, tc.client)
			testutil.Start(t, bin, "--agent",
				"--config.file="+testutil.WriteFile(t, pdir, "agent.yml", cfg),
				"--web.listen-address="+testutil.FreeAddr(t),
				"--storage.agent.path="+filepath.Join(pdir, "wal"),
				"--log.level=warn")
			testutil.Eventually(t, 15*time.Second, "samples from Prometheus", func() bool { return tr.accepted() >= 3 })
			if got := tr.bad(reasonUnauthenticated); got != 0 {
				t.Errorf("%v requests refused as unauthenticated", got)
			}
			// A request in flight while the file is replaced may carry the
			// old secret and be refused (Prometheus drops it); later ones
			// carry the new one.
			clientconfigtest.WriteFile(t, dir, filepath.Base(tc.rotate), []byte("rotated-2\n"))
			after := tr.accepted()
			testutil.Eventually(t, 15*time.Second, "samples after the secret's rotation", func() bool { return tr.accepted() >= after+3 })
		})
	}
}
