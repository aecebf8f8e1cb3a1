package clientconfig

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

// fileStamp is what a stat says of a file: a change of either means the
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

// watched is a value parsed from one or more files, re-parsed when they
// change on disk. Each get stats the files (one stat each, cheap next to
// the TLS handshake or the request it serves); only when a size or mtime
// (or, for a file replaced by rename, its inode) differs are they read, and only when their content hash differs is the
// value parsed again. No goroutine watches them.
//
// A change that does not parse (a certificate written before its key, a
// half-written file) keeps the previous value, logs once per change, and
// is tried again at the next get: rotation tools write the files one
// after the other, and the pair is whole again a moment later.
type watched[T any] struct {
	what   string // for logs: "cert_file, key_file", "bearer_token_file", ...
	paths  []string
	parse  func(contents [][]byte) (T, error)
	logger *slog.Logger

	mu      sync.Mutex
	stamps  []fileStamp // as stat'ed at the last read
	sum     [sha256.Size]byte
	val     T
	loaded  bool   // val holds a parsed value
	reloads int    // times val was replaced after the first load
	logged  string // the last error logged
}

func newWatched[T any](what string, logger *slog.Logger, parse func([][]byte) (T, error), paths ...string) (*watched[T], error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w := &watched[T]{what: what, paths: paths, parse: parse, logger: logger}
	if _, err := w.get(); err != nil {
		return nil, err
	}
	return w, nil
}

// get returns the current value: the files' if they parse, else the last
// value that did (with no error), else the error.
func (w *watched[T]) get() (T, error) {
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
		w.logger.Info("client credentials reloaded", "files", w.what)
	}
	w.val, w.sum, w.stamps, w.loaded = v, sum, stamps, true
	return v, nil
}

// fail keeps the last good value if there is one. The stamps are left as
// they were, so the next get reads the files again. It logs only when the
// error differs from the last one logged, so a file that stays broken is
// not logged at every handshake.
func (w *watched[T]) fail(err error) (T, error) {
	if !w.loaded {
		var zero T
		return zero, err
	}
	if msg := err.Error(); msg != w.logged {
		w.logged = msg
		w.logger.Warn("client credentials changed on disk but cannot be loaded; keeping the previous ones",
			"files", w.what, "err", err)
	}
	return w.val, nil
}

// readSecret is the secret in a file: its content without surrounding
// whitespace (a trailing newline is usual); empty is an error.
func readSecret(key, path string, logger *slog.Logger) (*watched[string], error) {
	return newWatched(key, logger, func(c [][]byte) (string, error) {
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
