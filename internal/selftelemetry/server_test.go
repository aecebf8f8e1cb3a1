package selftelemetry

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestReadyzCheck: /readyz answers 503 with the check's error while it
// fails (a disk queue whose fsync fails), and 200 once it passes again.
func TestReadyzCheck(t *testing.T) {
	s, err := NewServer("127.0.0.1:0", true, New(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var failing atomic.Bool
	s.SetCheck(func() error {
		if failing.Load() {
			return errors.New("queue /data/q: fsync queue segment 3 of lane normal: input/output error")
		}
		return nil
	})
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("before SetReady: %d, want 503", code)
	}
	s.SetReady(true)
	if code, _ := get(); code != http.StatusOK {
		t.Errorf("ready, check passing: %d, want 200", code)
	}
	failing.Store(true)
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "fsync") {
		t.Errorf("check failing: %d %q, want 503 naming the fsync error", code, body)
	}
	failing.Store(false)
	if code, _ := get(); code != http.StatusOK {
		t.Errorf("check passing again: %d, want 200", code)
	}
	t.Logf("/readyz: 503 %q while the check fails, 200 once it passes", strings.TrimSpace(body))
}

// TestPprofSwitch: /debug/pprof/ is served with pprof on and answers 404
// with it off, while /metrics is served either way.
func TestPprofSwitch(t *testing.T) {
	for _, on := range []bool{true, false} {
		s, err := NewServer("127.0.0.1:0", on, New(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		code := func(path string) int {
			t.Helper()
			resp, err := http.Get("http://" + s.Addr() + path)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			return resp.StatusCode
		}
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
			if got := code(p); got != want {
				t.Errorf("pprof %v: %s answered %d, want %d", on, p, got, want)
			}
		}
		if got := code("/metrics"); got != http.StatusOK {
			t.Errorf("pprof %v: /metrics answered %d", on, got)
		}
		_ = s.Shutdown(t.Context())
	}
}
