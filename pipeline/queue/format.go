package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
)

// The on-disk format is documented in doc.go; keep the two in step.

const (
	// formatVersion is the version of the segments this binary writes;
	// it reads formatV1 segments too.
	formatVersion = 2
	formatV1      = 1
	// cursorVersion is the cursor file's own version: the cursor format
	// did not change with segment format 2.
	cursorVersion = 1

	segHeaderSize   = 16 // magic(6) version(2) lane(1) reserved(3) crc(4)
	frameHeaderSize = 12 // marker(4) length(4) crc(4)
	metaFixedSize   = 21 // created(8) items(4) lane(1) flags(1) raw size(4) + three string lengths(1 each)
	metaFixedSizeV1 = 16 // created(8) items(4) lane(1) + three string lengths(1 each)
	maxStringLen    = math.MaxUint8
	// maxPayload bounds a record's length field, so that a corrupt length
	// is recognised without reading gigabytes.
	maxPayload = 1<<31 - 1

	cursorHeaderSize = 8  // magic(6) version(2)
	cursorSlotSize   = 32 // seq(8) segment(8) offset(8) reserved(4) crc(4)
	cursorFileSize   = cursorHeaderSize + 2*cursorSlotSize

	segSuffix  = ".seg"
	badSuffix  = ".seg.bad"
	cursorName = "cursor"
	lockName   = "lock"
	segNameLen = 20 // decimal digits of a segment number in its file name
)

// unknownSuffix marks a segment kept aside, never deleted, because its
// format version is unknown to this binary.
const unknownSuffix = ".seg.unknown"

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	segMagic    = [6]byte{'O', 'P', 'Q', 'S', 'E', 'G'}
	cursorMagic = [6]byte{'O', 'P', 'Q', 'C', 'U', 'R'}
	// recordMarker starts every record. 0xC5 followed by 0x7A is not valid
	// UTF-8, so JSON and text bodies never contain it.
	recordMarker = [4]byte{0xC5, 0x7A, 0x0E, 0x91}
)

// segName is the file name of segment n.
func segName(n uint64) string { return fmt.Sprintf("%0*d%s", segNameLen, n, segSuffix) }

// segFileKind says what a segment file name denotes.
type segFileKind uint8

const (
	segLive    segFileKind = iota // *.seg
	segBad                        // *.seg.bad: damaged, set aside
	segUnknown                    // *.seg.unknown: unknown format version, kept
)

// parseSegName returns the number and kind of a segment file name.
func parseSegName(name string) (n uint64, kind segFileKind, ok bool) {
	switch {
	case strings.HasSuffix(name, badSuffix):
		name, kind = strings.TrimSuffix(name, badSuffix), segBad
	case strings.HasSuffix(name, unknownSuffix):
		name, kind = strings.TrimSuffix(name, unknownSuffix), segUnknown
	case strings.HasSuffix(name, segSuffix):
		name = strings.TrimSuffix(name, segSuffix)
	default:
		return 0, 0, false
	}
	if len(name) != segNameLen {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(name, 10, 64)
	return n, kind, err == nil
}

func encodeSegHeader(lane Lane) []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic[:])
	binary.LittleEndian.PutUint16(b[6:], formatVersion)
	b[8] = byte(lane)
	binary.LittleEndian.PutUint32(b[12:], crc32.Checksum(b[:12], castagnoli))
	return b
}

type headerStatus int

const (
	headerOK      headerStatus = iota
	headerDamaged              // wrong magic or checksum: scan it for records anyway
	headerUnknown              // intact header of another format version: do not interpret
)

// checkSegHeader checks a segment header and returns the format version
// its records are in. For a damaged header the version is the one its
// version field names if this binary knows it (the damage is elsewhere,
// most likely), else the current one; the records' checksums decide.
func checkSegHeader(b []byte) (headerStatus, uint16) {
	if len(b) < segHeaderSize || !bytes.Equal(b[:6], segMagic[:]) ||
		binary.LittleEndian.Uint32(b[12:]) != crc32.Checksum(b[:12], castagnoli) {
		if len(b) >= 8 && binary.LittleEndian.Uint16(b[6:]) == formatV1 {
			return headerDamaged, formatV1
		}
		return headerDamaged, formatVersion
	}
	switch v := binary.LittleEndian.Uint16(b[6:]); v {
	case formatVersion, formatV1:
		return headerOK, v
	default:
		return headerUnknown, v
	}
}

// metaSize is the fixed part of a record payload in format version v.
func metaSize(v uint16) int {
	if v == formatV1 {
		return metaFixedSizeV1
	}
	return metaFixedSize
}

// recordSize is the size on disk of rec's frame.
func recordSize(rec *Record) int64 {
	return frameHeaderSize + metaFixedSize +
		int64(len(rec.Signal)+len(rec.Encoding)+len(rec.Compression)+len(rec.Body))
}

// Record flags (format version 2, payload byte 13).
const (
	flagMergeable = 1 << 0 // Record.Mergeable
	flagWireReady = 1 << 1 // Record.WireReady
	flagsKnown    = flagMergeable | flagWireReady
)

func recordFlags(rec *Record) byte {
	var f byte
	if rec.Mergeable {
		f |= flagMergeable
	}
	if rec.WireReady {
		f |= flagWireReady
	}
	return f
}

// checkRecordFields reports why rec cannot be stored, if it cannot.
func checkRecordFields(rec *Record) error {
	switch {
	case rec.Lane >= NumLanes:
		return fmt.Errorf("queue record: invalid lane %d", rec.Lane)
	case rec.Items < 0 || int64(rec.Items) > math.MaxUint32:
		return fmt.Errorf("queue record: item count %d out of range", rec.Items)
	case rec.RawSize < 0 || int64(rec.RawSize) > math.MaxUint32:
		return fmt.Errorf("queue record: raw size %d out of range", rec.RawSize)
	case len(rec.Signal) > maxStringLen, len(rec.Encoding) > maxStringLen, len(rec.Compression) > maxStringLen:
		return fmt.Errorf("queue record: signal, encoding or compression longer than %d bytes", maxStringLen)
	case recordSize(rec)-frameHeaderSize > maxPayload:
		return fmt.Errorf("queue record: %d bytes is over the format's limit of %d", recordSize(rec), maxPayload)
	}
	return nil
}

// appendRecord appends rec's frame to dst. created is in unix nanoseconds.
func appendRecord(dst []byte, rec *Record, created int64) []byte {
	start := len(dst)
	payload := recordSize(rec) - frameHeaderSize
	dst = append(dst, recordMarker[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(payload))
	dst = append(dst, 0, 0, 0, 0) // CRC, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, uint64(created))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(rec.Items))
	dst = append(dst, byte(rec.Lane), recordFlags(rec))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(rec.RawSize))
	for _, s := range [...]string{rec.Signal, rec.Encoding, rec.Compression} {
		dst = append(dst, byte(len(s)))
		dst = append(dst, s...)
	}
	dst = append(dst, rec.Body...)
	f := dst[start:]
	binary.LittleEndian.PutUint32(f[8:], frameCRC(f))
	return dst
}

// frameCRC is the CRC32-C of a frame's length field and payload.
func frameCRC(frame []byte) uint32 {
	crc := crc32.Update(0, castagnoli, frame[4:8])
	return crc32.Update(crc, castagnoli, frame[frameHeaderSize:])
}

// recordMeta is what the queue's index keeps of a record.
type recordMeta struct {
	size    int64 // of the whole frame
	created int64 // unix nanoseconds
	items   uint32
}

// checkRecord reports whether b starts with an intact record frame of
// format version v, and its metadata if so. It reads nothing beyond the
// frame.
func checkRecord(b []byte, v uint16) (recordMeta, bool) {
	ms := metaSize(v)
	if len(b) < frameHeaderSize+ms || !bytes.Equal(b[:4], recordMarker[:]) {
		return recordMeta{}, false
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n < uint32(ms) || n > maxPayload || int64(n) > int64(len(b)-frameHeaderSize) {
		return recordMeta{}, false
	}
	frame := b[:frameHeaderSize+int(n)]
	// The structure check is cheap and rejects most false markers in
	// damaged data before the CRC has to read their claimed length.
	if !payloadValid(frame[frameHeaderSize:], v) || binary.LittleEndian.Uint32(b[8:]) != frameCRC(frame) {
		return recordMeta{}, false
	}
	p := frame[frameHeaderSize:]
	return recordMeta{
		size:    int64(len(frame)),
		created: int64(binary.LittleEndian.Uint64(p)),
		items:   binary.LittleEndian.Uint32(p[8:]),
	}, true
}

// headerItems returns the item count in the header of the (damaged) frame
// that b starts with, if the marker and enough of the header are there to
// read it: an estimate of what a corrupt record held.
func headerItems(b []byte) (uint32, bool) {
	if len(b) < frameHeaderSize+12 || !bytes.Equal(b[:4], recordMarker[:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[frameHeaderSize+8:]), true
}

// peekFrame returns what the frame header at the start of b claims about
// its record (size, created, items), without checking the CRC; ok is false
// when b is too short to tell or the header is implausible.
func peekFrame(b []byte) (recordMeta, bool) {
	if len(b) < frameHeaderSize+12 || !bytes.Equal(b[:4], recordMarker[:]) {
		return recordMeta{}, false
	}
	n := binary.LittleEndian.Uint32(b[4:])
	if n < metaFixedSizeV1 || n > maxPayload {
		return recordMeta{}, false
	}
	p := b[frameHeaderSize:]
	return recordMeta{
		size:    frameHeaderSize + int64(n),
		created: int64(binary.LittleEndian.Uint64(p)),
		items:   binary.LittleEndian.Uint32(p[8:]),
	}, true
}

// payloadValid reports whether p is structurally a payload of format
// version v: lane in range, no unknown flag, strings within it.
func payloadValid(p []byte, v uint16) bool {
	ms := metaSize(v)
	if len(p) < ms || p[12] >= NumLanes {
		return false
	}
	if v != formatV1 && p[13]&^flagsKnown != 0 {
		return false
	}
	rest := p[ms-3:]
	for range 3 {
		if len(rest) == 0 || len(rest) < 1+int(rest[0]) {
			return false
		}
		rest = rest[1+int(rest[0]):]
	}
	return true
}

// decodePayload decodes a record's payload in format version v. The
// returned Body aliases p. A version 1 record is wire-ready (its body is
// what the exporter sent, compressed as Compression says).
func decodePayload(p []byte, v uint16) (Record, error) {
	ms := metaSize(v)
	if len(p) < ms {
		return Record{}, fmt.Errorf("record payload of %d bytes is shorter than its metadata", len(p))
	}
	rec := Record{
		Created: unixNanos(int64(binary.LittleEndian.Uint64(p))),
		Items:   int(binary.LittleEndian.Uint32(p[8:])),
		Lane:    Lane(p[12]),
	}
	if rec.Lane >= NumLanes {
		return Record{}, fmt.Errorf("record lane %d out of range", p[12])
	}
	if v == formatV1 {
		rec.WireReady = true
	} else {
		f := p[13]
		if f&^flagsKnown != 0 {
			return Record{}, fmt.Errorf("record flags %#x unknown", f)
		}
		rec.Mergeable, rec.WireReady = f&flagMergeable != 0, f&flagWireReady != 0
		rec.RawSize = int(binary.LittleEndian.Uint32(p[14:]))
	}
	rest := p[ms-3:]
	var strs [3]string
	for i := range strs {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return Record{}, fmt.Errorf("record metadata string %d overruns the payload", i)
		}
		strs[i] = string(rest[1 : 1+int(rest[0])])
		rest = rest[1+int(rest[0]):]
	}
	rec.Signal, rec.Encoding, rec.Compression = strs[0], strs[1], strs[2]
	rec.Body = rest
	return rec, nil
}

// findRecord returns the offset of the first intact record of format
// version v in b at or after from, or -1.
func findRecord(b []byte, from int, v uint16) int {
	for from < len(b) {
		i := bytes.Index(b[from:], recordMarker[:])
		if i < 0 {
			return -1
		}
		if _, ok := checkRecord(b[from+i:], v); ok {
			return from + i
		}
		from += i + 1
	}
	return -1
}

// position is a place in a lane: a segment number and a byte offset in it.
type position struct {
	seg uint64
	off int64
}

// putCursorHeader writes a cursor file header into b.
func putCursorHeader(b []byte) {
	copy(b, cursorMagic[:])
	binary.LittleEndian.PutUint16(b[6:], cursorVersion)
}

func checkCursorHeader(b []byte) bool {
	return len(b) >= cursorHeaderSize && bytes.Equal(b[:6], cursorMagic[:]) &&
		binary.LittleEndian.Uint16(b[6:]) == cursorVersion
}

// putCursorSlot writes a cursor slot into b (cursorSlotSize bytes) and
// returns b.
func putCursorSlot(b []byte, seq uint64, pos position) []byte {
	clear(b)
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint64(b[8:], pos.seg)
	binary.LittleEndian.PutUint64(b[16:], uint64(pos.off))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// cursorSlotOffset is where slot seq%2 of a cursor file starts.
func cursorSlotOffset(seq uint64) int64 {
	return cursorHeaderSize + int64(seq%2)*cursorSlotSize
}

// decodeCursor returns the position in the valid slot with the higher
// sequence number of a cursor file's content, and that number.
func decodeCursor(b []byte) (pos position, seq uint64, ok bool) {
	if len(b) >= cursorHeaderSize && bytes.Equal(b[:6], cursorMagic[:]) &&
		binary.LittleEndian.Uint16(b[6:]) != cursorVersion {
		return position{}, 0, false // another format's cursor: do not interpret
	}
	for i := range 2 {
		off := cursorHeaderSize + i*cursorSlotSize
		if len(b) < off+cursorSlotSize {
			break
		}
		s := b[off : off+cursorSlotSize]
		if binary.LittleEndian.Uint32(s[28:]) != crc32.Checksum(s[:28], castagnoli) {
			continue
		}
		sq := binary.LittleEndian.Uint64(s)
		p := position{seg: binary.LittleEndian.Uint64(s[8:]), off: int64(binary.LittleEndian.Uint64(s[16:]))}
		if cursorSlotOffset(sq) != int64(off) || p.off < 0 {
			continue // a slot is only ever written with its own parity
		}
		if !ok || sq > seq {
			pos, seq, ok = p, sq, true
		}
	}
	return pos, seq, ok
}
