package testutil

import (
	"runtime"
	"testing"
)

// PerItem runs f in b's loop and reports, besides ns/op, B/op and
// allocs/op, the cost of each of the items that one call handles:
// ns/<unit>, B/<unit> (bytes allocated) and allocs/<unit>. items is the
// number of items one call of f handles (data points, log records);
// allocations are read from runtime.MemStats around the loop, as
// b.ReportAllocs does.
func PerItem(b *testing.B, items int, unit string, f func()) {
	b.Helper()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		f()
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N) * float64(items)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/"+unit)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/"+unit)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/"+unit)
}
