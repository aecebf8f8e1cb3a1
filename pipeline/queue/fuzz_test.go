package queue

import (
	"bytes"
	"encoding/binary"
	"os"
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
	if v1, err := os.ReadFile(filepath.Join(v1Dir, "normal", segName(1))); err == nil {
		f.Add(v1, cursor) // a format version 1 segment
	}
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
				frame = appendRecordV1(frame[:0], &r, r.Created.UnixNano())
				found = found || (r.WireReady && bytes.Contains(seg, frame))
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

// appendRecordV1 appends rec's frame in format version 1 (the layout
// before raw size and flags) to dst.
func appendRecordV1(dst []byte, rec *Record, created int64) []byte {
	start := len(dst)
	payload := metaFixedSizeV1 + len(rec.Signal) + len(rec.Encoding) + len(rec.Compression) + len(rec.Body)
	dst = append(dst, recordMarker[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(payload))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(created))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(rec.Items))
	dst = append(dst, byte(rec.Lane))
	for _, s := range [...]string{rec.Signal, rec.Encoding, rec.Compression} {
		dst = append(dst, byte(len(s)))
		dst = append(dst, s...)
	}
	dst = append(dst, rec.Body...)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[8:], frameCRC(f))
	return dst
}
