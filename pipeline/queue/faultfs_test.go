package queue

import (
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// faultKind is a kind of I/O fault faultFS injects.
type faultKind uint8

const (
	faultOpenEMFILE  faultKind = 1 << iota // OpenFile of an existing file fails with EMFILE
	faultReadEIO                           // ReadAt fails with EIO
	faultWriteENOSPC                       // WriteAt writes a random prefix (maybe none) and fails with ENOSPC
	faultSyncEIO                           // Sync fails with EIO, Linux style (cFile.failSync)
	faultSyncDirEIO                        // SyncDir fails with EIO; the directory stays as it was durably

	faultsWrite = faultWriteENOSPC | faultSyncEIO | faultSyncDirEIO
	faultsRead  = faultOpenEMFILE | faultReadEIO
	faultsAll   = faultsWrite | faultsRead
)

var faultNames = map[faultKind]string{
	faultOpenEMFILE:  "open EMFILE",
	faultReadEIO:     "read EIO",
	faultWriteENOSPC: "write ENOSPC",
	faultSyncEIO:     "fsync EIO",
	faultSyncDirEIO:  "directory fsync EIO",
}

func (k faultKind) String() string {
	var names []string
	for _, f := range []faultKind{faultOpenEMFILE, faultReadEIO, faultWriteENOSPC, faultSyncEIO, faultSyncDirEIO} {
		if k&f != 0 {
			names = append(names, faultNames[f])
		}
	}
	return strings.Join(names, ", ")
}

// faultFS wraps a crashFS and injects I/O faults of the enabled kinds, each
// call failing with probability p. Only queue files (segments, cursors) are
// hit: the lock and directories are left alone, except SyncDir under
// faultSyncDirEIO. The counts of injected faults are in injected.
//
// beforeSync, if set, runs (without locks) before each file Sync; if it
// returns true that Sync fails as an injected fault. Tests use it to stage
// a race deterministically.
type faultFS struct {
	inner *crashFS

	mu       sync.Mutex
	rng      *rand.Rand
	kinds    faultKind
	p        float64
	injected map[faultKind]int

	beforeSync func() bool
	afterWrite func()
}

func newFaultFS(inner *crashFS, rng *rand.Rand) *faultFS {
	return &faultFS{inner: inner, rng: rng, injected: map[faultKind]int{}}
}

// set enables the kinds, each call failing with probability p; kinds 0
// turns faults off.
func (f *faultFS) set(kinds faultKind, p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kinds, f.p = kinds, p
}

// hit decides whether a call of kind k fails, and counts it.
func (f *faultFS) hit(k faultKind) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kinds&k == 0 || f.rng.Float64() >= f.p {
		return false
	}
	f.injected[k]++
	return true
}

func (f *faultFS) intN(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if filepath.Base(name) != lockName && f.hit(faultOpenEMFILE) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
	}
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, inner: inner.(*cFile), name: name}, nil
}

func (f *faultFS) Remove(name string) error                     { return f.inner.Remove(name) }
func (f *faultFS) Rename(oldpath, newpath string) error         { return f.inner.Rename(oldpath, newpath) }
func (f *faultFS) ReadDir(name string) ([]string, error)        { return f.inner.ReadDir(name) }
func (f *faultFS) MkdirAll(name string, perm fs.FileMode) error { return f.inner.MkdirAll(name, perm) }
func (f *faultFS) Lock(name string) (io.Closer, error)          { return f.inner.Lock(name) }

func (f *faultFS) SyncDir(name string) error {
	if f.hit(faultSyncDirEIO) {
		// The directory's entries stay as they last were durably.
		return &fs.PathError{Op: "fsync", Path: name, Err: syscall.EIO}
	}
	return f.inner.SyncDir(name)
}

type faultFile struct {
	fs    *faultFS
	inner *cFile
	name  string
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.hit(faultReadEIO) {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EIO}
	}
	return f.inner.ReadAt(p, off)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.hit(faultWriteENOSPC) {
		n := f.fs.intN(len(p) + 1)
		if n > 0 {
			if m, err := f.inner.WriteAt(p[:n], off); err != nil {
				return m, err
			}
		}
		return n, &fs.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	n, err := f.inner.WriteAt(p, off)
	if h := f.fs.afterWrite; h != nil {
		h()
	}
	return n, err
}

func (f *faultFile) Sync() error {
	if h := f.fs.beforeSync; h != nil && h() {
		return f.inner.failSync()
	}
	if f.fs.hit(faultSyncEIO) {
		return f.inner.failSync()
	}
	return f.inner.Sync()
}

func (f *faultFile) Truncate(size int64) error { return f.inner.Truncate(size) }
func (f *faultFile) Size() (int64, error)      { return f.inner.Size() }
func (f *faultFile) Close() error              { return f.inner.Close() }

// failSync is a Sync that fails as Linux's does after a writeback error:
// the writes since the last Sync never reach the disk (a power cut loses
// them), though the process still reads them, and the next Sync succeeds
// without writing them.
func (f *cFile) failSync() error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.fs.mu.Unlock()
	f.ino.pending = nil
	return &fs.PathError{Op: "fsync", Path: "(segment)", Err: syscall.EIO}
}
