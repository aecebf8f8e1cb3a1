package queue

import (
	"path/filepath"
	"testing"
)

// FuzzInspect feeds arbitrary bytes to Inspect as a segment file and a
// cursor file. It must not fail or panic, and it must count exactly the
// records, and items, that Open then delivers.
func FuzzInspect(f *testing.F) {
	seg, cursor := fuzzSeed(f)
	f.Add(seg, cursor)
	f.Add(seg[:len(seg)-7], cursor[:40])
	f.Add(seg[segHeaderSize:], []byte{})
	f.Add(append(append([]byte(nil), seg...), seg[segHeaderSize:]...), cursor)
	f.Fuzz(func(t *testing.T, seg, cursor []byte) {
		fs := newMemFS()
		dir := "/q"
		lane := filepath.Join(dir, "normal")
		if err := fs.MkdirAll(lane, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{segName(3): seg, cursorName: cursor} {
			fl, err := fs.OpenFile(filepath.Join(lane, name), openFlagsNew, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			fl.WriteAt(data, 0)
			fl.Close()
		}
		info, err := Inspect(fs, dir)
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		q, err := Open(Options{Dir: dir, FS: fs, Limits: Limits{MaxBytes: 1 << 30}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer q.Close()
		records, items := 0, 0
		for d := tryRead(q); d != nil; d = tryRead(q) {
			records++
			items += d.Record.Items
			q.Ack(d)
		}
		if tot := info.Total(); tot.Records != records || tot.Items != items {
			t.Fatalf("Inspect counts %d records, %d items; Open delivers %d, %d", tot.Records, tot.Items, records, items)
		}
	})
}
