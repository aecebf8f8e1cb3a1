package hostmetricsreceiver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shirou/gopsutil/v4/disk"
)

// TestHungMount: a mount whose statfs blocks (a hung NFS server) costs a
// cycle at most statfs_timeout; the other mounts are measured; the hung
// mount is counted (timeout, then hung while the call is stuck) and
// measured again once its call returns. Network file systems are not
// even tried by default.
func TestHungMount(t *testing.T) {
	s := newSink()
	r, tel := newTestReceiver(t, "scrapers: {filesystem: {statfs_timeout: 50ms}}", s, nil)
	fs := r.scrapers[0].(*filesystemScraper)
	release := make(chan struct{})
	called := map[string]int{}
	calls := make(chan string, 100)
	fs.partitions = func(context.Context, bool) ([]disk.PartitionStat, error) {
		return []disk.PartitionStat{
			{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4", Opts: []string{"rw"}},
			{Device: "/dev/sdb1", Mountpoint: "/data", Fstype: "xfs", Opts: []string{"ro"}},
			{Device: "/dev/sdc1", Mountpoint: "/stuck", Fstype: "ext4", Opts: []string{"rw"}},
			{Device: "srv:/export", Mountpoint: "/mnt/nfs", Fstype: "nfs4", Opts: []string{"rw"}},
			{Device: "me@host:", Mountpoint: "/mnt/ssh", Fstype: "fuse.sshfs", Opts: []string{"rw"}},
		}, nil
	}
	fs.statfs = func(path string) (fsStat, error) {
		calls <- path
		if path == "/stuck" {
			<-release
		}
		if path == "/data" {
			return fsStat{}, errors.New("permission denied")
		}
		return fsStat{Total: 1000, Free: 400, Avail: 300, Inodes: 10, InodesFree: 4}, nil
	}
	errCount := func(reason string) float64 {
		return testutil.ToFloat64(tel.Scrapers.Errors.WithLabelValues("hostmetrics", "filesystem", reason))
	}
	cycle := func() map[string][]point {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- r.loop.Cycle(context.Background()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("cycle blocked on a hung mount")
		}
		drain := true
		for drain {
			select {
			case p := <-calls:
				called[p]++
			default:
				drain = false
			}
		}
		return points(s.last(t))
	}

	pts := cycle()
	mounts := map[string]bool{}
	for _, p := range pts["system.filesystem.usage"] {
		mounts[attrs(p.dp)["mountpoint"]] = true
	}
	if !mounts["/"] || len(mounts) != 1 {
		t.Errorf("measured mounts %v, want only /", mounts)
	}
	if errCount("timeout") != 1 || errCount("statfs") != 1 || errCount("hung") != 0 {
		t.Errorf("errors timeout %v statfs %v hung %v", errCount("timeout"), errCount("statfs"), errCount("hung"))
	}
	want := map[string]float64{"used": 600, "free": 300, "reserved": 100}
	for _, p := range pts["system.filesystem.usage"] {
		a := attrs(p.dp)
		if value(p.dp) != want[a["state"]] || a["device"] != "/dev/sda1" || a["type"] != "ext4" || a["mode"] != "rw" {
			t.Errorf("point %v = %v", a, value(p.dp))
		}
	}

	// Still stuck: skipped without a new call.
	cycle()
	if errCount("hung") != 1 || called["/stuck"] != 1 {
		t.Errorf("second cycle: hung %v, statfs calls of /stuck %d", errCount("hung"), called["/stuck"])
	}
	if called["/mnt/nfs"] != 0 || called["/mnt/ssh"] != 0 {
		t.Errorf("network file systems measured: %v", called)
	}

	// Unstuck: measured again.
	close(release)
	fs.wg.Wait()
	pts = cycle()
	mounts = map[string]bool{}
	for _, p := range pts["system.filesystem.usage"] {
		mounts[attrs(p.dp)["mountpoint"]] = true
	}
	if !mounts["/stuck"] || called["/stuck"] != 2 {
		t.Errorf("after release: mounts %v, calls %v", mounts, called)
	}
}

// TestFilesystemFilters: include and exclude lists of devices, types and
// mount points, strict and regexp.
func TestFilesystemFilters(t *testing.T) {
	parts := []disk.PartitionStat{
		{Device: "/dev/sda1", Mountpoint: "/", Fstype: "ext4"},
		{Device: "/dev/sda2", Mountpoint: "/boot", Fstype: "vfat"},
		{Device: "/dev/loop0", Mountpoint: "/snap/core/1", Fstype: "squashfs"},
		{Device: "/dev/nvme0n1p1", Mountpoint: "/var/lib/data", Fstype: "xfs"},
	}
	for _, tc := range []struct {
		cfg  string
		want []string
	}{
		{"{}", []string{"/", "/boot", "/snap/core/1", "/var/lib/data"}},
		{"{exclude_fs_types: {fs_types: [squashfs], match_type: strict}}", []string{"/", "/boot", "/var/lib/data"}},
		{"{include_fs_types: {fs_types: [ext4, xfs], match_type: strict}}", []string{"/", "/var/lib/data"}},
		{"{exclude_devices: {devices: ['^/dev/loop'], match_type: regexp}}", []string{"/", "/boot", "/var/lib/data"}},
		{"{include_devices: {devices: [/dev/sda2], match_type: strict}}", []string{"/boot"}},
		{"{exclude_mount_points: {mount_points: ['^/snap/', '^/boot$'], match_type: regexp}}", []string{"/", "/var/lib/data"}},
		{"{include_mount_points: {mount_points: ['^/var'], match_type: regexp}, exclude_fs_types: {fs_types: [ext4], match_type: strict}}", []string{"/var/lib/data"}},
	} {
		s := newSink()
		r, _ := newTestReceiver(t, "scrapers: {filesystem: "+tc.cfg+"}", s, nil)
		fs := r.scrapers[0].(*filesystemScraper)
		fs.partitions = func(context.Context, bool) ([]disk.PartitionStat, error) { return parts, nil }
		fs.statfs = func(string) (fsStat, error) { return fsStat{Total: 10, Free: 5, Avail: 5}, nil }
		if err := r.loop.Cycle(context.Background()); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range points(s.last(t))["system.filesystem.usage"] {
			if a := attrs(p.dp); a["state"] == "used" {
				got = append(got, a["mountpoint"])
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: mounts %v, want %v", tc.cfg, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: mounts %v, want %v", tc.cfg, got, tc.want)
				break
			}
		}
	}
}
