package hostmetricsreceiver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// fsStat is what statfs(2) says of a mounted file system, in bytes and
// inodes.
type fsStat struct {
	Total, Free, Avail uint64 // f_blocks, f_bfree, f_bavail × f_bsize
	Inodes, InodesFree uint64 // f_files, f_ffree
}

// statfsFunc measures the file system mounted at path. It may block (a
// hung network mount); the scraper bounds it with statfs_timeout.
type statfsFunc func(path string) (fsStat, error)

// partitionsFunc lists the mounted file systems.
type partitionsFunc func(ctx context.Context, all bool) ([]disk.PartitionStat, error)

var errStatfsTimeout = errors.New("statfs did not answer in time")

type filesystemScraper struct {
	cfg        *FilesystemConfig
	root       string // root_path, "" for none
	devices    matcher
	fsTypes    matcher
	mounts     matcher
	statfs     statfsFunc
	partitions partitionsFunc

	mu sync.Mutex
	// pending holds the mount points whose statfs has not returned yet
	// (at most one call per mount point is ever outstanding).
	pending map[string]bool
	// wg tracks outstanding statfs calls, so that tests can wait for them.
	wg sync.WaitGroup
}

func newFilesystemScraper(cfg *FilesystemConfig, root string) *filesystemScraper {
	return &filesystemScraper{
		cfg:  cfg,
		root: root,
		devices: matcher{
			include: newNameSet(cfg.IncludeDevices.Devices, cfg.IncludeDevices.MatchType),
			exclude: newNameSet(cfg.ExcludeDevices.Devices, cfg.ExcludeDevices.MatchType),
		},
		fsTypes: matcher{
			include: newNameSet(cfg.IncludeFSTypes.FSTypes, cfg.IncludeFSTypes.MatchType),
			exclude: newNameSet(cfg.ExcludeFSTypes.FSTypes, cfg.ExcludeFSTypes.MatchType),
		},
		mounts: matcher{
			include: newNameSet(cfg.IncludeMountPoints.MountPoints, cfg.IncludeMountPoints.MatchType),
			exclude: newNameSet(cfg.ExcludeMountPoints.MountPoints, cfg.ExcludeMountPoints.MatchType),
		},
		statfs:     statfs,
		partitions: disk.PartitionsWithContext,
		pending:    map[string]bool{},
	}
}

func (s *filesystemScraper) name() string           { return scraperFilesystem }
func (s *filesystemScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s *filesystemScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	parts, err := s.partitions(ctx, s.cfg.IncludeVirtualFilesystems)
	if err != nil {
		fail(reasonRead, fmt.Errorf("list mounts: %w", err))
		if len(parts) == 0 {
			return
		}
	}
	// Mounts are measured one after another: each costs one syscall, and a
	// hung one costs at most statfs_timeout.
	for _, p := range parts {
		if !s.devices.selects(p.Device) || !s.fsTypes.selects(p.Fstype) || !s.mounts.selects(p.Mountpoint) {
			continue
		}
		st, err := s.measure(ctx, p.Mountpoint)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			reason := reasonStatfs
			switch {
			case errors.Is(err, errStatfsTimeout):
				reason = reasonTimeout
			case errors.Is(err, errStatfsHung):
				reason = reasonHung
			}
			fail(reason, fmt.Errorf("statfs %s (%s): %w", p.Mountpoint, p.Fstype, err))
			continue
		}
		mode := "rw"
		if slices.Contains(p.Opts, "ro") {
			mode = "ro"
		}
		kv := []string{attrDevice, p.Device, attrMode, mode, attrMountpoint, p.Mountpoint, attrType, p.Fstype}
		used := sub(st.Total, st.Free)
		reserved := sub(st.Free, st.Avail)
		b.int(mFSUsage, int64(used), append(kv, attrState, "used")...)
		b.int(mFSUsage, int64(st.Avail), append(kv, attrState, "free")...)
		b.int(mFSUsage, int64(reserved), append(kv, attrState, "reserved")...)
		b.int(mFSInodes, int64(sub(st.Inodes, st.InodesFree)), append(kv, attrState, "used")...)
		b.int(mFSInodes, int64(st.InodesFree), append(kv, attrState, "free")...)
		if st.Total > 0 {
			b.double(mFSUtilization, float64(used)/float64(used+st.Avail), kv...)
		}
	}
}

var errStatfsHung = errors.New("an earlier statfs of this mount has not returned")

// measure runs statfs of a mount point (under root_path) bounded by
// statfs_timeout. A call that times out keeps running in its goroutine
// (a syscall cannot be interrupted); until it returns, the mount point is
// not measured again.
func (s *filesystemScraper) measure(ctx context.Context, mountpoint string) (fsStat, error) {
	s.mu.Lock()
	if s.pending[mountpoint] {
		s.mu.Unlock()
		return fsStat{}, errStatfsHung
	}
	s.pending[mountpoint] = true
	s.mu.Unlock()

	path := mountpoint
	if s.root != "" && s.root != "/" {
		path = filepath.Join(s.root, mountpoint)
	}
	type result struct {
		st  fsStat
		err error
	}
	done := make(chan result, 1) // buffered: a late answer never blocks
	s.wg.Go(func() {
		st, err := s.statfs(path)
		s.mu.Lock()
		delete(s.pending, mountpoint)
		s.mu.Unlock()
		done <- result{st, err}
	})
	t := time.NewTimer(s.cfg.StatfsTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.st, r.err
	case <-t.C:
		return fsStat{}, fmt.Errorf("%w (statfs_timeout %s)", errStatfsTimeout, s.cfg.StatfsTimeout)
	case <-ctx.Done():
		return fsStat{}, ctx.Err()
	}
}
