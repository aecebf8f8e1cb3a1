package grpccompress

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
)

func roundTrip(t testing.TB, c encoding.Compressor, data []byte) []byte {
	var buf bytes.Buffer
	w, err := c.Compress(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := c.Decompress(&buf)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	// gRPC closes a decompressing reader that is an io.Closer.
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
	return out
}

// TestConcurrentStreams decompresses on many goroutines at once, closing
// each reader as gRPC does, so the race detector sees pooled coders handed
// between streams.
func TestConcurrentStreams(t *testing.T) {
	Register()
	data := bytes.Repeat([]byte("log line with some text "), 2000)
	for _, name := range []string{Zstd, Gzip} {
		c := encoding.GetCompressor(name)
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					if got := roundTrip(t, c, data); !bytes.Equal(got, data) {
						errs <- name
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for n := range errs {
			t.Fatalf("%s: corrupted round trip under concurrency", n)
		}
	}
}

func TestRoundTripAndPooling(t *testing.T) {
	Register()
	Register() // idempotent
	for _, name := range []string{Zstd, Gzip} {
		c := encoding.GetCompressor(name)
		if c == nil || c.Name() != name {
			t.Fatalf("%s not registered with gRPC", name)
		}
		if _, ours := c.(*gzipCompressor); name == Gzip && !ours {
			t.Fatalf("gzip is still grpc-go's compressor: %T", c)
		}
		for i, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("span-attribute "), 10000)} {
			for round := 0; round < 3; round++ { // the second and third reuse pooled coders
				if got := roundTrip(t, c, data); !bytes.Equal(got, data) {
					t.Fatalf("%s case %d round %d: got %d bytes, want %d", name, i, round, len(got), len(data))
				}
			}
		}
	}
	// The output is standard zstd.
	c := encoding.GetCompressor(Zstd)
	var buf bytes.Buffer
	w, _ := c.Compress(&buf)
	_, _ = w.Write([]byte("hello"))
	_ = w.Close()
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	if out, err := dec.DecodeAll(buf.Bytes(), nil); err != nil || string(out) != "hello" {
		t.Fatalf("standard decoder: %q %v", out, err)
	}
}

func FuzzDecompress(f *testing.F) {
	enc, _ := zstd.NewWriter(nil)
	f.Add(enc.EncodeAll([]byte("hello zstd"), nil))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Add([]byte("not zstd"))
	c := newZstd()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := c.Decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<20))
	})
}

func BenchmarkCompress(b *testing.B) {
	c := newZstd()
	data := bytes.Repeat([]byte("service.name=checkout span=GET /cart status=ok "), 4000)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		w, _ := c.Compress(io.Discard)
		_, _ = w.Write(data)
		_ = w.Close()
	}
}

func FuzzGzipDecompress(f *testing.F) {
	var buf bytes.Buffer
	w, _ := newGzip().Compress(&buf)
	_, _ = w.Write([]byte("hello gzip"))
	_ = w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0})
	c := newGzip()
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := c.Decompress(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<20))
	})
}
