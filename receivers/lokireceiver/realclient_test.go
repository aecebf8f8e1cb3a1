package lokireceiver

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestLokiClientTLSAndAuth: loki-client-go (bin/lokipush, the client
// Promtail's grew from) pushes over HTTPS with mutual TLS and a bearer
// token file, and with basic auth from a password file; every line is
// taken. With a wrong token its batches are answered 401, counted as
// unauthenticated, and the client drops them (it does not retry a 401).
func TestLokiClientTLSAndAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a peer binary")
	}
	bin := testutil.Binary(t, "LOKIPUSH_BIN", "lokipush")
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost")
	caFile := clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	clientCA := clientconfigtest.NewCA(t, "clients")
	clientCAFile := clientconfigtest.WriteFile(t, dir, "clients.pem", clientCA.CertPEM)
	leaf := clientCA.Client(t, "promtail")
	clientCert := clientconfigtest.WriteFile(t, dir, "client.pem", leaf.CertPEM)
	clientKey := clientconfigtest.WriteFile(t, dir, "client-key.pem", leaf.KeyPEM)
	token := clientconfigtest.WriteFile(t, dir, "token", []byte("tok-1\n"))
	wrongToken := clientconfigtest.WriteFile(t, dir, "wrong-token", []byte("tok-0\n"))
	password := clientconfigtest.WriteFile(t, dir, "password", []byte("pw-1\n"))

	const lines = 40
	for _, tc := range []struct {
		name   string
		tls    *serverconfig.TLS
		auth   *serverconfig.Auth
		args   []string
		wantOK bool
	}{
		{
			name:   "mutual TLS and bearer token",
			tls:    &serverconfig.TLS{CertFile: cert, KeyFile: key, ClientCAFile: clientCAFile},
			auth:   &serverconfig.Auth{BearerTokenFile: token},
			args:   []string{"-ca-file", caFile, "-cert-file", clientCert, "-key-file", clientKey, "-bearer-token-file", token},
			wantOK: true,
		},
		{
			name:   "TLS and basic auth",
			tls:    &serverconfig.TLS{CertFile: cert, KeyFile: key},
			auth:   &serverconfig.Auth{Basic: clientconfig.BasicAuth{Username: "promtail", PasswordFile: password}},
			args:   []string{"-ca-file", caFile, "-basic-user", "promtail", "-basic-password-file", password},
			wantOK: true,
		},
		{
			name: "wrong token",
			tls:  &serverconfig.TLS{CertFile: cert, KeyFile: key},
			auth: &serverconfig.Auth{BearerTokenFile: token},
			args: []string{"-ca-file", caFile, "-bearer-token-file", wrongToken},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startReceiver(t, secureConfig(tc.tls, tc.auth), nil)
			url := strings.Replace(r.url, "http://", "https://", 1) + PushPath
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"-url", url, "-lines", strconv.Itoa(lines), "-streams", "2", "-batch-wait", "50ms"}, tc.args...)
			out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
			accepted := promtest.ToFloat64(r.tel.ReceiverAccepted.WithLabelValues("loki/test", "logs", "http"))
			if tc.wantOK {
				if err != nil || !strings.Contains(string(out), fmt.Sprintf("sent %d dropped 0", lines)) {
					t.Fatalf("lokipush: %v\n%s", err, out)
				}
				if accepted != lines || r.entries() != lines || r.badN(reasonUnauthenticated) != 0 {
					t.Errorf("accepted %v, unauthenticated %v; want %d and 0", accepted, r.badN(reasonUnauthenticated), lines)
				}
				return
			}
			if err == nil || !strings.Contains(string(out), fmt.Sprintf("dropped %d", lines)) {
				t.Errorf("lokipush with a wrong token: %v\n%s", err, out)
			}
			if accepted != 0 || r.badN(reasonUnauthenticated) < 1 {
				t.Errorf("accepted %v, unauthenticated %v; want 0 and at least 1", accepted, r.badN(reasonUnauthenticated))
			}
		})
	}
}
