package testutil

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// PerItem runs f in b's loop and reports, besides ns/op, B/op and
// allocs/op, the cost of each of the items that one call handles:
// ns/<unit> (wall clock), cpu-ns/<unit> (CPU time of the whole process,
// garbage collection included: on a machine shared with other work it
// varies less than the wall clock), B/<unit> (bytes allocated) and
// allocs/<unit>. items is the number of items one call of f handles
// (data points, log records); allocations are read from runtime.MemStats
// around the loop, as b.ReportAllocs does.
func PerItem(b *testing.B, items int, unit string, f func()) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	for b.Loop() {
		f()
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	n := float64(b.N) * float64(items)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/"+unit)
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/"+unit)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/"+unit)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/"+unit)
}

// cpuTime is the user and system CPU time the process has used, or 0 if
// it cannot be read.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
