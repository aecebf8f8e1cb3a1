package main

// End-to-end tests of the syslog receiver with real clients: util-linux
// logger (RFC 5424 and RFC 3164, TCP with octet counting and with newline
// framing, UDP) and rsyslogd forwarding with omfwd (TCP octet-counted,
// UDP), through outpost to the real Loki; and TCP back-pressure from a
// full disk queue under `block`.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// syslogIn is outpost's start of config with a syslog receiver (TCP and
// UDP on one free port number, format detected per message).
func syslogIn(o *outpost, port string) string {
	return o.otlpIn() + testutil.Sprintf(`  syslog:
    protocol: auto
    tcp: {listen_address: "127.0.0.1:%s"}
    udp: {listen_address: "127.0.0.1:%s"}
    batch: {send_batch_size: 256, timeout: 50ms}
`, port, port)
}

// freeUDPPort returns a port that is free for TCP and for UDP on 127.0.0.1.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		addr := testutil.FreeAddr(t)
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		_ = c.Close()
		return addr[strings.LastIndexByte(addr, ':')+1:]
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

// runLogger runs util-linux logger with args, feeding it lines (one
// message each) on a file.
func runLogger(t *testing.T, lines []string, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("logger")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("logger (util-linux, bsdutils) not installed")
		}
		t.Skip("logger not installed")
	}
	file := testutil.WriteFile(t, t.TempDir(), "lines.txt", strings.Join(lines, "\n")+"\n")
	cmd := exec.Command(bin, append(args, "-f", file)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("logger %v: %v\n%s", args, err, out)
	}
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s line %04d", prefix, i)
	}
	return out
}

// udpDrops returns the kernel's drop count of the 127.0.0.1:port/udp
// socket (the last column of /proc/net/udp), -1 when not found.
func udpDrops(port string) int {
	p, _ := strconv.Atoi(port)
	want := fmt.Sprintf("0100007F:%04X", p)
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 12 && strings.EqualFold(f[1], want) {
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return -1
}

// startRsyslog runs rsyslogd in the foreground with its own config, pid
// file and work directory: messages it gets on its imtcp port are
// forwarded to outpost over TCP with octet counting (RFC 5424 template),
// those on its second imtcp port over UDP (RFC 3164 template). (Its inputs
// are TCP so that the hop under test, rsyslogd to outpost, is the only one
// that could lose a datagram.) It returns the two input ports.
func startRsyslog(t *testing.T, outpostPort string) (tcpPort, udpPort string) {
	t.Helper()
	bin := "/usr/sbin/rsyslogd"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("rsyslogd not installed (Debian package rsyslog)")
		}
		t.Skip("rsyslogd not installed")
	}
	dir := t.TempDir()
	tcpAddr := testutil.FreeAddr(t)
	tcpPort = tcpAddr[strings.LastIndexByte(tcpAddr, ':')+1:]
	udpAddr := testutil.FreeAddr(t)
	udpPort = udpAddr[strings.LastIndexByte(udpAddr, ':')+1:]
	conf := testutil.WriteFile(t, dir, "rsyslog.conf", testutil.Sprintf(`
global(workDirectory="%[1]s" maxMessageSize="64k")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="%[2]s" ruleset="fwd_tcp")
input(type="imtcp" address="127.0.0.1" port="%[3]s" ruleset="fwd_udp")
ruleset(name="fwd_tcp") {
  action(type="omfwd" target="127.0.0.1" port="%[4]s" protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format" queue.type="LinkedList" action.resumeRetryCount="-1")
}
ruleset(name="fwd_udp") {
  action(type="omfwd" target="127.0.0.1" port="%[4]s" protocol="udp" template="RSYSLOG_TraditionalForwardFormat")
}
`, dir, tcpPort, udpPort, outpostPort))
	p := testutil.Start(t, bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	testutil.Eventually(t, 20*time.Second, "rsyslogd inputs", func() bool {
		if p.Exited() {
			t.Fatalf("rsyslogd exited:\n%s", p.Output())
		}
		for _, addr := range []string{tcpAddr, udpAddr} {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return false
			}
			_ = c.Close()
		}
		return true
	})
	return tcpPort, udpPort
}

func TestSyslogToLoki(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	t.Setenv("TZ", "UTC") // RFC 3164 senders stamp local time; outpost reads it as location (UTC)
	began := time.Now()
	loki := startLoki(t)
	o := newOutpost(t)
	port := freeUDPPort(t)
	o.start(t, syslogIn(o, port)+testutil.Sprintf(`
node: {name: e2e-node, site: lab}
exporters:
  loki:
    endpoint: http://%s/loki/api/v1/push
    tenant: %s
    labels:
      - {label: appname, attribute: appname}
      - {label: node, resource: node.name}
      - {label: level, severity: true}
    retry_on_failure: {initial_interval: 50ms, max_interval: 500ms}
service:
  pipelines:
    logs: {receivers: [syslog], exporters: [loki]}
`, loki, lokiTenant))

	const n = 300
	srv := []string{"--server", "127.0.0.1", "--port", port}
	runLogger(t, numbered("tcp5424", n), append(srv, "--tcp", "--octet-count", "--rfc5424", "-t", "e2e-logger-tcp5424",
		"-p", "local3.warning", "--msgid", "M42", "--sd-id", "outpost@32473", "--sd-param", `plant="p7"`)...)
	runLogger(t, numbered("tcp3164", n), append(srv, "--tcp", "--rfc3164", "-t", "e2e-logger-tcp3164", "-p", "user.err")...)
	runLogger(t, numbered("udp5424", n), append(srv, "--udp", "--rfc5424", "-t", "e2e-logger-udp5424")...)
	runLogger(t, numbered("udp3164", n), append(srv, "--udp", "--rfc3164", "-t", "e2e-logger-udp3164")...)

	rsTCP, rsUDP := startRsyslog(t, port)
	runLogger(t, numbered("rsyslog-tcp", n), "--server", "127.0.0.1", "--port", rsTCP, "--tcp", "--octet-count", "--rfc5424", "-t", "e2e-rsyslog-tcp")
	runLogger(t, numbered("rsyslog-udp", n), "--server", "127.0.0.1", "--port", rsUDP, "--tcp", "--rfc3164", "-t", "e2e-rsyslog-udp")

	from, to := began.Add(-time.Hour), time.Now().Add(time.Hour)
	counts := map[string]int{}
	for _, app := range []string{"e2e-logger-tcp5424", "e2e-logger-tcp3164", "e2e-logger-udp5424", "e2e-logger-udp3164", "e2e-rsyslog-tcp", "e2e-rsyslog-udp"} {
		var lines []lokiLine
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			lines = queryLines(t, loki, `{appname="`+app+`"}`, from, to)
			if len(lines) >= n || time.Now().After(deadline) {
				break
			}
		}
		counts[app] = len(lines)
		seen := map[string]bool{}
		for _, l := range lines {
			seen[l.line] = true
		}
		prefix := strings.TrimPrefix(strings.TrimPrefix(app, "e2e-logger-"), "e2e-")
		for _, want := range numbered(prefix, n) {
			if !seen[want] {
				t.Errorf("%s: %q not in Loki", app, want)
				break
			}
		}
		if len(lines) != n || len(seen) != n {
			t.Errorf("%s: %d entries in Loki (%d distinct), want %d", app, len(lines), len(seen), n)
			if len(lines) == 0 {
				continue
			}
		}
		l := lines[0]
		switch app {
		case "e2e-logger-tcp5424":
			// local3.warning = 19*8+4 = 156
			if l.labels["level"] != "warn" || l.metadata["priority"] != "156" || l.metadata["msg_id"] != "M42" ||
				!strings.Contains(l.metadata["structured_data"], `"plant":"p7"`) || l.metadata["hostname"] == "" {
				t.Errorf("%s: entry %q labels %v metadata %v", app, l.line, l.labels, l.metadata)
			}
		case "e2e-rsyslog-tcp":
			// RFC 5424 from rsyslogd, with its timeQuality SD element.
			if l.metadata["version"] != "1" || !strings.Contains(l.metadata["structured_data"], "timeQuality") {
				t.Errorf("%s: entry %q labels %v metadata %v", app, l.line, l.labels, l.metadata)
			}
		case "e2e-logger-tcp3164":
			if l.labels["level"] != "error" || l.metadata["priority"] != "11" || l.metadata["hostname"] == "" {
				t.Errorf("%s: entry %q labels %v metadata %v", app, l.line, l.labels, l.metadata)
			}
		}
		if l.ts < from.UnixNano() || l.ts > to.UnixNano() {
			t.Errorf("%s: timestamp %s", app, time.Unix(0, l.ts))
		}
	}
	t.Logf("kernel drops on outpost's UDP socket: %d", udpDrops(port))
	m := testutil.Scrape(t, o.telemetry)
	tcp := m.Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "syslog", "transport": "tcp"})
	udp := m.Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "syslog", "transport": "udp"})
	if tcp != 3*n || udp != 3*n {
		t.Errorf("accepted tcp %v udp %v, want %d each", tcp, udp, 3*n)
	}
	t.Logf("syslog → Loki: entries per sender %v (want %d each); receiver accepted tcp %v udp %v", counts, n, tcp, udp)
}

// TestSyslogTCPBackPressure (issue 11, acceptance 2, the syslog half):
// with the exporter's disk queue full under `block` (its endpoint down),
// outpost stops reading the syslog TCP connection, so the sender's writes
// stop; when the endpoint comes back the queue drains, reading resumes,
// and every message arrives.
func TestSyslogTCPBackPressure(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	o := newOutpost(t)
	port := freeUDPPort(t)
	sinkAddr := testutil.FreeAddr(t) // nothing listens there yet
	o.start(t, syslogIn(o, port)+testutil.Sprintf(`
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms}
    queue: {max_bytes: 256KiB, full_policy: block}
service:
  pipelines:
    logs: {receivers: [syslog], exporters: [otlp]}
`, sinkAddr))

	conn, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small send buffer, so that what the sender has in flight is
	// mostly what outpost's side of the socket holds (tcp_rmem's max).
	if err := conn.(*net.TCPConn).SetWriteBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	const total = 40000 // ~20 MiB: far more than the queue and the socket buffers
	pad := strings.Repeat("x", 480)
	var written atomic.Int64
	writerDone := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		w := bufio.NewWriter(conn)
		for i := range total {
			m := fmt.Sprintf("<14>1 - sender app - - - seq=%05d %s", i, pad)
			if _, err := fmt.Fprintf(w, "%d %s", len(m), m); err != nil {
				writerDone <- err
				return
			}
			written.Store(int64(i + 1))
			if ctx.Err() != nil {
				return
			}
		}
		writerDone <- w.Flush()
	}()

	accepted := func() float64 {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "syslog", "transport": "tcp"})
	}
	throttled := func() bool {
		return strings.Contains(o.proc.Output(), "reading from connections pauses")
	}
	testutil.Eventually(t, 20*time.Second, "the queue full and the receiver retrying", throttled)
	stalledAt := accepted()
	sent := written.Load()
	select {
	case err := <-writerDone:
		t.Fatalf("the sender wrote all %d messages (%v) while the queue was full", total, err)
	default:
	}
	if stalledAt >= total {
		t.Fatalf("accepted %v of %d while the queue was full", stalledAt, total)
	}
	qbytes := testutil.Scrape(t, o.telemetry).Sum("outpost_queue_bytes", map[string]string{"exporter": "otlp"})

	// The endpoint comes back: the queue drains and the sender finishes.
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 20, GRPCAddr: sinkAddr})
	select {
	case err := <-writerDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the sender is still blocked after the endpoint came back")
	}
	testutil.Eventually(t, 60*time.Second, "every message at the sink", func() bool { return sink.LogRecords() >= total })
	seen := make(map[string]int, total)
	for _, ld := range sink.Logs() {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					seen[lr.Body().Str()[:len("seq=00000")]]++
				}
			}
		}
	}
	dups := 0
	for i := range total {
		c := seen[fmt.Sprintf("seq=%05d", i)]
		if c == 0 {
			t.Fatalf("message %d lost", i)
		}
		dups += c - 1
	}
	if got := accepted(); got != total {
		t.Errorf("receiver accepted %v, want %d", got, total)
	}
	t.Logf("queue full (%.0f bytes queued): the sender had written ~%d of %d messages and outpost had accepted %.0f when reading paused; after the endpoint came back all %d arrived (%d duplicates)",
		qbytes, sent, total, stalledAt, total, dups)
}
