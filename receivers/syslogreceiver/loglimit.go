package syslogreceiver

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logLimiter writes at most one line per key and interval, so that a
// misbehaving sender or a stuck pipeline cannot flood the log; the next
// line written for a key says how many were suppressed.
type logLimiter struct {
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newLogLimiter(logger *slog.Logger, every time.Duration) *logLimiter {
	return &logLimiter{logger: logger, every: every, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

func (l *logLimiter) warn(key, msg string, args ...any) { l.log(slog.LevelWarn, key, msg, args...) }
func (l *logLimiter) info(key, msg string, args ...any) { l.log(slog.LevelInfo, key, msg, args...) }

func (l *logLimiter) log(level slog.Level, key, msg string, args ...any) {
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	now := time.Now()
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
