// Package hostmetricsreceiver reads the host's own metrics (CPU, memory,
// paging, load, disks, file systems, network interfaces, process counts)
// at collection_interval and hands them to a metrics pipeline: the
// `hostmetrics` receiver, shaped like the OpenTelemetry Collector's.
//
// Names, units, types and attributes are those of the OpenTelemetry system
// semantic conventions as the Collector's hostmetrics receiver writes them
// (system.cpu.time{cpu,state} in s, system.memory.usage{state} in By,
// system.filesystem.usage{device,mode,mountpoint,type,state}, ...; see
// metrics.go and docs/configuration.md). Cumulative sums start at boot
// (btime of /proc/stat). The memory states partition MemTotal, so they sum
// to it. The data is read with github.com/shirou/gopsutil/v4; root_path is
// passed to gopsutil through its context keys (HOST_PROC, HOST_SYS, ...),
// never through the process environment, so two receivers with different
// roots do not disturb each other.
//
// Bounded: a cycle holds one batch; statfs of a mount is bounded by
// statfs_timeout and a hung mount holds at most one goroutine (see
// filesystemScraper.measure); network file systems are excluded by
// default. The batch is charged to memory_limit before it is handed on
// (internal/scrapeloop); a refused cycle is dropped and counted, not
// retried. What a scraper failed to read is counted in
// outpost_receiver_scraper_errors_total by reason.
//
// It decodes no external input (only the kernel's /proc and /sys, through
// gopsutil), so it has no fuzz target. It reads Linux only: other systems
// build but their scrapers report read errors. It deliberately has no
// per-process scraper (process metrics cost one /proc walk per cycle and
// many series) and no system.network.connections (a walk of every
// socket).
package hostmetricsreceiver
