package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/outpost-edge/outpost/configs"
)

// checkStorageDir refuses a relative storage.directory when the working
// directory is the root: a systemd unit without WorkingDirectory= (or a
// container without WORKDIR) runs in /, where the default ./data would
// silently become /data. An absolute path, or any other working directory,
// is accepted.
func checkStorageDir(cfg *configs.Config) error {
	dir := cfg.Storage.Directory
	if filepath.IsAbs(dir) {
		return nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("storage.directory %q is relative and the working directory is unknown (%w): give an absolute path", dir, err)
	}
	if wd != "/" {
		return nil
	}
	return fmt.Errorf("storage.directory %q is relative and the working directory is /, so the queues would go to %s: give an absolute path "+
		"(under systemd with StateDirectory=outpost: /var/lib/outpost, or ${env:STATE_DIRECTORY}; in the container image: /var/lib/outpost)",
		dir, filepath.Join(wd, dir))
}
