//go:build !unix

package filelogreceiver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// errLocked reports that another receiver holds the storage directory.
var errLocked = errors.New("storage directory locked by another filelog receiver")

// lockDir opens dir/lock without locking it where flock(2) does not exist:
// there a reloaded receiver may overlap the old one for a moment
// (duplicates, not losses).
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create storage directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	return f, nil
}
