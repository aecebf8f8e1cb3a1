// Package filewatch follows credentials kept in files (certificates, keys,
// CA bundles, tokens, passwords): a Value is parsed from its files and
// parsed again when they change on disk, so that a rotated file applies to
// the next TLS handshake or request without a restart.
//
// No goroutine watches the files. Each Get stats them (one stat per file,
// cheap next to the handshake or request it serves); only when a size, an
// mtime or an inode differs are they read, and only when their content
// hash differs is the value parsed again. A change that does not parse (a
// certificate written before its key, a half-written file) keeps the
// previous value, is logged once per distinct error, and is tried again at
// the next Get: rotation tools write the files one after the other, and the
// set is whole again a moment later.
//
// It is shared by internal/clientconfig (exporters) and
// internal/serverconfig (receivers).
package filewatch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fileStamp is what a stat says of a file: a change of any field means the
// file may have changed.
type fileStamp struct {
	size  int64
	mtime time.Time
	inode uint64 // 0 where the system does not say: a rename-into-place changes it even within one mtime tick
}

func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.inode = uint64(sys.Ino)
	}
	return st
}

// Options name a Value in its log lines.
type Options struct {
	// What names the files by their configuration keys, for logs:
	// "cert_file, key_file", "bearer_token_file", ...
	What string
	// Role says whose files they are, the subject of the log messages:
	// "client credentials" (Role + " reloaded"). Default "credentials".
	Role string
	// Logger receives the reload and failure lines; nil for none.
	Logger *slog.Logger
}

// Value is a value of type T parsed from one or more files and parsed
// again when they change on disk. It is safe for concurrent use.
type Value[T any] struct {
	opts  Options
	paths []string
	parse func(contents [][]byte) (T, error)

	mu      sync.Mutex
	stamps  []fileStamp // as stat'ed at the last read
	sum     [sha256.Size]byte
	val     T
	loaded  bool   // val holds a parsed value
	reloads int    // times val was replaced after the first load
	logged  string // the last error logged
}

// New reads and parses the files (paths, in the order parse gets their
// contents) once now: an unreadable file or a parse error is returned as
// it is, for the caller to name its configuration key.
func New[T any](opts Options, parse func(contents [][]byte) (T, error), paths ...string) (*Value[T], error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Role == "" {
		opts.Role = "credentials"
	}
	w := &Value[T]{opts: opts, paths: paths, parse: parse}
	if _, err := w.Get(); err != nil {
		return nil, err
	}
	return w, nil
}

// Get returns the current value: the files' if they parse, else the last
// value that did (with no error). Only New can see an error.
func (w *Value[T]) Get() (T, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	stamps := make([]fileStamp, len(w.paths))
	changed := !w.loaded
	for i, p := range w.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return w.fail(err)
		}
		stamps[i] = stampOf(fi)
		if w.stamps == nil || stamps[i] != w.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return w.val, nil
	}
	contents := make([][]byte, len(w.paths))
	h := sha256.New()
	for i, p := range w.paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return w.fail(err)
		}
		contents[i] = b
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if w.loaded && sum == w.sum {
		w.stamps = stamps // touched, not changed
		return w.val, nil
	}
	v, err := w.parse(contents)
	if err != nil {
		return w.fail(err)
	}
	w.logged = ""
	if w.loaded {
		w.reloads++
		w.opts.Logger.Info(w.opts.Role+" reloaded", "files", w.opts.What)
	}
	w.val, w.sum, w.stamps, w.loaded = v, sum, stamps, true
	return v, nil
}

// Reloads is the number of times the value was replaced after the first
// load.
func (w *Value[T]) Reloads() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reloads
}

// fail keeps the last good value if there is one. The stamps are left as
// they were, so the next Get reads the files again. It logs only when the
// error differs from the last one logged, so a file that stays broken is
// not logged at every handshake.
func (w *Value[T]) fail(err error) (T, error) {
	if !w.loaded {
		var zero T
		return zero, err
	}
	if msg := err.Error(); msg != w.logged {
		w.logged = msg
		w.opts.Logger.Warn(w.opts.Role+" changed on disk but cannot be loaded; keeping the previous ones",
			"files", w.opts.What, "err", err)
	}
	return w.val, nil
}

// Secret follows a secret kept in a file (a token, a password): its
// content without surrounding whitespace (a trailing newline is usual).
// An empty file or one of more than one line does not parse.
func Secret(opts Options, path string) (*Value[string], error) {
	return New(opts, func(c [][]byte) (string, error) {
		s := strings.TrimSpace(string(c[0]))
		if s == "" {
			return "", errors.New("empty")
		}
		if strings.ContainsAny(s, "\r\n") {
			return "", errors.New("more than one line")
		}
		return s, nil
	}, path)
}
