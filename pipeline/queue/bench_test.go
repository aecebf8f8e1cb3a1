package queue

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const benchRecordSize = 16 << 10

func benchRecord() Record {
	body := make([]byte, benchRecordSize)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	return Record{Lane: LaneNormal, Items: 100, Signal: "traces", Encoding: "proto", Compression: "zstd", Body: body}
}

// BenchmarkAppend measures Append of 16 KiB records on the real disk (in
// the test's temp directory). drop_oldest keeps the queue at 256 MiB, so
// segments are created and deleted as in a long outage.
func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		name      string
		fsync     FsyncPolicy
		appenders int
	}{
		{"fsync=interval", FsyncInterval, 1},
		{"fsync=always/appenders=1", FsyncAlways, 1},
		{"fsync=always/appenders=8", FsyncAlways, 8},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q, err := Open(Options{Dir: b.TempDir(), Limits: Limits{MaxBytes: 256 << 20,
				FullPolicy: FullDropOldest, Fsync: c.fsync, FsyncInterval: 100 * time.Millisecond}})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			rec := benchRecord()
			b.SetBytes(benchRecordSize)
			b.ReportAllocs()
			b.ResetTimer()
			var n atomic.Int64
			var wg sync.WaitGroup
			for range c.appenders {
				wg.Go(func() {
					for n.Add(1) <= int64(b.N) {
						if err := q.Append(rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}

// BenchmarkDrain measures Read+Ack of 16 KiB records (the cursor write per
// Ack included), in batches of 1000 appended outside the timer.
func BenchmarkDrain(b *testing.B) {
	q, err := Open(Options{Dir: b.TempDir(), Limits: Limits{MaxBytes: 256 << 20,
		Fsync: FsyncInterval, FsyncInterval: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	rec := benchRecord()
	b.SetBytes(benchRecordSize)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		batch := min(1000, b.N-done)
		for range batch {
			if err := q.Append(rec); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		for range batch {
			d := tryRead(q)
			if d == nil {
				b.Fatal("queue empty")
			}
			q.Ack(d)
		}
		done += batch
	}
}

// BenchmarkRawWriteFsync is the baseline: sequential 16 KiB writes to a
// plain os.File, with an fsync after each write or every 100 ms. A file is
// reused from its start after 256 MiB.
func BenchmarkRawWriteFsync(b *testing.B) {
	for _, name := range []string{"fsync=per-write", "fsync=interval"} {
		b.Run(name, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := benchRecord().Body
			b.SetBytes(benchRecordSize)
			b.ReportAllocs()
			b.ResetTimer()
			var off int64
			last := time.Now()
			for range b.N {
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				off = (off + benchRecordSize) % (256 << 20)
				if name == "fsync=per-write" || time.Since(last) >= 100*time.Millisecond {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
					last = time.Now()
				}
			}
		})
	}
}
