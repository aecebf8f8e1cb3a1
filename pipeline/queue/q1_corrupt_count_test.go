package queue

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// TestFault1_CorruptItemsAreCounted: items lost to real corruption are
// counted in QueueDropped{reason="corrupt"}, whether Open finds the damage
// (estimated from the damaged record's header) or Read finds it in a
// record the scan had counted (exact). Delivered items + dropped items =
// appended items, and the lane's gauges come back to 0.
func TestFault1_CorruptItemsAreCounted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		afterOpen bool // damage the file after Open scanned it
		where     string
	}{
		{"body byte, found at Open", false, "body"},
		{"body byte, found by Read", true, "body"},
		{"length field, found at Open", false, "length"},
		{"length field, found by Read", true, "length"},
		{"two records, found by Read", true, "two"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			lim := Limits{MaxBytes: 1 << 20} // 64 KiB segments
			q, err := Open(Options{Dir: dir, Limits: lim})
			if err != nil {
				t.Fatal(err)
			}
			const n = 40
			total := 0
			for id := range uint64(n) {
				rec := testRecord(LaneNormal, id, 3000)
				total += rec.Items
				if err := q.Append(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			spans := identifySpans(t, dir, liveSpans(t, dir))
			damage := func() (lostItems int) {
				victims := []recordSpan{spans[5]}
				if c.where == "two" {
					victims = append(victims, spans[6])
				}
				for _, s := range victims {
					path := filepath.Join(dir, s.lane.String(), segName(s.seg))
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if c.where == "length" {
						b[s.off+5] ^= 0x40
					} else {
						b[s.off+s.size-100] ^= 0xFF
					}
					if err := os.WriteFile(path, b, 0o644); err != nil {
						t.Fatal(err)
					}
					lostItems += int(s.id%7) + 1
				}
				return lostItems
			}
			var lost int
			if !c.afterOpen {
				lost = damage()
			}
			tel := selftelemetry.New()
			q = openQueue(t, Options{Dir: dir, Limits: lim, Exporter: "cc", Telemetry: tel})
			if c.afterOpen {
				lost = damage()
			}
			delivered, records := 0, 0
			for d := tryRead(q); d != nil; d = tryRead(q) {
				delivered += d.Record.Items
				records++
				q.Ack(d)
			}
			dropped := int(counterValue(t, tel, "dropped", "cc", "normal", "corrupt"))
			corrupt := counterValue(t, tel, "corrupt", "cc")
			st := q.Stats()[LaneNormal]
			gRecords, gItems := counterValue(t, tel, "records", "cc", "normal"), counterValue(t, tel, "items", "cc", "normal")
			t.Logf("%s: %d records (%d items) appended; delivered %d records (%d items); damaged records' items %d; dropped{reason=corrupt} %d; corrupt regions %v; records gauge %v, items gauge %v",
				c.name, n, total, records, delivered, lost, dropped, corrupt, gRecords, gItems)
			if delivered+dropped != total || dropped != lost {
				t.Errorf("delivered %d + dropped %d items != %d appended (lost %d)", delivered, dropped, total, lost)
			}
			if corrupt == 0 {
				t.Error("damage not counted in QueueCorrupt")
			}
			if st.Records != 0 || st.Items != 0 || gRecords != 0 || gItems != 0 {
				t.Errorf("after draining: Stats %+v, gauges records %v items %v", st, gRecords, gItems)
			}
		})
	}
}

// FuzzPeekFrame: peekFrame and headerItems, the decoders of a frame's
// header Read uses without the CRC, never panic, and agree with
// checkRecord on every intact frame.
func FuzzPeekFrame(f *testing.F) {
	rec := testRecord(LaneNormal, 3, 50)
	frame := appendRecord(nil, &rec, 1234)
	f.Add(frame)
	f.Add(frame[:frameHeaderSize+11])
	f.Add(append(append([]byte(nil), frame...), frame...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		head, headOK := peekFrame(b)
		items, itemsOK := headerItems(b)
		if headOK && (!itemsOK || items != head.items || head.size < frameHeaderSize+metaFixedSize) {
			t.Fatalf("peekFrame %+v, headerItems %d %v", head, items, itemsOK)
		}
		if meta, ok := checkRecord(b, formatVersion); ok && (!headOK || head != meta) {
			t.Fatalf("intact frame %+v, peekFrame %+v %v", meta, head, headOK)
		}
	})
}
