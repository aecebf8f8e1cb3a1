package queue

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
)

// FS is the file system a queue keeps its files in. All of the queue's file
// I/O goes through it, so that tests can simulate power cuts (see the
// crash-simulating FS in crashfs_test.go) and so that memory queues run the
// same code over an in-memory FS.
//
// Paths are slash- or OS-separated as filepath.Join makes them.
type FS interface {
	// OpenFile opens a file with os.OpenFile's flags (O_RDWR, O_CREATE,
	// O_TRUNC and O_EXCL are the ones the queue uses).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Remove removes a file. It need not be durable until SyncDir of the
	// parent directory returns.
	Remove(name string) error
	// Rename renames a file within one directory. It need not be durable
	// until SyncDir of the parent directory returns.
	Rename(oldpath, newpath string) error
	// ReadDir returns the names of a directory's entries, sorted.
	ReadDir(name string) ([]string, error)
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(name string, perm fs.FileMode) error
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(name string) error
	// Lock takes an exclusive, non-blocking lock on the named file, creating
	// it if needed. It fails with an error wrapping ErrLocked if another
	// holder has it. Closing the returned Closer releases the lock.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS. The queue uses positional I/O only.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes the file's content durable (fsync).
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// ErrLocked is returned (wrapped) by Open when another process, or another
// Queue in this process, holds the queue directory's lock.
var ErrLocked = errors.New("queue directory is in use by another process or queue")

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			continue // the queue never makes directories inside a lane
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// SyncDir implements FS.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock implements FS with flock(2) where the platform has it (see
// lock_unix.go).
func (OSFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", name, err)
	}
	return f, nil // closing the descriptor releases the flock
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
