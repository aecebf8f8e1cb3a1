package queue

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPowerCut is the durability acceptance test. For each seed a random
// workload (appends of random sizes and lanes, reads, acks, nacks) runs on
// a crashFS until the power is cut at a random FS operation; the queue is
// then reopened on what survived. Open must never fail and no record whose
// Append returned nil may be lost unless it was acked (acked ones may come
// again: at-least-once).
//
// Seeds run in three modes: power cut with every unsynced write lost but
// the torn last one (the strict model), power cut where unsynced writes
// each survive with probability 1/2 (page cache writeback in any order),
// and kill -9 under FsyncInterval (the page cache survives, so again
// nothing may be lost).
func TestPowerCut(t *testing.T) {
	t.Parallel()
	const seeds = 300
	var appended, lost, dups, deliveredTotal, cutsInAppend int
	for seed := range uint64(seeds) {
		mode := seed % 3
		rng := rand.New(rand.NewPCG(seed, 0xC0FFEE))
		cfs := newCrashFS(rng)
		lim := Limits{MaxBytes: int64(48<<10 + rng.IntN(200<<10)), Fsync: FsyncAlways}
		switch mode {
		case 1:
			cfs.keepP = 0.5
		case 2:
			cfs.killed = true
			lim.Fsync, lim.FsyncInterval = FsyncInterval, time.Hour
		}
		opts := Options{Dir: "/data/q", FS: cfs, Limits: lim, Exporter: "powercut"}
		steps := 100 + rng.IntN(200)
		cfs.cutAt = 1 + rng.IntN(steps*4)

		ok := map[uint64]bool{}       // Append returned nil
		attempted := map[uint64]int{} // body size of every Append tried
		acked := map[uint64]bool{}
		q, err := Open(opts)
		if err == nil {
			var inflight []*Delivery
			var nextID uint64
			for range steps {
				switch r := rng.IntN(100); {
				case r < 55:
					id := nextID
					nextID++
					size := rng.IntN(3000)
					if rng.IntN(20) == 0 {
						size = 20000 + rng.IntN(60000) // bigger than a segment
					}
					attempted[id] = size
					err := q.Append(testRecord(Lane(rng.IntN(NumLanes)), id, size))
					switch {
					case err == nil:
						ok[id] = true
					case errors.Is(err, ErrFull), errors.Is(err, ErrTooLarge):
					case errors.Is(err, errPowerCut):
						cutsInAppend++
					default:
						t.Fatalf("seed %d: Append: %v", seed, err)
					}
				case r < 80:
					if d := tryRead(q); d != nil {
						inflight = append(inflight, d)
					}
				default:
					if len(inflight) == 0 {
						continue
					}
					i := rng.IntN(len(inflight))
					d := inflight[i]
					inflight = append(inflight[:i], inflight[i+1:]...)
					if rng.IntN(5) == 0 {
						q.Nack(d)
					} else {
						q.Ack(d)
						acked[bodyID(d.Record.Body)] = true
					}
				}
				if cfs.dead {
					break
				}
			}
			cfs.cut()
			q.Close() // stops its goroutine; every FS call fails now
		} else if !cfs.dead {
			t.Fatalf("seed %d: Open on a fresh FS: %v", seed, err)
		}
		cfs.cut()

		after := cfs.survivor(rng)
		q2, err := Open(Options{Dir: "/data/q", FS: after, Limits: lim, Exporter: "powercut"})
		if err != nil {
			t.Fatalf("seed %d: Open after the cut: %v", seed, err)
		}
		delivered := map[uint64]bool{}
		for d := tryRead(q2); d != nil; d = tryRead(q2) {
			id := bodyID(d.Record.Body)
			size, tried := attempted[id]
			if !tried || !bytes.Equal(d.Record.Body, testBody(id, size)) {
				t.Fatalf("seed %d: delivered a record that was never appended (id %d, %d bytes)", seed, id, len(d.Record.Body))
			}
			if delivered[id] {
				t.Fatalf("seed %d: record %d delivered twice in one run", seed, id)
			}
			delivered[id] = true
			if acked[id] {
				dups++
			}
			q2.Ack(d)
		}
		for id := range ok {
			if !acked[id] && !delivered[id] {
				lost++
				t.Errorf("seed %d (mode %d): record %d lost", seed, mode, id)
			}
		}
		if err := q2.Close(); err != nil {
			t.Fatalf("seed %d: Close: %v", seed, err)
		}
		appended += len(ok)
		deliveredTotal += len(delivered)
	}
	t.Logf("power cut: %d seeds, %d records appended (Append returned nil), %d delivered after reopen, %d acked records re-delivered, %d cuts inside an Append, %d lost",
		seeds, appended, deliveredTotal, dups, cutsInAppend, lost)
}
