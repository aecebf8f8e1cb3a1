// Package cappedread reads a request body whole without reading past a
// cap, so that neither a large body nor a decompression bomb is held in
// memory beyond it. The OTLP/HTTP, remote-write and Loki receivers read
// their bodies with it.
package cappedread

import (
	"errors"
	"io"
	"slices"
)

// ErrTooLarge is returned by Read when more than the limit arrives.
var ErrTooLarge = errors.New("request body too large")

// growStep is the least Read grows a full buffer by.
const growStep = 32 << 10

// Read appends r's bytes to buf until EOF and returns it. As soon as more
// than limit bytes are in buf it stops with ErrTooLarge: buf grows to at
// most limit+1 bytes of capacity as asked of slices.Grow (which may round
// it up to an allocation size class), so the read stops within that. Any
// other read error is returned as is, with what was read so far.
func Read(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, ErrTooLarge
			}
			grow := max(cap(buf), growStep)
			if room := limit + 1 - int64(len(buf)); int64(grow) > room {
				grow = int(room)
			}
			buf = slices.Grow(buf, grow)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, ErrTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
