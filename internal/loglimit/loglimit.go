// Package loglimit rate-limits log lines by key, so that a misbehaving
// client or a stuck pipeline cannot flood a receiver's log: at most one line
// per key and interval is written, and the next line written for a key
// carries `suppressed=N`, the lines left out since the last one.
package loglimit

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Limiter writes at most one line per key per interval. Safe for
// concurrent use.
type Limiter struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// New returns a Limiter writing to logger at most once per every for each key.
func New(logger *slog.Logger, every time.Duration) *Limiter {
	return &Limiter{
		logger:     logger,
		every:      every,
		now:        time.Now,
		last:       map[string]time.Time{},
		suppressed: map[string]int{},
	}
}

// Warn logs msg at warning level, limited by key.
func (l *Limiter) Warn(key, msg string, args ...any) { l.Log(slog.LevelWarn, key, msg, args...) }

// Info logs msg at info level, limited by key.
func (l *Limiter) Info(key, msg string, args ...any) { l.Log(slog.LevelInfo, key, msg, args...) }

// Log logs msg at level, unless a line with the same key was written less
// than the interval ago; lines of a level the logger does not write are
// neither written nor counted.
func (l *Limiter) Log(level slog.Level, key, msg string, args ...any) {
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	now := l.now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.suppressed[key]++
		l.mu.Unlock()
		return
	}
	l.last[key] = now
	n := l.suppressed[key]
	delete(l.suppressed, key)
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.logger.Log(context.Background(), level, msg, args...)
}

// Writer returns an io.Writer for net/http's Server.ErrorLog
// (log.New(w, "", 0)): each write becomes a warning under key, its text
// trimmed and prefixed with prefix.
func (l *Limiter) Writer(key, prefix string) io.Writer { return writer{l, key, prefix} }

type writer struct {
	l           *Limiter
	key, prefix string
}

func (w writer) Write(p []byte) (int, error) {
	w.l.Warn(w.key, w.prefix+strings.TrimSpace(string(p)))
	return len(p), nil
}
