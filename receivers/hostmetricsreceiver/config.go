package hostmetricsreceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"time"
)

// Defaults.
const (
	DefaultCollectionInterval = time.Minute
	DefaultInitialDelay       = time.Second
	DefaultStatfsTimeout      = 2 * time.Second
)

// DefaultExcludedFSTypes are the file system types the filesystem scraper
// skips unless exclude_fs_types is set: network and FUSE file systems,
// whose statfs can block for as long as the server is unreachable, and
// whose size is not this node's.
var DefaultExcludedFSTypes = []string{
	"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
	"lustre", "gpfs", "beegfs", "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone",
}

// Config configures a hostmetrics receiver. Its shape is the OpenTelemetry
// Collector's hostmetrics receiver's.
type Config struct {
	// CollectionInterval is the time between two scrapes (default 1m).
	CollectionInterval time.Duration `yaml:"collection_interval"`
	// InitialDelay is the wait after start before the first scrape
	// (default 1s).
	InitialDelay time.Duration `yaml:"initial_delay"`
	// RootPath is where the host's root file system is mounted when
	// outpost runs in a container (e.g. /hostfs with the host's / mounted
	// there read-only): /proc, /sys, /dev, /etc, /run and /var are read
	// under it, and file systems are measured at their mount point under
	// it. Empty or "/" reads the running system's own.
	RootPath string `yaml:"root_path"`
	// Scrapers names the scrapers to run; at least one. A scraper runs
	// when its key is present (`cpu: {}` or `cpu:`).
	Scrapers Scrapers `yaml:"scrapers"`
}

// Scrapers holds one optional section per scraper.
type Scrapers struct {
	CPU        *CPUConfig        `yaml:"cpu"`
	Memory     *MemoryConfig     `yaml:"memory"`
	Paging     *PagingConfig     `yaml:"paging"`
	Load       *LoadConfig       `yaml:"load"`
	Disk       *DiskConfig       `yaml:"disk"`
	Filesystem *FilesystemConfig `yaml:"filesystem"`
	Network    *NetworkConfig    `yaml:"network"`
	Processes  *ProcessesConfig  `yaml:"processes"`
}

// MetricsConfig turns single metrics of a scraper on or off by name, as
// the Collector's `metrics: {system.cpu.time: {enabled: false}}`.
type MetricsConfig map[string]MetricConfig

// MetricConfig is one metric's switch.
type MetricConfig struct {
	Enabled bool `yaml:"enabled"`
}

// CPUConfig configures the cpu scraper (system.cpu.time).
type CPUConfig struct {
	Metrics MetricsConfig `yaml:"metrics"`
}

// MemoryConfig configures the memory scraper (system.memory.*).
type MemoryConfig struct {
	Metrics MetricsConfig `yaml:"metrics"`
}

// PagingConfig configures the paging scraper (system.paging.*).
type PagingConfig struct {
	Metrics MetricsConfig `yaml:"metrics"`
}

// LoadConfig configures the load scraper (system.cpu.load_average.*).
type LoadConfig struct {
	// CPUAverage divides the load averages by the number of logical CPUs.
	CPUAverage bool          `yaml:"cpu_average"`
	Metrics    MetricsConfig `yaml:"metrics"`
}

// ProcessesConfig configures the processes scraper
// (system.processes.count, system.processes.created).
type ProcessesConfig struct {
	Metrics MetricsConfig `yaml:"metrics"`
}

// DiskConfig configures the disk scraper (system.disk.*).
type DiskConfig struct {
	// Include and Exclude select devices by name (sda, nvme0n1); with
	// neither, every device in /proc/diskstats is reported.
	Include DeviceMatch   `yaml:"include"`
	Exclude DeviceMatch   `yaml:"exclude"`
	Metrics MetricsConfig `yaml:"metrics"`
}

// DeviceMatch lists device names to match.
type DeviceMatch struct {
	Devices   []string `yaml:"devices"`
	MatchType string   `yaml:"match_type"`
}

// NetworkConfig configures the network scraper (system.network.*).
type NetworkConfig struct {
	// Include and Exclude select interfaces by name (eth0, lo).
	Include InterfaceMatch `yaml:"include"`
	Exclude InterfaceMatch `yaml:"exclude"`
	Metrics MetricsConfig  `yaml:"metrics"`
}

// InterfaceMatch lists interface names to match.
type InterfaceMatch struct {
	Interfaces []string `yaml:"interfaces"`
	MatchType  string   `yaml:"match_type"`
}

// FilesystemConfig configures the filesystem scraper
// (system.filesystem.*).
type FilesystemConfig struct {
	IncludeDevices     DeviceMatch     `yaml:"include_devices"`
	ExcludeDevices     DeviceMatch     `yaml:"exclude_devices"`
	IncludeFSTypes     FSTypeMatch     `yaml:"include_fs_types"`
	ExcludeFSTypes     FSTypeMatch     `yaml:"exclude_fs_types"`
	IncludeMountPoints MountPointMatch `yaml:"include_mount_points"`
	ExcludeMountPoints MountPointMatch `yaml:"exclude_mount_points"`
	// IncludeVirtualFilesystems also reports file systems without a
	// device (tmpfs, proc, sysfs, overlay, ...); default false.
	IncludeVirtualFilesystems bool `yaml:"include_virtual_filesystems"`
	// StatfsTimeout bounds the statfs of one mount (default 2s). A mount
	// whose statfs does not answer in time is skipped for this cycle and
	// counted (reason timeout); while that call is still stuck, the mount
	// is skipped without a new call, so a hung mount holds at most one
	// goroutine and delays at most one cycle, by the timeout.
	StatfsTimeout time.Duration `yaml:"statfs_timeout"`
	Metrics       MetricsConfig `yaml:"metrics"`
}

// SetDefaults implements configs.Defaulter.
func (c *FilesystemConfig) SetDefaults() {
	*c = FilesystemConfig{
		ExcludeFSTypes: FSTypeMatch{FSTypes: slices.Clone(DefaultExcludedFSTypes), MatchType: MatchStrict},
		StatfsTimeout:  DefaultStatfsTimeout,
	}
}

// FSTypeMatch lists file system types to match.
type FSTypeMatch struct {
	FSTypes   []string `yaml:"fs_types"`
	MatchType string   `yaml:"match_type"`
}

// MountPointMatch lists mount points to match.
type MountPointMatch struct {
	MountPoints []string `yaml:"mount_points"`
	MatchType   string   `yaml:"match_type"`
}

// Values of match_type.
const (
	MatchStrict = "strict"
	MatchRegexp = "regexp"
)

func createDefaultConfig() *Config {
	return &Config{
		CollectionInterval: DefaultCollectionInterval,
		InitialDelay:       DefaultInitialDelay,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval <= 0 {
		errs = append(errs, fmt.Errorf("collection_interval: must be > 0 (got %s)", c.CollectionInterval))
	}
	if c.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("initial_delay: must be ≥ 0 (got %s)", c.InitialDelay))
	}
	if c.RootPath != "" && !filepath.IsAbs(c.RootPath) {
		errs = append(errs, fmt.Errorf("root_path: must be an absolute path (got %q)", c.RootPath))
	}
	s := c.Scrapers
	if s == (Scrapers{}) {
		errs = append(errs, errors.New("scrapers: must name at least one of cpu, memory, paging, load, disk, filesystem, network, processes"))
	}
	if s.CPU != nil {
		errs = append(errs, validateMetrics("scrapers.cpu.metrics", s.CPU.Metrics, cpuMetrics))
	}
	if s.Memory != nil {
		errs = append(errs, validateMetrics("scrapers.memory.metrics", s.Memory.Metrics, memoryMetrics))
	}
	if s.Paging != nil {
		errs = append(errs, validateMetrics("scrapers.paging.metrics", s.Paging.Metrics, pagingMetrics))
	}
	if s.Load != nil {
		errs = append(errs, validateMetrics("scrapers.load.metrics", s.Load.Metrics, loadMetrics))
	}
	if s.Processes != nil {
		errs = append(errs, validateMetrics("scrapers.processes.metrics", s.Processes.Metrics, processesMetrics))
	}
	if d := s.Disk; d != nil {
		errs = append(errs, validateMetrics("scrapers.disk.metrics", d.Metrics, diskMetrics))
		errs = append(errs, validateMatch("scrapers.disk.include", "devices", d.Include.Devices, d.Include.MatchType))
		errs = append(errs, validateMatch("scrapers.disk.exclude", "devices", d.Exclude.Devices, d.Exclude.MatchType))
	}
	if n := s.Network; n != nil {
		errs = append(errs, validateMetrics("scrapers.network.metrics", n.Metrics, networkMetrics))
		errs = append(errs, validateMatch("scrapers.network.include", "interfaces", n.Include.Interfaces, n.Include.MatchType))
		errs = append(errs, validateMatch("scrapers.network.exclude", "interfaces", n.Exclude.Interfaces, n.Exclude.MatchType))
	}
	if f := s.Filesystem; f != nil {
		errs = append(errs, validateMetrics("scrapers.filesystem.metrics", f.Metrics, filesystemMetrics))
		errs = append(errs, validateMatch("scrapers.filesystem.include_devices", "devices", f.IncludeDevices.Devices, f.IncludeDevices.MatchType))
		errs = append(errs, validateMatch("scrapers.filesystem.exclude_devices", "devices", f.ExcludeDevices.Devices, f.ExcludeDevices.MatchType))
		errs = append(errs, validateMatch("scrapers.filesystem.include_fs_types", "fs_types", f.IncludeFSTypes.FSTypes, f.IncludeFSTypes.MatchType))
		errs = append(errs, validateMatch("scrapers.filesystem.exclude_fs_types", "fs_types", f.ExcludeFSTypes.FSTypes, f.ExcludeFSTypes.MatchType))
		errs = append(errs, validateMatch("scrapers.filesystem.include_mount_points", "mount_points", f.IncludeMountPoints.MountPoints, f.IncludeMountPoints.MatchType))
		errs = append(errs, validateMatch("scrapers.filesystem.exclude_mount_points", "mount_points", f.ExcludeMountPoints.MountPoints, f.ExcludeMountPoints.MatchType))
		if f.StatfsTimeout <= 0 {
			errs = append(errs, fmt.Errorf("scrapers.filesystem.statfs_timeout: must be > 0 (got %s)", f.StatfsTimeout))
		}
	}
	return errors.Join(errs...)
}

// validateMetrics checks that every name in m is a metric of the scraper.
func validateMetrics(key string, m MetricsConfig, known []metricDef) error {
	var errs []error
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !slices.ContainsFunc(known, func(d metricDef) bool { return d.name == name }) {
			var all []string
			for _, d := range known {
				all = append(all, d.name)
			}
			errs = append(errs, fmt.Errorf("%s.%s: not a metric of this scraper (known: %v)", key, name, all))
		}
	}
	return errors.Join(errs...)
}

// validateMatch checks one include/exclude list.
func validateMatch(key, listKey string, items []string, matchType string) error {
	if len(items) == 0 {
		if matchType != "" && matchType != MatchStrict && matchType != MatchRegexp {
			return fmt.Errorf("%s.match_type: must be strict or regexp (got %q)", key, matchType)
		}
		return nil
	}
	switch matchType {
	case MatchStrict:
	case MatchRegexp:
		var errs []error
		for i, s := range items {
			if _, err := regexp.Compile(s); err != nil {
				errs = append(errs, fmt.Errorf("%s.%s[%d]: invalid regular expression: %w", key, listKey, i, err))
			}
		}
		return errors.Join(errs...)
	case "":
		return fmt.Errorf("%s.match_type: required with %s (strict or regexp)", key, listKey)
	default:
		return fmt.Errorf("%s.match_type: must be strict or regexp (got %q)", key, matchType)
	}
	return nil
}
