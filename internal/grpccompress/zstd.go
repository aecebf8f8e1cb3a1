// Package grpccompress provides outpost's gRPC compressors, built on
// klauspost/compress with pooled encoders and decoders: zstd
// ("grpc-encoding: zstd"), and gzip in place of grpc-go's own, which uses
// the standard library's slower compress/gzip.
//
// gRPC keeps its compressors in a process-wide registry; Register adds
// these once, however often it is called, so that receivers and exporters
// can each make sure of them when they are created rather than through
// init(). Registering replaces grpc-go's gzip compressor for the whole
// process; both speak the same gzip format.
//
// Both compressors also pass through a message that is already compressed
// (see Precompressed), so that an exporter can send a body it compressed
// once, when it queued it, without gRPC compressing it again.
package grpccompress

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// The gRPC encoding names.
const (
	Zstd = "zstd"
	Gzip = "gzip"
)

var once sync.Once

// Register registers the zstd and gzip compressors with gRPC.
func Register() {
	once.Do(func() {
		encoding.RegisterCompressor(newZstd())
		encoding.RegisterCompressor(newGzip())
	})
}

type compressor struct {
	encoders sync.Pool // *writer
	decoders sync.Pool // *reader
	writers  switchWriters
}

func newZstd() *compressor {
	c := &compressor{}
	c.writers.newComp = c.encoder
	return c
}

func (c *compressor) Name() string { return Zstd }

type writer struct {
	*zstd.Encoder
	pool *sync.Pool
}

func (w *writer) Close() error {
	err := w.Encoder.Close()
	w.pool.Put(w)
	return err
}

func (c *compressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return c.writers.get(w), nil
}

func (c *compressor) encoder(w io.Writer) (io.WriteCloser, error) {
	if zw, ok := c.encoders.Get().(*writer); ok {
		zw.Reset(w)
		return zw, nil
	}
	// The fastest level compresses OTLP protobuf within 1% of the default
	// one at two thirds of the CPU; the frame checksum is left out because
	// the transport already guards the message and it costs a sixth of the
	// encoding time.
	enc, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	return &writer{Encoder: enc, pool: &c.encoders}, nil
}

type reader struct {
	*zstd.Decoder
	pool *sync.Pool
}

// Close returns the decoder to the pool, as gzipReader.Close does; it
// replaces zstd.Decoder's own Close, which would end the decoder for good.
func (r *reader) Close() error {
	_ = r.Decoder.Reset(bytes.NewReader(nil))
	r.pool.Put(r)
	return nil
}

func (c *compressor) Decompress(rd io.Reader) (io.Reader, error) {
	if zr, ok := c.decoders.Get().(*reader); ok {
		if err := zr.Reset(rd); err != nil {
			return nil, err
		}
		return zr, nil
	}
	// The window cap bounds what a hostile stream can make us allocate.
	dec, err := zstd.NewReader(rd, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(32<<20), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	return &reader{Decoder: dec, pool: &c.decoders}, nil
}
