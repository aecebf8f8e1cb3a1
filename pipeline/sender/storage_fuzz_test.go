package sender

import (
	"bytes"
	"testing"
)

// FuzzLoadBody feeds arbitrary stored bodies, codecs and sizes to the
// decoder of stored bodies: it must not panic, it appends exactly size
// bytes or nothing (with an error), and what storeBody wrote loads back
// unchanged.
func FuzzLoadBody(f *testing.F) {
	raw := []byte("resource_spans resource_spans resource_spans 0123456789")
	for _, c := range storageCodecs {
		b, err := storeBody(c, raw)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c, b, len(raw))
	}
	f.Add("gzip", []byte{0x1f, 0x8b}, 10)
	f.Add("lz4", []byte("x"), 1)
	f.Add(StorageS2, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1<<30)
	f.Fuzz(func(t *testing.T, codec string, body []byte, size int) {
		if size > 1<<20 {
			size %= 1 << 20 // keep the fuzzer's allocations small; the bound itself is checked below
		}
		prefix := []byte("prefix")
		out, err := loadBody(bytes.Clone(prefix), codec, body, size)
		if !bytes.Equal(out[:len(prefix)], prefix) {
			t.Fatalf("loadBody changed what was before it")
		}
		if err != nil {
			if len(out) != len(prefix) {
				t.Fatalf("error %v but %d bytes appended", err, len(out)-len(prefix))
			}
			return
		}
		if len(out)-len(prefix) != size {
			t.Fatalf("appended %d bytes, size %d", len(out)-len(prefix), size)
		}
		// Round trip of what storeBody writes.
		if stored, err := storeBody(codec, body); err == nil {
			back, err := loadBody(nil, codec, stored, len(body))
			if err != nil || !bytes.Equal(back, body) {
				t.Fatalf("round trip with %q: %v", codec, err)
			}
		}
	})
	if _, err := loadBody(nil, StorageRaw, nil, maxRawBody+1); err == nil {
		f.Fatal("a size over maxRawBody was accepted")
	}
}
