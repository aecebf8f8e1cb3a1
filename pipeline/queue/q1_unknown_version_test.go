package queue

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// futureSegment is a segment file as a later format version might write
// it: an intact header with version 2, then bytes this binary must not
// interpret.
func futureSegment(size int, seed byte) []byte {
	b := make([]byte, size)
	copy(b, segMagic[:])
	binary.LittleEndian.PutUint16(b[6:], formatVersion+1)
	b[8] = byte(LaneNormal)
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	for i := segHeaderSize; i < size; i++ {
		b[i] = seed + byte(i*7)
	}
	return b
}

// TestFault5_UnknownVersionSegmentsAreNeverDeleted: a lane holds 6
// segments of a future format version (a rollback after an upgrade) and 6
// damaged segments whose intact records are then consumed, which sets the
// damaged ones aside and prunes .bad files beyond keepBad. All 6
// future-version segments must still be on disk, before and after another
// Open, and outpost_queue_unreadable_bytes must be their total size.
func TestFault5_UnknownVersionSegmentsAreNeverDeleted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lim := Limits{MaxBytes: 1 << 20} // 64 KiB segments
	q, err := Open(Options{Dir: dir, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	for id := range uint64(36) { // 6 records of 10 KB per segment: 6 segments
		if err := q.Append(testRecord(LaneNormal, id, 10000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	laneDir := filepath.Join(dir, LaneNormal.String())
	names, _ := filepath.Glob(filepath.Join(laneDir, "*"+segSuffix))
	if len(names) < 6 {
		t.Fatalf("%d segments, want at least 6", len(names))
	}
	// Damage a byte in the middle of every segment: each gets a skipped
	// region, so each is set aside once its records are consumed.
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xFF
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var futureNames []string
	var futureBytes int64
	for i := range 6 {
		size := 1000 + 3000*i
		name := filepath.Join(laneDir, segName(uint64(1000+i)))
		if err := os.WriteFile(name, futureSegment(size, byte(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		futureNames = append(futureNames, filepath.Base(name))
		futureBytes += int64(size)
	}

	tel := selftelemetry.New()
	q, err = Open(Options{Dir: dir, Limits: lim, Exporter: "rollback", Telemetry: tel})
	if err != nil {
		t.Fatal(err)
	}
	delivered := len(drainIDs(q))
	gauge := testutil.ToFloat64(tel.QueueUnreadable.WithLabelValues("rollback", "normal"))
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// Another Open finds the kept segments and reports them again.
	tel2 := selftelemetry.New()
	openQueue(t, Options{Dir: dir, Limits: lim, Exporter: "rollback", Telemetry: tel2})
	gauge2 := testutil.ToFloat64(tel2.QueueUnreadable.WithLabelValues("rollback", "normal"))

	kept := 0
	for _, n := range futureNames {
		matches, _ := filepath.Glob(filepath.Join(laneDir, n+"*"))
		for _, m := range matches {
			if b, err := os.ReadFile(m); err == nil && segHeaderUnknown(b) {
				kept++
			}
		}
	}
	bad, _ := filepath.Glob(filepath.Join(laneDir, "*"+badSuffix))
	t.Logf("6 future-version segments (%d bytes) + %d damaged segments: %d records delivered; future-version segments still on disk %d of 6; unreadable_bytes gauge %v (after reopen %v); .bad files %d",
		futureBytes, len(names), delivered, kept, gauge, gauge2, len(bad))
	if kept != 6 {
		t.Errorf("%d of 6 future-version segments left on disk", kept)
	}
	if gauge != float64(futureBytes) || gauge2 != float64(futureBytes) {
		t.Errorf("outpost_queue_unreadable_bytes = %v, after reopen %v; want %d", gauge, gauge2, futureBytes)
	}
	if len(bad) > keepBad {
		t.Errorf("%d .bad files, want at most %d", len(bad), keepBad)
	}
}

func segHeaderUnknown(b []byte) bool {
	st, _ := checkSegHeader(b)
	return st == headerUnknown
}
