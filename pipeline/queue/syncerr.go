package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"
)

// SyncError returns the error of the queue's last fsync round, or nil if
// it succeeded (or the queue is a memory queue, or nothing was fsynced
// yet). A failed round stays reported until a later round that fsyncs
// something succeeds. Under FsyncInterval this is how a failing disk shows:
// the appends were acknowledged before the fsync, so /readyz reports it
// (see Registry.SyncError).
func (q *Queue) SyncError() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.syncErr == nil {
		return nil
	}
	return fmt.Errorf("queue %s: %w", q.dir, q.syncErr)
}

// periodicSync is the background fsync under FsyncInterval. A failure is
// counted (syncLocked), kept for SyncError, and logged as an error at most
// once per logInterval.
func (q *Queue) periodicSync() {
	q.syncMu.Lock()
	err := q.syncLocked()
	q.syncMu.Unlock()
	if err != nil {
		q.errLog.log(q.log, slog.LevelError, "periodic fsync of queue failed; data acknowledged since the last good fsync is not durable (a power cut may lose it); appends go on in a new segment", "err", err)
	}
}

// rateLimit logs at most one line per logInterval; the lines in between
// are counted in the next one.
type rateLimit struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

func (r *rateLimit) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if now.Before(r.next) {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	r.next = now.Add(logInterval)
	if r.suppressed > 0 {
		args = append(args, "suppressed_since_last", r.suppressed)
		r.suppressed = 0
	}
	r.mu.Unlock()
	l.Log(context.Background(), level, msg, args...)
}

// MkdirDurable creates the directory name and any missing parents, as
// MkdirAll does, and fsyncs the parent of every directory on the path, so
// that the directories survive a power cut. An error fsyncing the parent of
// a directory this call created is returned; for directories that existed
// the fsync is best effort: it repairs what an earlier call that failed
// midway (or another program) left unsynced, but those directories may be
// outside the caller's control.
func MkdirDurable(fsys FS, name string) error {
	name = filepath.Clean(name)
	created := map[string]bool{}
	for d := name; ; d = filepath.Dir(d) {
		if _, err := fsys.ReadDir(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created[d] = true
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(name, 0o755); err != nil {
		return err
	}
	var chain []string // the path's directories, top first
	for d := name; filepath.Dir(d) != d; d = filepath.Dir(d) {
		chain = append([]string{d}, chain...)
	}
	for _, d := range chain {
		parent := filepath.Dir(d)
		if err := fsys.SyncDir(parent); err != nil && created[d] {
			return fmt.Errorf("fsync directory %s after creating %s: %w", parent, d, err)
		}
	}
	return nil
}
