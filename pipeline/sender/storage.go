package sender

import (
	"bytes"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// Storage codecs: how a queued record's body is kept (queue.Record's
// Compression when the record is not WireReady). pipeline/queue/doc.go
// has the measurements behind the choice of StorageCodec.
const (
	StorageRaw    = ""       // the encoded body as it is
	StorageS2     = "s2"     // github.com/klauspost/compress/s2, block format
	StorageSnappy = "snappy" // snappy block format
	StorageZstd   = "zstd"   // zstd, fastest level, one frame
)

// StorageCodec is the codec Output stores new records with.
const StorageCodec = StorageS2

// maxRawBody bounds the decompressed size of a stored body: a record's
// RawSize is checked against it before anything is allocated, so a
// damaged record cannot make the sender allocate gigabytes.
const maxRawBody = 1 << 30

// storeBody returns raw compressed with codec, in a new slice of exactly
// its size (the queue may keep it).
func storeBody(codec string, raw []byte) ([]byte, error) {
	switch codec {
	case StorageRaw:
		return raw, nil
	case StorageS2:
		return s2.Encode(make([]byte, s2.MaxEncodedLen(len(raw))), raw), nil
	case StorageSnappy:
		return snappy.Encode(nil, raw), nil
	case StorageZstd:
		enc := zstdStore.get()
		out := enc.EncodeAll(raw, make([]byte, 0, len(raw)/4+64))
		zstdStore.put(enc)
		return bytes.Clone(out), nil
	}
	return nil, fmt.Errorf("unknown storage codec %q", codec)
}

// loadBody appends body, stored with codec, decompressed to dst; size is
// its decompressed size (the record's RawSize), checked.
func loadBody(dst []byte, codec string, body []byte, size int) ([]byte, error) {
	if size < 0 || size > maxRawBody {
		return dst, fmt.Errorf("stored body of %d bytes decompressed is out of range", size)
	}
	start := len(dst)
	dst = growBy(dst, size)
	out := dst[start : start+size]
	var err error
	switch codec {
	case StorageRaw:
		if len(body) != size {
			return dst[:start], fmt.Errorf("raw body of %d bytes, %d expected", len(body), size)
		}
		copy(out, body)
		return dst, nil
	case StorageS2:
		var n int
		if n, err = s2.DecodedLen(body); err == nil && n == size {
			_, err = s2.Decode(out, body)
		} else if err == nil {
			err = fmt.Errorf("s2 body decodes to %d bytes, %d expected", n, size)
		}
	case StorageSnappy:
		var n int
		if n, err = snappy.DecodedLen(body); err == nil && n == size {
			_, err = snappy.Decode(out, body)
		} else if err == nil {
			err = fmt.Errorf("snappy body decodes to %d bytes, %d expected", n, size)
		}
	case StorageZstd:
		dec := zstdLoad.get()
		var got []byte
		got, err = dec.DecodeAll(body, out[:0])
		zstdLoad.put(dec)
		if err == nil && (len(got) != size || (size > 0 && &got[0] != &out[0])) {
			err = fmt.Errorf("zstd body decodes to %d bytes, %d expected", len(got), size)
		}
	case "gzip":
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			_, err = io.ReadFull(zr, out)
			if err == nil {
				if n, _ := zr.Read(make([]byte, 1)); n > 0 {
					err = fmt.Errorf("gzip body longer than %d bytes", size)
				}
			}
		}
	default:
		err = fmt.Errorf("unknown storage codec %q", codec)
	}
	if err != nil {
		return dst[:start], fmt.Errorf("decompress stored body: %w", err)
	}
	return dst, nil
}

// growBy extends b by n bytes (their content undefined).
func growBy(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n+len(b)/4)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// zstdPool is a bounded free list of zstd encoders or decoders: their
// state is large and a sync.Pool would drop them at every GC.
type zstdPool[T any] struct {
	free chan T
	make func() T
}

func (p *zstdPool[T]) get() T {
	select {
	case v := <-p.free:
		return v
	default:
		return p.make()
	}
}

func (p *zstdPool[T]) put(v T) {
	select {
	case p.free <- v:
	default:
	}
}

var (
	zstdStore = &zstdPool[*zstd.Encoder]{free: make(chan *zstd.Encoder, runtime.GOMAXPROCS(0)), make: func() *zstd.Encoder {
		// Concurrency 1: EncodeAll is synchronous and starts no goroutine.
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false)) // the options are valid
		return enc
	}}
	zstdLoad = &zstdPool[*zstd.Decoder]{free: make(chan *zstd.Decoder, runtime.GOMAXPROCS(0)), make: func() *zstd.Decoder {
		dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxRawBody)) // the options are valid
		return dec
	}}
)
