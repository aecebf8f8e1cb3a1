package hostmetricsreceiver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
)

// Scraper names: the keys under `scrapers`, the scraper label of
// outpost_receiver_scraper_errors_total and the last element of each
// scope name.
const (
	scraperCPU        = "cpu"
	scraperMemory     = "memory"
	scraperPaging     = "paging"
	scraperLoad       = "load"
	scraperDisk       = "disk"
	scraperFilesystem = "filesystem"
	scraperNetwork    = "network"
	scraperProcesses  = "processes"
)

// Values of the reason label of outpost_receiver_scraper_errors_total.
const (
	reasonRead    = "read"    // a kernel source (/proc, /sys) could not be read or parsed
	reasonStatfs  = "statfs"  // statfs of a mount failed
	reasonTimeout = "timeout" // statfs of a mount did not answer within statfs_timeout
	reasonHung    = "hung"    // a mount skipped because an earlier statfs of it has still not returned
)

// scraper fills one scope of a cycle's batch. It reports failures through
// fail (counted by reason) and emits what it could read.
type scraper interface {
	name() string
	metrics() MetricsConfig
	scrape(ctx context.Context, b *batch, fail failFunc)
}

// failFunc counts one failure of a scraper and keeps err for the log.
type failFunc func(reason string, err error)

// hostEnv returns ctx carrying gopsutil's host paths under root, so that
// every gopsutil call reads the host's /proc, /sys, ... without changing
// the process environment. root "" or "/" leaves ctx as it is.
func hostEnv(ctx context.Context, root string) context.Context {
	if root == "" || root == "/" {
		return ctx
	}
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: filepath.Join(root, "proc"),
		common.HostSysEnvKey:  filepath.Join(root, "sys"),
		common.HostEtcEnvKey:  filepath.Join(root, "etc"),
		common.HostVarEnvKey:  filepath.Join(root, "var"),
		common.HostRunEnvKey:  filepath.Join(root, "run"),
		common.HostDevEnvKey:  filepath.Join(root, "dev"),
		common.HostRootEnvKey: root,
	})
}

// bootTime reads the boot time (Unix seconds) from the btime line of
// <proc>/stat.
func bootTime(procDir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return 0, fmt.Errorf("read boot time: %w", err)
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if v, ok := bytes.CutPrefix(s.Bytes(), []byte("btime ")); ok {
			t, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read boot time: parse %q: %w", v, err)
			}
			return t, nil
		}
	}
	return 0, fmt.Errorf("read boot time: no btime line in %s", filepath.Join(procDir, "stat"))
}

// matcher selects names by an include and an exclude list: a name is
// selected when include is empty or matches it, and exclude does not.
// Regular expressions are unanchored, as the Collector's filters.
type matcher struct {
	include, exclude nameSet
}

type nameSet struct {
	strict []string
	re     []*regexp.Regexp
}

func newNameSet(items []string, matchType string) nameSet {
	if matchType == MatchRegexp {
		var s nameSet
		for _, it := range items {
			s.re = append(s.re, regexp.MustCompile(it)) // checked by Validate
		}
		return s
	}
	return nameSet{strict: items}
}

func (s nameSet) empty() bool { return len(s.strict) == 0 && len(s.re) == 0 }

func (s nameSet) match(name string) bool {
	if slices.Contains(s.strict, name) {
		return true
	}
	for _, re := range s.re {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

func (m matcher) selects(name string) bool {
	if !m.include.empty() && !m.include.match(name) {
		return false
	}
	return !m.exclude.match(name)
}

type cpuScraper struct{ cfg *CPUConfig }

func (s cpuScraper) name() string           { return scraperCPU }
func (s cpuScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s cpuScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	times, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		fail(reasonRead, fmt.Errorf("cpu times: %w", err))
		return
	}
	for _, t := range times {
		// The modes of /proc/stat; guest time is already in user and nice.
		for _, st := range []struct {
			state string
			v     float64
		}{
			{"user", t.User}, {"system", t.System}, {"idle", t.Idle}, {"interrupt", t.Irq},
			{"nice", t.Nice}, {"softirq", t.Softirq}, {"steal", t.Steal}, {"wait", t.Iowait},
		} {
			b.double(mCPUTime, st.v, attrCPU, t.CPU, attrState, st.state)
		}
	}
}

type memoryScraper struct{ cfg *MemoryConfig }

func (s memoryScraper) name() string           { return scraperMemory }
func (s memoryScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s memoryScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		fail(reasonRead, fmt.Errorf("memory: %w", err))
		return
	}
	// The states partition MemTotal, so that they sum to it: gopsutil's
	// Cached includes SReclaimable, which has its own state here.
	cached := sub(vm.Cached, vm.Sreclaimable)
	parts := []struct {
		state string
		v     uint64
	}{
		{"free", vm.Free},
		{"buffered", vm.Buffers},
		{"cached", cached},
		{"slab_reclaimable", vm.Sreclaimable},
		{"slab_unreclaimable", vm.Sunreclaim},
	}
	used := vm.Total
	for _, p := range parts {
		used = sub(used, p.v)
	}
	parts = append([]struct {
		state string
		v     uint64
	}{{"used", used}}, parts...)
	for _, p := range parts {
		b.int(mMemUsage, int64(p.v), attrState, p.state)
		if vm.Total > 0 {
			b.double(mMemUtilization, float64(p.v)/float64(vm.Total), attrState, p.state)
		}
	}
	b.int(mMemLimit, int64(vm.Total))
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

type pagingScraper struct{ cfg *PagingConfig }

func (s pagingScraper) name() string           { return scraperPaging }
func (s pagingScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s pagingScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	devs, err := mem.SwapDevicesWithContext(ctx)
	if err != nil {
		fail(reasonRead, fmt.Errorf("swap devices: %w", err))
	}
	for _, d := range devs {
		b.int(mPagingUsage, int64(d.UsedBytes), attrDevice, d.Name, attrState, "used")
		b.int(mPagingUsage, int64(d.FreeBytes), attrDevice, d.Name, attrState, "free")
		if total := d.UsedBytes + d.FreeBytes; total > 0 {
			b.double(mPagingUtilization, float64(d.UsedBytes)/float64(total), attrDevice, d.Name, attrState, "used")
			b.double(mPagingUtilization, float64(d.FreeBytes)/float64(total), attrDevice, d.Name, attrState, "free")
		}
	}
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		fail(reasonRead, fmt.Errorf("vmstat: %w", err))
		return
	}
	// pswpin/pswpout (pages swapped) are major operations; pgpgin/pgpgout
	// (pages paged through the page cache) minor ones.
	b.int(mPagingOperations, int64(sw.Sin), attrDirection, "page_in", attrType, "major")
	b.int(mPagingOperations, int64(sw.Sout), attrDirection, "page_out", attrType, "major")
	b.int(mPagingOperations, int64(sw.PgIn), attrDirection, "page_in", attrType, "minor")
	b.int(mPagingOperations, int64(sw.PgOut), attrDirection, "page_out", attrType, "minor")
	b.int(mPagingFaults, int64(sw.PgMajFault), attrType, "major")
	b.int(mPagingFaults, int64(sub(sw.PgFault, sw.PgMajFault)), attrType, "minor")
}

type loadScraper struct{ cfg *LoadConfig }

func (s loadScraper) name() string           { return scraperLoad }
func (s loadScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s loadScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	avg, err := load.AvgWithContext(ctx)
	if err != nil {
		fail(reasonRead, fmt.Errorf("load average: %w", err))
		return
	}
	div := 1.0
	if s.cfg.CPUAverage {
		n, err := cpu.CountsWithContext(ctx, true)
		if err != nil || n <= 0 {
			fail(reasonRead, fmt.Errorf("count logical CPUs: %w", err))
			return
		}
		div = float64(n)
	}
	b.double(mLoad1, avg.Load1/div)
	b.double(mLoad5, avg.Load5/div)
	b.double(mLoad15, avg.Load15/div)
}

type processesScraper struct{ cfg *ProcessesConfig }

func (s processesScraper) name() string           { return scraperProcesses }
func (s processesScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s processesScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	m, err := load.MiscWithContext(ctx)
	if err != nil {
		fail(reasonRead, fmt.Errorf("process counts: %w", err))
		return
	}
	b.int(mProcCount, int64(m.ProcsRunning), attrStatus, "running")
	b.int(mProcCount, int64(m.ProcsBlocked), attrStatus, "blocked")
	b.int(mProcCreated, int64(m.ProcsCreated))
}

type diskScraper struct {
	cfg   *DiskConfig
	match matcher
}

func newDiskScraper(cfg *DiskConfig) diskScraper {
	return diskScraper{cfg: cfg, match: matcher{
		include: newNameSet(cfg.Include.Devices, cfg.Include.MatchType),
		exclude: newNameSet(cfg.Exclude.Devices, cfg.Exclude.MatchType),
	}}
}

func (s diskScraper) name() string           { return scraperDisk }
func (s diskScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s diskScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	io, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		fail(reasonRead, fmt.Errorf("disk counters: %w", err))
		return
	}
	names := make([]string, 0, len(io))
	for name := range io {
		if s.match.selects(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	const ms = 1e-3
	for _, name := range names {
		d := io[name]
		b.int(mDiskIO, int64(d.ReadBytes), attrDevice, name, attrDirection, "read")
		b.int(mDiskIO, int64(d.WriteBytes), attrDevice, name, attrDirection, "write")
		b.int(mDiskOperations, int64(d.ReadCount), attrDevice, name, attrDirection, "read")
		b.int(mDiskOperations, int64(d.WriteCount), attrDevice, name, attrDirection, "write")
		b.double(mDiskIOTime, float64(d.IoTime)*ms, attrDevice, name)
		b.double(mDiskOperationTime, float64(d.ReadTime)*ms, attrDevice, name, attrDirection, "read")
		b.double(mDiskOperationTime, float64(d.WriteTime)*ms, attrDevice, name, attrDirection, "write")
		b.double(mDiskWeightedIOTime, float64(d.WeightedIO)*ms, attrDevice, name)
		b.int(mDiskPending, int64(d.IopsInProgress), attrDevice, name)
		b.int(mDiskMerged, int64(d.MergedReadCount), attrDevice, name, attrDirection, "read")
		b.int(mDiskMerged, int64(d.MergedWriteCount), attrDevice, name, attrDirection, "write")
	}
}

type networkScraper struct {
	cfg   *NetworkConfig
	match matcher
}

func newNetworkScraper(cfg *NetworkConfig) networkScraper {
	return networkScraper{cfg: cfg, match: matcher{
		include: newNameSet(cfg.Include.Interfaces, cfg.Include.MatchType),
		exclude: newNameSet(cfg.Exclude.Interfaces, cfg.Exclude.MatchType),
	}}
}

func (s networkScraper) name() string           { return scraperNetwork }
func (s networkScraper) metrics() MetricsConfig { return s.cfg.Metrics }

func (s networkScraper) scrape(ctx context.Context, b *batch, fail failFunc) {
	ifs, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		fail(reasonRead, fmt.Errorf("network counters: %w", err))
		return
	}
	for _, n := range ifs {
		if !s.match.selects(n.Name) {
			continue
		}
		dev := n.Name
		b.int(mNetIO, int64(n.BytesRecv), attrDevice, dev, attrDirection, "receive")
		b.int(mNetIO, int64(n.BytesSent), attrDevice, dev, attrDirection, "transmit")
		b.int(mNetPackets, int64(n.PacketsRecv), attrDevice, dev, attrDirection, "receive")
		b.int(mNetPackets, int64(n.PacketsSent), attrDevice, dev, attrDirection, "transmit")
		b.int(mNetErrors, int64(n.Errin), attrDevice, dev, attrDirection, "receive")
		b.int(mNetErrors, int64(n.Errout), attrDevice, dev, attrDirection, "transmit")
		b.int(mNetDropped, int64(n.Dropin), attrDevice, dev, attrDirection, "receive")
		b.int(mNetDropped, int64(n.Dropout), attrDevice, dev, attrDirection, "transmit")
	}
}
