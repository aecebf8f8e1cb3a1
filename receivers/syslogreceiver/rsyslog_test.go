package syslogreceiver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig/clientconfigtest"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/internal/testutil"
)

// need skips the test when a file of a Debian package is missing, and
// fails it under CI=true (tools/deps/apt-packages.txt lists them).
func need(t *testing.T, pattern, pkg string) {
	t.Helper()
	if m, _ := filepath.Glob(pattern); len(m) > 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed (Debian package %s)", pattern, pkg)
	}
	t.Skipf("%s not installed (Debian package %s)", pattern, pkg)
}

// TestRsyslogTLS: rsyslogd forwards over TLS (RFC 5425, its gtls
// network stream driver, GnuTLS) with a client certificate to a receiver
// that requires one, checking the receiver's certificate by name; every
// message arrives.
func TestRsyslogTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rsyslogd")
	}
	need(t, "/usr/sbin/rsyslogd", "rsyslog")
	need(t, "/usr/lib/*/rsyslog/lmnsd_gtls.so", "rsyslog-gnutls")
	dir := t.TempDir()
	ca := clientconfigtest.NewCA(t, "site-ca")
	cert, key := tlsFiles(t, dir, ca, "outpost-1")
	clientCA := clientconfigtest.NewCA(t, "senders")
	leaf := clientCA.Client(t, "rsyslog")
	st := startTLS(t, &serverconfig.TLS{CertFile: cert, KeyFile: key,
		ClientCAFile: clientconfigtest.WriteFile(t, dir, "senders.pem", clientCA.CertPEM)})
	_, port, _ := net.SplitHostPort(st.tcp)

	in := testutil.FreeAddr(t)
	_, inPort, _ := net.SplitHostPort(in)
	conf := testutil.WriteFile(t, dir, "rsyslog.conf", testutil.Sprintf(`
global(workDirectory=%[1]q maxMessageSize="64k"
       DefaultNetstreamDriverCAFile=%[2]q DefaultNetstreamDriverCertFile=%[3]q DefaultNetstreamDriverKeyFile=%[4]q)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port=%[5]q ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port=%[6]q protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
         template="RSYSLOG_SyslogProtocol23Format" queue.type="LinkedList" action.resumeRetryCount="-1" action.resumeInterval="1")
}
`, dir, clientconfigtest.WriteFile(t, dir, "ca.pem", ca.CertPEM),
		clientconfigtest.WriteFile(t, dir, "client.pem", leaf.CertPEM), clientconfigtest.WriteFile(t, dir, "client-key.pem", leaf.KeyPEM),
		inPort, port))
	p := testutil.Start(t, "/usr/sbin/rsyslogd", "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var conn net.Conn
	testutil.Eventually(t, 20*time.Second, "rsyslogd's input", func() bool {
		if p.Exited() {
			t.Fatalf("rsyslogd exited:\n%s", p.Output())
		}
		c, err := net.DialTimeout("tcp", in, time.Second)
		if err == nil {
			conn = c
		}
		return err == nil
	})
	defer conn.Close()
	send := func(from, to int) []string {
		t.Helper()
		var want []string
		for i := from; i < to; i++ {
			body := fmt.Sprintf("over tls %d", i)
			if _, err := fmt.Fprintf(conn, "<14>1 2026-03-15T11:00:00Z h app - - - %s\n", body); err != nil {
				t.Fatal(err)
			}
			want = append(want, body)
		}
		return want
	}
	want := send(0, 20)
	waitFor(t, 20*time.Second, "20 messages from rsyslogd", func() bool { return st.accepted(transportTLS) >= 20 })

	got := bodies(st.sink)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || st.accepted(transportTLS) != 20 {
		t.Errorf("bodies %q (accepted %v), want %q", got, st.accepted(transportTLS), want)
	}
}
