package grpccompress

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

// TestPrecompressedPassesThrough writes a precompressed message the way
// gRPC does (each buffer of the codec's output in turn) and checks that the
// compressor forwards the body unchanged and that it decompresses to the
// original; an ordinary message written next through a pooled writer is
// still compressed.
func TestPrecompressedPassesThrough(t *testing.T) {
	Register()
	data := bytes.Repeat([]byte("span name and attributes "), 500)
	enc, _ := zstd.NewWriter(nil)
	zbody := enc.EncodeAll(data, nil)
	var gbuf bytes.Buffer
	gw := gzip.NewWriter(&gbuf)
	_, _ = gw.Write(data)
	_ = gw.Close()
	for name, body := range map[string][]byte{Zstd: zbody, Gzip: gbuf.Bytes()} {
		c := encoding.GetCompressor(name)
		for range 3 { // through pooled writers too
			var out bytes.Buffer
			w, err := c.Compress(&out)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range Precompressed(body) {
				if _, err := w.Write(b.ReadOnlyData()); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), body) {
				t.Fatalf("%s: precompressed body changed on the way through (%d bytes in, %d out)", name, len(body), out.Len())
			}
			r, err := c.Decompress(&out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: decompressed %d bytes, err %v; want the original %d", name, len(got), err, len(data))
			}
			if got := roundTrip(t, c, data); !bytes.Equal(got, data) {
				t.Fatalf("%s: an ordinary message after a precompressed one did not round-trip", name)
			}
		}
	}
}
