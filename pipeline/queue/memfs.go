package queue

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// memFS is the FS of memory queues: files are byte slices, Sync and SyncDir
// do nothing, and Lock always succeeds (a memory queue is never shared).
type memFS struct {
	mu    sync.Mutex
	files map[string]*memInode
	dirs  map[string]bool
}

type memInode struct {
	mu   sync.Mutex
	data []byte
}

func newMemFS() *memFS {
	return &memFS{files: make(map[string]*memInode), dirs: make(map[string]bool)}
}

var errMemClosed = errors.New("file already closed")

func (m *memFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[filepath.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	ino, ok := m.files[name]
	switch {
	case ok && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		ino = &memInode{}
		m.files[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.mu.Lock()
		ino.data = nil
		ino.mu.Unlock()
	}
	return &memFile{ino: ino}, nil
}

func (m *memFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.files[oldpath]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	delete(m.files, oldpath)
	m.files[newpath] = ino
	return nil
}

func (m *memFS) ReadDir(name string) ([]string, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var names []string
	for p := range m.files {
		if filepath.Dir(p) == name {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) MkdirAll(name string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(name); !m.dirs[d]; d = filepath.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

func (m *memFS) SyncDir(string) error { return nil }

func (m *memFS) Lock(string) (io.Closer, error) { return nopCloser{}, nil }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// memFile is an open handle on a memInode.
type memFile struct {
	ino    *memInode
	closed atomic.Bool
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, errMemClosed
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, errMemClosed
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.ino.data)) {
		if end > int64(cap(f.ino.data)) {
			// Grow by at least a quarter: amortised appends without
			// doubling the memory a memory queue holds.
			grown := make([]byte, end, max(end, int64(cap(f.ino.data))*5/4))
			copy(grown, f.ino.data)
			f.ino.data = grown
		} else {
			f.ino.data = f.ino.data[:end]
		}
	}
	return copy(f.ino.data[off:], p), nil
}

func (f *memFile) Sync() error {
	if f.closed.Load() {
		return errMemClosed
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if f.closed.Load() {
		return errMemClosed
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	if size <= int64(len(f.ino.data)) {
		f.ino.data = f.ino.data[:size]
	} else {
		f.ino.data = append(f.ino.data, make([]byte, size-int64(len(f.ino.data)))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	if f.closed.Load() {
		return 0, errMemClosed
	}
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Close() error {
	if f.closed.Swap(true) {
		return errMemClosed
	}
	return nil
}
