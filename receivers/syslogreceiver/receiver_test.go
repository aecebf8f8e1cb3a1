package syslogreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func bodies(s *sink) []string {
	var out []string
	for _, lr := range s.snapshot() {
		out = append(out, lr.Body().Str())
	}
	return out
}

func TestTCPFramings(t *testing.T) {
	msg := func(i int) string { return fmt.Sprintf("<14>1 2026-03-15T11:00:00Z h app - - - message %d", i) }
	octet := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%d %s", len(msg(i)), msg(i))
		}
		return b.String()
	}
	delimited := func(n int, trailer string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(msg(i) + trailer)
		}
		return b.String()
	}
	long := strings.Repeat("x", 200)
	cases := []struct {
		name    string
		octet   *bool
		trailer string
		maxSize int
		input   string
		want    []string
		tooLong int
		broken  int
	}{
		{name: "auto, octet counting", input: octet(3), want: []string{"message 0", "message 1", "message 2"}},
		{name: "auto, LF", input: delimited(3, "\n"), want: []string{"message 0", "message 1", "message 2"}},
		{name: "auto, CRLF and blank lines", input: "\n" + delimited(2, "\r\n") + "\n", want: []string{"message 0", "message 1"}},
		{name: "auto, last message without trailer", input: delimited(1, "\n") + msg(1), want: []string{"message 0", "message 1"}},
		{name: "octet counting forced", octet: ptr(true), input: octet(2), want: []string{"message 0", "message 1"}},
		{name: "octet counting with a newline between frames", octet: ptr(true), input: octet(1) + "\n" + octet(1), want: []string{"message 0", "message 0"}},
		{name: "octet counting, multi-line message", octet: ptr(true), input: "40 <14>1 2026-03-15T11:00:00Z h a - - - a\nb", want: []string{"a\nb"}},
		{name: "octet counting, newline inside the count (rsyslog)", octet: ptr(true), input: "40 <14>1 2026-03-15T11:00:00Z h a - - - ab\n", want: []string{"ab"}},
		{name: "NUL trailer", octet: ptr(false), trailer: TrailerNUL, input: delimited(2, "\x00"), want: []string{"message 0", "message 1"}},
		{name: "LF framing forced on digits", octet: ptr(false), input: "12 x\n" + msg(0) + "\n", want: []string{"12 x", "message 0"}},
		{name: "too large, octet counting", maxSize: 100, input: fmt.Sprintf("%d %s", len(long), long) + octet(1), want: []string{"message 0"}, tooLong: 1},
		{name: "too large, LF", maxSize: 100, input: long + "\n" + delimited(1, "\n"), want: []string{"message 0"}, tooLong: 1},
		{name: "too large, LF, past the read buffer", maxSize: 5000, input: strings.Repeat("y", 70000) + "\n" + delimited(1, "\n"), want: []string{"message 0"}, tooLong: 1},
		{name: "long, LF, past the read buffer", maxSize: 100000, input: "<14>1 - - - - - - " + strings.Repeat("z", 70000) + "\n", want: []string{strings.Repeat("z", 70000)}},
		{name: "broken octet count closes", octet: ptr(true), input: octet(1) + "x1 abc" + octet(1), want: []string{"message 0"}, broken: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := start(t, tcpConfig(func(cfg *Config) {
				cfg.EnableOctetCounting = c.octet
				if c.trailer != "" {
					cfg.NonTransparentFramingTrailer = c.trailer
				}
				if c.maxSize > 0 {
					cfg.TCP.MaxLogSize = configs.ByteSize(c.maxSize)
				}
			}), nil)
			conn, err := net.Dial("tcp", st.tcp)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write([]byte(c.input)); err != nil {
				t.Fatal(err)
			}
			_ = conn.Close()
			waitFor(t, 5*time.Second, "messages", func() bool {
				return st.accepted(transportTCP) >= float64(len(c.want)) && st.badN(transportTCP, reasonTooLarge) >= float64(c.tooLong) &&
					st.badN(transportTCP, reasonDecode) >= float64(c.broken)
			})
			if got := bodies(st.sink); !slices.Equal(got, c.want) {
				t.Errorf("bodies %q, want %q", got, c.want)
			}
			if got := st.badN(transportTCP, reasonTooLarge); got != float64(c.tooLong) {
				t.Errorf("too_large %v, want %d", got, c.tooLong)
			}
			if got := st.badN(transportTCP, reasonDecode); got != float64(c.broken) {
				t.Errorf("decode %v, want %d", got, c.broken)
			}
		})
	}
}

// TestTCPBackPressure: while the pipeline refuses with back-pressure, the
// receiver stops reading the connection, so the sender's writes stop; once
// the pipeline takes data again every message arrives, once, in order.
func TestTCPBackPressure(t *testing.T) {
	st := start(t, tcpConfig(func(c *Config) { c.Batch.SendBatchSize = 64 }), nil)
	st.sink.setRefuse(pipeline.NewThrottle(errors.New("queue full"), 5*time.Second))
	conn, err := net.Dial("tcp", st.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.(*net.TCPConn).SetWriteBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	// Far more than the socket buffers and the receiver's batches hold.
	const total = 20000
	pad := strings.Repeat("p", 400)
	var written atomic.Int64
	writeDone := make(chan error, 1)
	go func() {
		for i := range total {
			m := fmt.Sprintf("<14>1 - h app - - - %06d %s", i, pad)
			if _, err := fmt.Fprintf(conn, "%d %s", len(m), m); err != nil {
				writeDone <- err
				return
			}
			written.Add(1)
		}
		writeDone <- nil
	}()
	// The pipeline refuses several times; the writer is stuck part way.
	waitFor(t, 10*time.Second, "refusals", func() bool { _, _, refused := st.sink.counts(); return refused >= 3 })
	stuck := written.Load()
	select {
	case err := <-writeDone:
		t.Fatalf("the writer finished (%v) while the pipeline refused everything", err)
	default:
	}
	if stuck >= total {
		t.Fatalf("all %d messages written while the pipeline refused", stuck)
	}
	inReceiver := stuck // an upper bound on what was read
	st.sink.setRefuse(nil)
	select {
	case err := <-writeDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writer still blocked after the pipeline recovered")
	}
	waitFor(t, 30*time.Second, "every message", func() bool { n, _, _ := st.sink.counts(); return n >= total })
	got := bodies(st.sink)
	if len(got) != total {
		t.Fatalf("%d messages, want %d", len(got), total)
	}
	for i, b := range got {
		if !strings.HasPrefix(b, fmt.Sprintf("%06d ", i)) {
			t.Fatalf("message %d is %.10q", i, b)
		}
	}
	if st.accepted(transportTCP) != total {
		t.Errorf("accepted %v", st.accepted(transportTCP))
	}
	t.Logf("writer stopped after %d of %d messages while the pipeline refused; %d delivered in order after it recovered", inReceiver, total, len(got))
}

// TestUDPDropsCounted: UDP never waits. Under back-pressure its batches
// are refused and dropped, counted by reason; every datagram is either
// accepted or counted.
func TestUDPDropsCounted(t *testing.T) {
	cfg := createDefaultConfig()
	cfg.UDP = &UDPConfig{}
	cfg.UDP.SetDefaults()
	cfg.Batch.SendBatchSize = 10
	cfg.Batch.Timeout = 10 * time.Millisecond
	st := start(t, cfg, nil)
	conn, err := net.Dial("udp", st.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			if _, err := fmt.Fprintf(conn, "<14>1 - h app - - - udp %d\n", i); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 50)
	waitFor(t, 5*time.Second, "accepted", func() bool { return st.accepted(transportUDP) == 50 })
	st.sink.setRefuse(pipeline.NewThrottle(errors.New("queue full"), time.Second))
	send(50, 50)
	waitFor(t, 5*time.Second, "refused", func() bool {
		return st.refusedN(transportUDP, reasonThrottled)+st.refusedN(transportUDP, reasonBusy) == 50
	})
	st.sink.setRefuse(errors.New("exporter down"))
	send(100, 20)
	waitFor(t, 5*time.Second, "unavailable", func() bool {
		return st.refusedN(transportUDP, reasonThrottled)+st.refusedN(transportUDP, reasonBusy)+st.refusedN(transportUDP, reasonUnavailable) == 70
	})
	st.sink.setRefuse(nil)
	send(120, 5)
	waitFor(t, 5*time.Second, "accepted again", func() bool { return st.accepted(transportUDP) == 55 })
	if n, _, _ := st.sink.counts(); n != 55 {
		t.Errorf("sink has %d records, want 55", n)
	}
	t.Logf("udp: accepted %v, refused throttled %v, busy %v, unavailable %v", st.accepted(transportUDP),
		st.refusedN(transportUDP, reasonThrottled), st.refusedN(transportUDP, reasonBusy), st.refusedN(transportUDP, reasonUnavailable))
}

// TestTCPShutdownGivesUp: a batch the pipeline still refuses when
// Shutdown's deadline passes is counted as lost (reason shutdown).
func TestTCPShutdownGivesUp(t *testing.T) {
	cfg := tcpConfig(nil)
	st := start(t, cfg, nil)
	st.sink.setRefuse(pipeline.NewThrottle(errors.New("queue full"), time.Second))
	conn, err := net.Dial("tcp", st.tcp)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<14>1 - h a - - - one\n<14>1 - h a - - - two\n")
	waitFor(t, 5*time.Second, "a refusal", func() bool { _, _, r := st.sink.counts(); return r >= 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	st.shutDown = true
	if err := st.r.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	_ = conn.Close()
	if got := st.refusedN(transportTCP, reasonShutdown); got != 2 {
		t.Errorf("refused shutdown %v, want 2", got)
	}
	if err := st.r.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second shutdown: %v, want the first one's error", err)
	}
}

func TestMemoryLimitTooLarge(t *testing.T) {
	mem := memlimit.New(8<<10, nil) // in-flight capacity: half of it
	st := start(t, tcpConfig(nil), mem)
	conn, err := net.Dial("tcp", st.tcp)
	if err != nil {
		t.Fatal(err)
	}
	big := "<14>1 - h a - - - " + strings.Repeat("b", 2000)
	fmt.Fprintf(conn, "%s\n<14>1 - h a - - - small\n", big)
	_ = conn.Close()
	waitFor(t, 5*time.Second, "small", func() bool { return st.accepted(transportTCP) == 1 })
	if got := st.badN(transportTCP, reasonTooLarge); got != 1 {
		t.Errorf("too_large %v, want 1", got)
	}
	waitFor(t, 5*time.Second, "memory released", func() bool { return mem.InFlight() == 0 })
}

// TestUDPRebind: a reload starts the new receiver while the old one still
// holds the UDP address; both bind it (SO_REUSEPORT), and once the old
// one stops the new one gets every datagram.
func TestUDPRebind(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT sharing is Linux only")
	}
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.LocalAddr().String()
	_ = probe.Close()
	newUDP := func() (*receiver, *sink) {
		cfg := createDefaultConfig()
		cfg.UDP = &UDPConfig{ListenAddress: addr}
		cfg.Batch.Timeout = 10 * time.Millisecond
		s := newSink()
		r, err := newReceiver(pipeline.Settings{ID: pipeline.ID{Type: Type}}, cfg, pipeline.Consumers{Logs: s})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background(), &testHost{}); err != nil {
			t.Fatal(err)
		}
		return r, s
	}
	oldR, _ := newUDP()
	newR, newSink := newUDP()
	if err := oldR.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer newR.Shutdown(context.Background())
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 20 {
		fmt.Fprintf(conn, "<14>1 - h a - - - after %d", i)
	}
	waitFor(t, 5*time.Second, "datagrams at the new receiver", func() bool { n, _, _ := newSink.counts(); return n == 20 })
}

// TestMemoryLimitWaits: over TCP, a message that finds no room under
// memory_limit waits (the connection is not read) until a batch is
// answered and its bytes are given back; nothing is lost.
func TestMemoryLimitWaits(t *testing.T) {
	mem := memlimit.New(64<<10, nil)
	st := start(t, tcpConfig(nil), mem)
	st.sink.setRefuse(pipeline.NewThrottle(errors.New("queue full"), time.Second))
	conn, err := net.Dial("tcp", st.tcp)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	body := strings.Repeat("m", 1000) // charged 6000 bytes: a few fit at once
	for i := range n {
		fmt.Fprintf(conn, "<14>1 - h a - - - %02d %s\n", i, body)
	}
	_ = conn.Close()
	waitFor(t, 5*time.Second, "a refusal", func() bool { _, _, r := st.sink.counts(); return r >= 1 })
	held := mem.InFlight()
	if held == 0 || held > mem.Capacity() {
		t.Fatalf("in flight %d bytes, capacity %d", held, mem.Capacity())
	}
	st.sink.setRefuse(nil)
	waitFor(t, 10*time.Second, "every message", func() bool { return st.accepted(transportTCP) == n })
	for i, b := range bodies(st.sink) {
		if !strings.HasPrefix(b, fmt.Sprintf("%02d ", i)) {
			t.Fatalf("message %d is %.8q", i, b)
		}
	}
	waitFor(t, 5*time.Second, "memory given back", func() bool { return mem.InFlight() == 0 })
	t.Logf("%d bytes in flight (capacity %d) while the pipeline refused; all %d messages delivered in order", held, mem.Capacity(), n)
}
