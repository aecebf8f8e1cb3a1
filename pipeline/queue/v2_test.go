package queue

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestV2RecordRoundTrip: format version 2 keeps a record's raw size and
// flags; its segments say version 2 and its cursor keeps version 1 (the
// cursor format did not change).
func TestV2RecordRoundTrip(t *testing.T) {
	dir := t.TempDir()
	recs := []Record{
		{Lane: LaneNormal, Items: 3, Signal: "traces", Encoding: "proto", Compression: "s2", Body: []byte("stored"), RawSize: 1234, Mergeable: true},
		{Lane: LaneNormal, Items: 1, Signal: "logs", Encoding: "json", Compression: "s2", Body: []byte("json body"), RawSize: 40},
		{Lane: LaneNormal, Items: 7, Signal: "metrics", Encoding: "prometheus-remote-write-1.0", Compression: "snappy", Body: []byte("wire"), WireReady: true},
		{Lane: LaneNormal, Items: 2, Signal: "traces", Encoding: "proto", Body: []byte("raw"), RawSize: 3, Mergeable: true},
	}
	q := openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
	for i := range recs {
		recs[i].Created = time.Unix(0, int64(i)+1)
		if err := q.Append(recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	d := mustRead(t, q)
	q.Ack(d) // writes the cursor
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	seg, err := os.ReadFile(filepath.Join(dir, "normal", segName(1)))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(filepath.Join(dir, "normal", cursorName))
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint16(seg[6:]); v != 2 {
		t.Errorf("segment format version %d, want 2", v)
	}
	if v := binary.LittleEndian.Uint16(cur[6:]); v != 1 {
		t.Errorf("cursor format version %d, want 1", v)
	}
	// Byte by byte as doc.go says: payload byte 13 is the flags, 14..17
	// the raw size.
	p := seg[segHeaderSize+frameHeaderSize:]
	if p[13] != flagMergeable || binary.LittleEndian.Uint32(p[14:]) != 1234 || p[18] != byte(len("traces")) {
		t.Errorf("first payload % x, want flags 01 and raw size 1234 at 13..17", p[:24])
	}

	q = openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
	for i := 1; i < len(recs); i++ {
		d := mustRead(t, q)
		got, want := d.Record, recs[i]
		if !got.Created.Equal(want.Created) || got.Items != want.Items || got.Signal != want.Signal || got.Encoding != want.Encoding ||
			got.Compression != want.Compression || !bytes.Equal(got.Body, want.Body) || got.RawSize != want.RawSize ||
			got.Mergeable != want.Mergeable || got.WireReady != want.WireReady {
			t.Errorf("record %d: got %+v, want %+v", i, got, want)
		}
		q.Ack(d)
	}
}

// TestReadLaneV1RecordsAreWireReady: records of the checked-in version 1
// queue read as WireReady, without a raw size.
func TestReadLaneV1RecordsAreWireReady(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, v1Dir, dir)
	q := openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
	d, err := q.ReadLane(context.Background(), LaneLow, time.Time{})
	if err == nil && d != nil {
		t.Fatalf("ReadLane(low) returned %+v while high has records", d.Record)
	}
	d = mustRead(t, q)
	if !d.Record.WireReady || d.Record.Mergeable || d.Record.RawSize != 0 {
		t.Fatalf("v1 record %+v: want WireReady, not Mergeable, RawSize 0", d.Record)
	}
	q.Ack(d)
}

// TestReadLane: it takes the lane's next record; without one it waits
// until its deadline (or an append); it gives way at once to a more
// important lane; it returns the context's error and ErrClosed.
func TestReadLane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := openQueue(t, Options{Kind: KindMemory, Limits: Limits{MaxBytes: 1 << 20}})
		ctx := context.Background()
		start := time.Now()
		rec := func(l Lane, id uint64) Record { return testRecord(l, id, 16) }

		// Nothing queued: waits until the deadline, returns nil.
		d, err := q.ReadLane(ctx, LaneNormal, start.Add(time.Second))
		if d != nil || err != nil || time.Since(start) != time.Second {
			t.Fatalf("empty lane: %v %v after %v, want nil nil after 1s", d, err, time.Since(start))
		}
		// A record appended during the wait is returned at once.
		go func() {
			time.Sleep(300 * time.Millisecond)
			q.Append(rec(LaneNormal, 1))
		}()
		t0 := time.Now()
		d, err = q.ReadLane(ctx, LaneNormal, t0.Add(time.Second))
		if err != nil || d == nil || bodyID(d.Record.Body) != 1 || time.Since(t0) != 300*time.Millisecond {
			t.Fatalf("append during the wait: %v %v after %v", d, err, time.Since(t0))
		}
		q.Ack(d)
		// Another lane's record is not taken; a more important one ends
		// the wait at once, even with records of the lane queued.
		if err := q.Append(rec(LaneLow, 2)); err != nil {
			t.Fatal(err)
		}
		t0 = time.Now()
		if d, _ := q.ReadLane(ctx, LaneNormal, t0.Add(time.Second)); d != nil || time.Since(t0) != time.Second {
			t.Fatalf("a low record was taken for normal, or the wait was cut: %v after %v", d, time.Since(t0))
		}
		if err := q.Append(rec(LaneNormal, 3)); err != nil {
			t.Fatal(err)
		}
		if err := q.Append(rec(LaneHigh, 4)); err != nil {
			t.Fatal(err)
		}
		t0 = time.Now()
		if d, _ := q.ReadLane(ctx, LaneNormal, t0.Add(time.Second)); d != nil || time.Since(t0) != 0 {
			t.Fatalf("with a high record waiting, ReadLane(normal) gave %v after %v; want nil at once", d, time.Since(t0))
		}
		// A past deadline takes what is ready without waiting.
		d, _ = q.ReadLane(ctx, LaneHigh, time.Time{})
		if d == nil || bodyID(d.Record.Body) != 4 {
			t.Fatalf("ReadLane(high) = %v", d)
		}
		q.Ack(d)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := q.ReadLane(cctx, LaneLow, start.Add(time.Hour)); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled context: %v", err)
		}
		q.Close()
		if _, err := q.ReadLane(ctx, LaneLow, start.Add(time.Hour)); !errors.Is(err, ErrClosed) {
			t.Fatalf("closed queue: %v", err)
		}
	})
}

// FuzzDecodePayloadV2 feeds arbitrary bytes to the version 2 payload
// decoder: it must not panic, it accepts exactly what payloadValid
// accepts, and what it accepts encodes back to the same bytes.
func FuzzDecodePayloadV2(f *testing.F) {
	for _, r := range []Record{
		{Lane: LaneHigh, Created: time.Unix(5, 6), Items: 3, Signal: "traces", Encoding: "proto", Compression: "s2", Body: []byte("abc"), RawSize: 99, Mergeable: true},
		{Lane: LaneLow, Items: 1, Signal: "logs", Compression: "snappy", Body: []byte{}, WireReady: true},
	} {
		frame := appendRecord(nil, &r, r.Created.UnixNano())
		f.Add(frame[frameHeaderSize:])
	}
	f.Add([]byte{})
	f.Add(make([]byte, metaFixedSize))
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := decodePayload(p, formatVersion)
		if (err == nil) != payloadValid(p, formatVersion) {
			t.Fatalf("decodePayload error %v, payloadValid %v", err, payloadValid(p, formatVersion))
		}
		if err != nil {
			return
		}
		frame := appendRecord(nil, &rec, int64(binary.LittleEndian.Uint64(p)))
		if !bytes.Equal(frame[frameHeaderSize:], p) {
			t.Fatalf("re-encoded payload differs:\n% x\n% x", frame[frameHeaderSize:], p)
		}
	})
}
