package queue

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// crashFS is an in-memory FS that simulates a power cut (or a kill -9) at
// a chosen operation.
//
// The model, at least as harsh as ext4 with data=ordered:
//
//   - File content: each file has the content as of its last Sync and the
//     operations (writes, truncations) since. At a power cut each of those
//     operations survives with probability keepP (0 in the strictest mode),
//     in order, except the file's last one: a write is torn at a random
//     byte (a random prefix of it is kept), a truncation kept or lost by a
//     coin toss. Lost writes before a kept one leave a hole of zeros.
//   - Names: creating, renaming and removing a file are durable only once
//     SyncDir of its directory returns; at a power cut the directory
//     entries revert to their state at the last SyncDir (a removed file
//     comes back, a created one vanishes even if its data was synced).
//   - Directories: a directory made by MkdirAll is durable only once
//     SyncDir of its parent returns; at a power cut one that is not (or
//     whose parent is not) vanishes with everything in it.
//   - fsync errors, as Linux has them (injected by faultFS, see
//     cFile.failSync): the failed Sync's file loses its writes since its
//     last Sync for good (the kernel marks the pages clean after a
//     writeback error): the process still reads them, but a power cut
//     loses them, and a later Sync succeeds without writing them.
//   - kill -9 (killed mode): everything written survives, since it is in
//     the OS page cache; only the operation that was being done is lost.
//
// The cut happens before operation number cutAt (counting every FS and File
// call): that call and every later one fail with errPowerCut, so an Append
// whose write or fsync was cut returns an error.
type crashFS struct {
	mu      sync.Mutex
	rng     *rand.Rand
	keepP   float64
	killed  bool // kill -9 instead of power cut
	ops     int
	cutAt   int // 0: never
	dead    bool
	dirs    map[string]bool
	names   map[string]*cInode // current directory entries
	durable map[string]*cInode // entries as of each directory's last SyncDir
	locks   map[string]bool
	after   map[string][]byte // the state that survived the cut

	durableDirs map[string]bool // directories whose entry in their parent is durable
	afterDirs   map[string]bool // the directories that survived the cut
}

type cInode struct {
	data    []byte // as the OS sees it
	synced  []byte // as of the last Sync
	pending []cOp  // since the last Sync
}

type cOp struct {
	off   int64
	data  []byte
	trunc bool
	size  int64
}

var errPowerCut = errors.New("simulated power cut")

func newCrashFS(rng *rand.Rand) *crashFS {
	return &crashFS{
		rng:     rng,
		dirs:    map[string]bool{"/": true},
		names:   map[string]*cInode{},
		durable: map[string]*cInode{},
		locks:   map[string]bool{},

		durableDirs: map[string]bool{"/": true},
	}
}

// step counts an operation and cuts power when its number comes up. It
// returns errPowerCut if the operation must fail. fs.mu must be held.
func (c *crashFS) step() error {
	if c.dead {
		return errPowerCut
	}
	c.ops++
	if c.cutAt > 0 && c.ops >= c.cutAt {
		c.cutLocked()
		return errPowerCut
	}
	return nil
}

// cut cuts power now (if it was not cut already).
func (c *crashFS) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dead {
		c.cutLocked()
	}
}

func (c *crashFS) cutLocked() {
	c.dead = true
	c.after = map[string][]byte{}
	c.afterDirs = map[string]bool{}
	names := c.durable
	if c.killed {
		names = c.names
	}
	for d := range c.dirs {
		if c.killed || c.dirSurvives(d) {
			c.afterDirs[d] = true
		}
	}
	for name, ino := range names {
		if c.afterDirs[filepath.Dir(name)] {
			c.after[name] = c.survivingContent(ino)
		}
	}
}

// dirSurvives reports whether d and all its parents are durable.
func (c *crashFS) dirSurvives(d string) bool {
	for ; ; d = filepath.Dir(d) {
		if !c.durableDirs[d] {
			return false
		}
		if filepath.Dir(d) == d {
			return true
		}
	}
}

func (c *crashFS) survivingContent(ino *cInode) []byte {
	if c.killed {
		return append([]byte(nil), ino.data...)
	}
	data := append([]byte(nil), ino.synced...)
	for i, op := range ino.pending {
		last := i == len(ino.pending)-1
		switch {
		case op.trunc:
			if (last && c.rng.IntN(2) == 0) || (!last && c.rng.Float64() < c.keepP) {
				data = resize(data, op.size)
			}
		case last:
			data = writeAt(data, op.data[:c.rng.IntN(len(op.data)+1)], op.off)
		case c.rng.Float64() < c.keepP:
			data = writeAt(data, op.data, op.off)
		}
	}
	return data
}

// survivor returns a fresh crashFS holding what survived the cut.
func (c *crashFS) survivor(rng *rand.Rand) *crashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := newCrashFS(rng)
	n.keepP, n.killed = c.keepP, c.killed
	for d := range c.afterDirs {
		n.dirs[d] = true
		n.durableDirs[d] = true
	}
	for name, data := range c.after {
		ino := &cInode{data: data, synced: append([]byte(nil), data...)}
		n.names[name] = ino
		n.durable[name] = ino
	}
	return n
}

func resize(b []byte, size int64) []byte {
	if size <= int64(len(b)) {
		return b[:size]
	}
	return append(b, make([]byte, size-int64(len(b)))...)
}

func writeAt(b, p []byte, off int64) []byte {
	if end := off + int64(len(p)); end > int64(len(b)) {
		b = resize(b, end)
	}
	copy(b[off:], p)
	return b
}

func (c *crashFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	name = filepath.Clean(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return nil, err
	}
	if !c.dirs[filepath.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	ino, ok := c.names[name]
	switch {
	case ok && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case !ok:
		ino = &cInode{}
		c.names[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.data = nil
		ino.pending = append(ino.pending, cOp{trunc: true})
	}
	return &cFile{fs: c, ino: ino}, nil
}

func (c *crashFS) Remove(name string) error {
	name = filepath.Clean(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return err
	}
	if _, ok := c.names[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(c.names, name)
	return nil
}

func (c *crashFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return err
	}
	ino, ok := c.names[oldpath]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	delete(c.names, oldpath)
	c.names[newpath] = ino
	return nil
}

func (c *crashFS) ReadDir(name string) ([]string, error) {
	name = filepath.Clean(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return nil, err
	}
	if !c.dirs[name] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []string
	for p := range c.names {
		if filepath.Dir(p) == name {
			out = append(out, filepath.Base(p))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (c *crashFS) MkdirAll(name string, _ fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return err
	}
	for d := filepath.Clean(name); !c.dirs[d]; d = filepath.Dir(d) {
		c.dirs[d] = true
		if c.killed {
			c.durableDirs[d] = true
		}
	}
	return nil
}

func (c *crashFS) SyncDir(name string) error {
	name = filepath.Clean(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return err
	}
	for d := range c.dirs {
		if filepath.Dir(d) == name && d != name {
			c.durableDirs[d] = true
		}
	}
	for p := range c.durable {
		if filepath.Dir(p) == name {
			delete(c.durable, p)
		}
	}
	for p, ino := range c.names {
		if filepath.Dir(p) == name {
			c.durable[p] = ino
		}
	}
	return nil
}

func (c *crashFS) Lock(name string) (io.Closer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.step(); err != nil {
		return nil, err
	}
	if c.locks[name] {
		return nil, ErrLocked
	}
	c.locks[name] = true
	return closerFunc(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.locks, name)
		return nil
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

type cFile struct {
	fs     *crashFS
	ino    *cInode
	closed bool
}

func (f *cFile) begin() error {
	f.fs.mu.Lock()
	if f.closed {
		f.fs.mu.Unlock()
		return os.ErrClosed
	}
	if err := f.fs.step(); err != nil {
		f.fs.mu.Unlock()
		return err
	}
	return nil
}

func (f *cFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.begin(); err != nil {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *cFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.begin(); err != nil {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	f.ino.data = writeAt(f.ino.data, p, off)
	f.ino.pending = append(f.ino.pending, cOp{off: off, data: append([]byte(nil), p...)})
	return len(p), nil
}

func (f *cFile) Sync() error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	// What reaches the disk is the writes since the last Sync, not the
	// data as the process sees it: after a failed Sync the two differ.
	for _, op := range f.ino.pending {
		if op.trunc {
			f.ino.synced = resize(f.ino.synced, op.size)
		} else {
			f.ino.synced = writeAt(f.ino.synced, op.data, op.off)
		}
	}
	f.ino.pending = nil
	return nil
}

func (f *cFile) Truncate(size int64) error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	f.ino.data = resize(f.ino.data, size)
	f.ino.pending = append(f.ino.pending, cOp{trunc: true, size: size})
	return nil
}

func (f *cFile) Size() (int64, error) {
	if err := f.begin(); err != nil {
		return 0, err
	}
	defer f.fs.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

func (f *cFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	return nil
}
