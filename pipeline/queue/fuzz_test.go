package queue

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"
)

// FuzzOpenSegment feeds arbitrary bytes to Open as a segment file and as a
// cursor file. Open must not fail or panic, and every record it delivers
// must be an intact record of the input (its frame, re-encoded, is in the
// segment bytes: its CRC checked).
func FuzzOpenSegment(f *testing.F) {
	seg, cursor := fuzzSeed(f)
	f.Add(seg, cursor)
	f.Add(seg[:len(seg)-7], cursor[:40])
	f.Add(seg[segHeaderSize:], []byte{})
	f.Add([]byte{}, []byte("OPQCUR\x01\x00"))
	f.Add(append(append([]byte(nil), seg...), seg[segHeaderSize:]...), cursor)
	f.Fuzz(func(t *testing.T, seg, cursor []byte) {
		fs := newMemFS()
		dir := "/q"
		lane := filepath.Join(dir, "normal")
		if err := fs.MkdirAll(lane, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{segName(3): seg, cursorName: cursor} {
			fl, err := fs.OpenFile(filepath.Join(lane, name), openFlagsNew, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			fl.WriteAt(data, 0)
			fl.Close()
		}
		q, err := Open(Options{Dir: dir, FS: fs, Limits: Limits{MaxBytes: 1 << 30}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer q.Close()
		for d := tryRead(q); d != nil; d = tryRead(q) {
			r := d.Record
			r.Lane = Lane(0)
			var frame []byte
			found := false
			for lane := range Lane(NumLanes) { // the lane byte is not trusted over the directory
				r.Lane = lane
				frame = appendRecord(frame[:0], &r, r.Created.UnixNano())
				found = found || bytes.Contains(seg, frame)
			}
			if !found {
				t.Fatalf("delivered a record that is not intact in the input: %+v", d.Record)
			}
			q.Ack(d)
		}
		// Appending after recovery works.
		if err := q.Append(Record{Lane: LaneNormal, Body: []byte("x")}); err != nil {
			t.Fatalf("Append after Open: %v", err)
		}
	})
}

// fuzzSeed returns a valid segment with three records and a valid cursor.
func fuzzSeed(f *testing.F) (seg, cursor []byte) {
	seg = encodeSegHeader(LaneNormal)
	for i := range 3 {
		r := Record{Lane: LaneNormal, Created: time.Unix(0, int64(i)*1e9), Items: i, Signal: "logs",
			Encoding: "json", Compression: "gzip", Body: bytes.Repeat([]byte{byte('a' + i)}, 10*i)}
		seg = appendRecord(seg, &r, r.Created.UnixNano())
	}
	cursor = make([]byte, cursorFileSize)
	putCursorHeader(cursor)
	putCursorSlot(cursor[cursorSlotOffset(5):][:cursorSlotSize], 5, position{seg: 3, off: segHeaderSize})
	return seg, cursor
}
