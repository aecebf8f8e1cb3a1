package grpccompress

import (
	"bytes"
	"io"
	"sync"

	"google.golang.org/grpc/mem"
)

// marker opens a message that is already compressed. It starts with a zero
// byte, which no protobuf message can start with (field number 0 is
// invalid), so an ordinary message is never taken for a precompressed one.
var marker = []byte("\x00outpost-precompressed\x00")

// Precompressed returns the buffers a codec's Marshal should return for a
// message body that is already compressed with the compressor the call
// uses (grpc.UseCompressor with the same name). This package's compressors
// pass such a body through unchanged, so gRPC frames it with the
// compressed flag and the grpc-encoding it names, without compressing it a
// second time. The durable queue stores bodies compressed once, and
// replaying them costs no compression.
//
// Only a call that uses one of this package's compressors (after Register)
// may send a precompressed body: with no compressor, the marker would reach
// the server as part of the message.
func Precompressed(body []byte) mem.BufferSlice {
	return mem.BufferSlice{mem.SliceBuffer(marker), mem.SliceBuffer(body)}
}

// switchWriter is the WriteCloser a compressor returns: the first Write
// decides whether the message is precompressed (it starts with marker:
// write the rest as it is) or not (compress it).
type switchWriter struct {
	dst     io.Writer
	newComp func(io.Writer) (io.WriteCloser, error) // the compressing writer
	comp    io.WriteCloser                          // set once compressing
	decided bool
	through bool // pass through: the message was precompressed
	pool    *sync.Pool
}

func (w *switchWriter) Write(p []byte) (int, error) {
	if !w.decided {
		w.decided = true
		if bytes.HasPrefix(p, marker) {
			w.through = true
			if _, err := w.dst.Write(p[len(marker):]); err != nil {
				return 0, err
			}
			return len(p), nil
		}
		c, err := w.newComp(w.dst)
		if err != nil {
			return 0, err
		}
		w.comp = c
	}
	if w.through {
		return w.dst.Write(p)
	}
	return w.comp.Write(p)
}

func (w *switchWriter) Close() error {
	var err error
	if w.comp != nil {
		err = w.comp.Close()
	}
	*w = switchWriter{newComp: w.newComp, pool: w.pool}
	w.pool.Put(w)
	return err
}

// switchWriters makes switchWriters over one compressing writer factory.
type switchWriters struct {
	pool    sync.Pool
	newComp func(io.Writer) (io.WriteCloser, error)
}

func (s *switchWriters) get(dst io.Writer) *switchWriter {
	w, ok := s.pool.Get().(*switchWriter)
	if !ok {
		w = &switchWriter{newComp: s.newComp, pool: &s.pool}
	}
	w.dst = dst
	return w
}
