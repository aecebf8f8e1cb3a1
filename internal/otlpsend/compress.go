package otlpsend

import (
	"bytes"
	"fmt"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// bodyCompressor compresses request bodies with encoders kept in bounded
// free lists: an encoder's state is large (hundreds of KiB) and a sync.Pool
// would drop them at every GC, so building one per batch would cost more
// than the compression itself.
type bodyCompressor struct {
	name    string // CompressionGzip or CompressionZstd
	fastest bool   // zstd at its fastest level (for gRPC, as grpccompress does)
	gzips   chan *gzip.Writer
	zstds   chan *zstd.Encoder
	scratch chan *bytes.Buffer
}

func newBodyCompressor(name string, fastest bool) *bodyCompressor {
	n := runtime.GOMAXPROCS(0)
	return &bodyCompressor{
		name:    name,
		fastest: fastest,
		gzips:   make(chan *gzip.Writer, n),
		zstds:   make(chan *zstd.Encoder, n),
		scratch: make(chan *bytes.Buffer, n),
	}
}

// maxKeptScratch is the largest scratch buffer kept for reuse.
const maxKeptScratch = 8 << 20

// compress returns src compressed, in a new slice of exactly its size (the
// body may be kept, by a queue, long after).
func (c *bodyCompressor) compress(src []byte) ([]byte, error) {
	switch c.name {
	case CompressionZstd:
		enc, err := c.zstdEncoder()
		if err != nil {
			return nil, err
		}
		buf := c.buffer()
		out := enc.EncodeAll(src, buf.AvailableBuffer())
		c.putZstd(enc)
		body := bytes.Clone(out)
		// Keep the grown array for next time.
		if cap(out) <= maxKeptScratch {
			buf = bytes.NewBuffer(out[:0])
		}
		c.putBuffer(buf)
		return body, nil
	default:
		buf := c.buffer()
		zw := c.gzipWriter()
		zw.Reset(buf)
		if _, err := zw.Write(src); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		c.putGzip(zw)
		body := bytes.Clone(buf.Bytes())
		c.putBuffer(buf)
		return body, nil
	}
}

func (c *bodyCompressor) zstdEncoder() (*zstd.Encoder, error) {
	select {
	case enc := <-c.zstds:
		return enc, nil
	default:
	}
	// Concurrency 1: EncodeAll on this encoder is then synchronous and
	// starts no goroutine. No frame checksum: the transport (TCP, TLS)
	// already guards the body, and on OTLP data the checksum costs about a
	// sixth of the encoding time.
	level := zstd.SpeedDefault
	if c.fastest {
		// Within 1% of the default level's ratio on OTLP protobuf at two
		// thirds of the CPU. On a merged request of 7,500 telemetrygen
		// spans (75 requests of 100, BenchmarkMergedZstdLevel) fastest,
		// default and better all give 30.3 bytes a span and best 28.7
		// (-5%) at 11 to 17 times fastest's CPU: the random trace and span IDs
		// (about 16 bytes a span) are most of the body and no level
		// compresses them, so fastest stays the level of merged requests.
		level = zstd.SpeedFastest
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(level), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return enc, nil
}

func (c *bodyCompressor) putZstd(enc *zstd.Encoder) {
	select {
	case c.zstds <- enc:
	default: // the list is full: let this one go
	}
}

func (c *bodyCompressor) gzipWriter() *gzip.Writer {
	select {
	case zw := <-c.gzips:
		return zw
	default:
	}
	zw, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression) // the level is valid
	return zw
}

func (c *bodyCompressor) putGzip(zw *gzip.Writer) {
	zw.Reset(nil)
	select {
	case c.gzips <- zw:
	default: // the list is full: let this one go
	}
}

func (c *bodyCompressor) buffer() *bytes.Buffer {
	select {
	case b := <-c.scratch:
		b.Reset()
		return b
	default:
	}
	return new(bytes.Buffer)
}

func (c *bodyCompressor) putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxKeptScratch {
		return
	}
	select {
	case c.scratch <- b:
	default:
	}
}
