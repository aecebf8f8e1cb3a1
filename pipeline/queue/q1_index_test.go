package queue

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// writeBacklog writes n records of bodySize bytes (ids from 0) into lane's
// directory under dir as segment files of about segSize bytes each, as a
// queue would have written them, without a cursor: a backlog left by an
// earlier process. It returns the total of the records' items and the
// bytes written.
func writeBacklog(tb testing.TB, dir string, lane Lane, n, bodySize int, segSize int64) (items int, bytes int64) {
	tb.Helper()
	laneDir := filepath.Join(dir, lane.String())
	if err := os.MkdirAll(laneDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	var buf []byte
	segNum := uint64(1)
	flush := func() {
		if err := os.WriteFile(filepath.Join(laneDir, segName(segNum)), buf, 0o644); err != nil {
			tb.Fatal(err)
		}
		bytes += int64(len(buf))
		segNum++
		buf = buf[:0]
	}
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	for id := range n {
		if len(buf) == 0 {
			buf = append(buf, encodeSegHeader(lane)...)
		}
		rec := Record{Lane: lane, Items: id%7 + 1, Signal: "traces", Encoding: "proto", Body: testBody(uint64(id), bodySize)}
		items += rec.Items
		buf = appendRecord(buf, &rec, created+int64(id))
		if int64(len(buf)) >= segSize {
			flush()
		}
	}
	if len(buf) > 0 {
		flush()
	}
	return items, bytes
}

// heapAlloc returns HeapAlloc (bytes of live heap objects) after a full
// collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestFault6_IndexHeapIsBounded opens a backlog of 280k small records and
// measures the heap the open queue holds: it must stay well under 1 MiB
// per 100k records (the old per-record index cost about 58 bytes a record,
// 15.6 MiB here). The records must all still be there, in order, with
// their counts.
func TestFault6_IndexHeapIsBounded(t *testing.T) {
	const n = 280_000
	dir := t.TempDir()
	lim := Limits{MaxBytes: 32 << 20, Fsync: FsyncInterval, FsyncInterval: time.Hour} // 2 MiB segments
	items, bytes := writeBacklog(t, dir, LaneNormal, n, 16, segmentSize(lim.MaxBytes))

	before := heapAlloc()
	start := time.Now()
	q := openQueue(t, Options{Dir: dir, Limits: lim})
	openTime := time.Since(start)
	after := heapAlloc()
	heap := int64(after) - int64(before)
	st := q.Stats()[LaneNormal]
	t.Logf("%d records (%d bytes on disk, %d segments): Open took %v; heap after Open %d bytes, of which the open queue holds %d (%.1f bytes a record, %.3f MiB per 100k records)",
		n, bytes, segmentFiles(t, dir, LaneNormal), openTime.Round(time.Millisecond), after, heap, float64(heap)/n, float64(heap)/(1<<20)/(n/100_000.0))
	if limit := int64(n / 100_000 * (1 << 20)); heap > limit {
		t.Errorf("the open queue holds %d bytes of heap for %d records, want under %d", heap, n, limit)
	}
	if st.Records != n || st.Items != items || st.Bytes != bytes {
		t.Errorf("Stats %+v, want %d records, %d items, %d bytes", st, n, items, bytes)
	}
	if want := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC); !st.Oldest.Equal(want) {
		t.Errorf("Oldest = %v, want %v", st.Oldest, want)
	}
	// Read a run with out-of-order acks; the cursor stops at the first
	// record not acknowledged.
	var ds []*Delivery
	for range 1000 {
		ds = append(ds, mustRead(t, q))
	}
	for i := len(ds) - 1; i >= 1; i-- {
		q.Ack(ds[i])
	}
	st = q.Stats()[LaneNormal]
	if st.Records != n-999 || !st.Oldest.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("after acking 999 of the first 1000 out of order: %+v", st)
	}
	// Only the record still in flight has an entry.
	q.mu.Lock()
	window := len(q.lanes[LaneNormal].window)
	q.mu.Unlock()
	if window != 1 {
		t.Errorf("%d entries in the window with 1 record in flight", window)
	}
	q.Ack(ds[0])
	if st = q.Stats()[LaneNormal]; st.Records != n-1000 || !st.Oldest.Equal(time.Date(2026, 3, 1, 12, 0, 0, 1000, time.UTC)) {
		t.Errorf("after acking the first 1000: %+v", st)
	}
	for i, d := range ds {
		if id := bodyID(d.Record.Body); id != uint64(i) {
			t.Fatalf("record %d has id %d", i, id)
		}
	}
	runtime.KeepAlive(q)
}

// BenchmarkOpenBacklog measures Open of a queue that holds a 1 GiB backlog
// of records with 200-byte bodies (about 4.5 million records, written
// once, outside the timer) and the heap the open queue holds (heap-MiB).
func BenchmarkOpenBacklog(b *testing.B) {
	dir := b.TempDir()
	lim := Limits{MaxBytes: 1 << 30, Fsync: FsyncInterval, FsyncInterval: time.Hour}
	const backlog = 1 << 30
	recSize := recordSize(&Record{Signal: "traces", Encoding: "proto", Body: make([]byte, 200)})
	n := int((backlog - 64*segHeaderSize) / recSize)
	_, bytes := writeBacklog(b, dir, LaneNormal, n, 200, segmentSize(lim.MaxBytes))
	b.Run("1GiB", func(b *testing.B) {
		b.SetBytes(bytes)
		b.ReportAllocs()
		var heap int64
		for b.Loop() {
			b.StopTimer()
			before := heapAlloc()
			b.StartTimer()
			q, err := Open(Options{Dir: dir, Limits: lim})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			heap = int64(heapAlloc()) - int64(before)
			if st := q.Stats()[LaneNormal]; st.Records != n {
				b.Fatalf("%d records, want %d", st.Records, n)
			}
			if err := q.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(n), "records")
	})
}
