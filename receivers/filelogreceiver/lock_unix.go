//go:build unix

package filelogreceiver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// errLocked reports that another receiver holds the storage directory.
var errLocked = errors.New("storage directory locked by another filelog receiver")

// lockDir takes a non-blocking exclusive flock on dir/lock. flock locks
// belong to the open file description, so the receiver of a reloaded
// configuration waits for the old one to let go, within one process as
// across processes: two readers of one checkpoint would deliver lines
// twice.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create storage directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, errLocked
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}
