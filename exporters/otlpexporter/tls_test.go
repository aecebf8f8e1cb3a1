package otlpexporter

import (
	"crypto/tls"
	"path/filepath"
	"testing"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// testServerTLS writes a self-signed certificate and returns its file (to
// use as a CA), its key file, and a server config serving it.
func testServerTLS(t *testing.T) (certFile, keyFile string, cfg *tls.Config) {
	t.Helper()
	certFile, keyFile, err := otlpsink.WriteTestCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func testTLSMissingCA() clientconfig.TLS {
	return clientconfig.TLS{CAFile: filepath.Join("testdata", "no-such-ca.pem")}
}
