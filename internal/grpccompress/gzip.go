package grpccompress

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzipCompressor is gzip for gRPC with klauspost's encoder, several times
// faster than compress/gzip at the same level.
type gzipCompressor struct {
	writers  sync.Pool // *gzipWriter
	readers  sync.Pool // *gzipReader
	switches switchWriters
}

func newGzip() *gzipCompressor {
	c := &gzipCompressor{}
	c.switches.newComp = c.writer
	return c
}

func (c *gzipCompressor) Name() string { return Gzip }

type gzipWriter struct {
	*gzip.Writer
	pool *sync.Pool
}

func (w *gzipWriter) Close() error {
	err := w.Writer.Close()
	w.pool.Put(w)
	return err
}

func (c *gzipCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return c.switches.get(w), nil
}

func (c *gzipCompressor) writer(w io.Writer) (io.WriteCloser, error) {
	if gw, ok := c.writers.Get().(*gzipWriter); ok {
		gw.Reset(w)
		return gw, nil
	}
	gw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	return &gzipWriter{Writer: gw, pool: &c.writers}, nil
}

type gzipReader struct {
	*gzip.Reader
	pool *sync.Pool
}

// Close returns the reader to the pool. gRPC closes a decompressing reader
// once it has read the message, and never touches it again; a reader that
// is not closed is simply left to the garbage collector. (Pooling at EOF
// instead would hand the reader to another stream while gRPC still holds
// it to close.)
func (r *gzipReader) Close() error {
	r.pool.Put(r)
	return nil
}

func (c *gzipCompressor) Decompress(rd io.Reader) (io.Reader, error) {
	if gr, ok := c.readers.Get().(*gzipReader); ok {
		if err := gr.Reset(rd); err != nil {
			return nil, err
		}
		return gr, nil
	}
	gr, err := gzip.NewReader(rd)
	if err != nil {
		return nil, err
	}
	return &gzipReader{Reader: gr, pool: &c.readers}, nil
}
