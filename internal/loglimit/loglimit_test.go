package loglimit

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 10*time.Second)
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	for range 100 {
		l.Warn("decode", "bad request")
	}
	l.Warn("too_large", "too large")
	now = now.Add(11 * time.Second)
	l.Warn("decode", "bad request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "suppressed=99") {
		t.Errorf("last line %q does not count the 99 suppressed", lines[2])
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour)
	lg := log.New(l.Writer("http_server", "server: "), "", 0)
	lg.Print("TLS handshake error\n")
	lg.Print("again")
	if got := buf.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, `msg="server: TLS handshake error"`) {
		t.Errorf("log = %q, want one warning with the prefixed, trimmed text", got)
	}
}
