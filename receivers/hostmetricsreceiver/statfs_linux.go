package hostmetricsreceiver

import "golang.org/x/sys/unix"

// statfs is statfs(2).
func statfs(path string) (fsStat, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(path, &s); err != nil {
		return fsStat{}, err
	}
	bs := uint64(s.Bsize)
	return fsStat{
		Total:      s.Blocks * bs,
		Free:       s.Bfree * bs,
		Avail:      s.Bavail * bs,
		Inodes:     s.Files,
		InodesFree: s.Ffree,
	}, nil
}
