package queue

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// recordSpan is where a record lives on disk.
type recordSpan struct {
	id        uint64
	lane      Lane
	seg       uint64
	off, size int64
	bodySize  int
}

// TestCorruption is the corruption acceptance test: a queue written to a
// real directory is damaged (bytes flipped, segments truncated, the cursor
// file damaged) and reopened. Open must succeed, QueueCorrupt must count
// when damage hit a record, and every record whose bytes were untouched and
// that was not acknowledged must be delivered with its exact body.
func TestCorruption(t *testing.T) {
	t.Parallel()
	pristine := t.TempDir()
	opts := Options{Dir: pristine, Limits: Limits{MaxBytes: 1 << 20}, Exporter: "corrupt"} // 64 KiB segments
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := map[uint64]int{}
	// 20 normal-lane records, read and acked, so that the cursor matters;
	// then 300 in random lanes.
	acked := map[uint64]bool{}
	for id := range uint64(320) {
		sizes[id] = 200 + rng.IntN(4000)
		lane := Lane(rng.IntN(NumLanes))
		if id < 20 {
			lane = LaneNormal
		}
		if err := q.Append(testRecord(lane, id, sizes[id])); err != nil {
			t.Fatal(err)
		}
		if id < 20 {
			d := mustRead(t, q)
			acked[bodyID(d.Record.Body)] = true
			q.Ack(d)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	spans := liveSpans(t, pristine)
	spans = identifySpans(t, pristine, spans)

	const seeds = 200
	var intactTotal, deliveredTotal, corruptTotal, hitSeeds int
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 77))
		dir := t.TempDir()
		copyDir(t, pristine, dir)
		damaged := damage(t, rng, dir, spans)

		tel := selftelemetry.New()
		q, err := Open(Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}, Exporter: "corrupt", Telemetry: tel})
		if err != nil {
			t.Fatalf("seed %d: Open: %v", seed, err)
		}
		delivered := map[uint64]bool{}
		for d := tryRead(q); d != nil; d = tryRead(q) {
			id := bodyID(d.Record.Body)
			if size, ok := sizes[id]; !ok || !bytes.Equal(d.Record.Body, testBody(id, size)) {
				t.Fatalf("seed %d: delivered a damaged or unknown record (id %d)", seed, id)
			}
			delivered[id] = true
			q.Ack(d)
		}
		intact := 0
		hit := false
		for _, s := range spans {
			switch {
			case damaged.hit(s):
				hit = true
			case damaged.lost(s):
				// cut off at a record boundary: gone without a trace
			default:
				intact++
				if !delivered[s.id] {
					t.Errorf("seed %d: intact record %d (lane %s, segment %d, offset %d) not delivered", seed, s.id, s.lane, s.seg, s.off)
				}
			}
		}
		corrupt := counterValue(t, tel, "corrupt", "corrupt")
		if hit && corrupt == 0 {
			t.Errorf("seed %d: damage hit a record but QueueCorrupt is 0", seed)
		}
		if hit {
			hitSeeds++
		}
		if err := q.Close(); err != nil {
			t.Fatalf("seed %d: Close: %v", seed, err)
		}
		// Reopen after consuming everything: nothing comes back, .bad
		// files are bounded.
		q, err = Open(Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
		if err != nil {
			t.Fatalf("seed %d: second Open: %v", seed, err)
		}
		if got := drainIDs(q); len(got) != 0 {
			t.Errorf("seed %d: %d records came back after all were acked", seed, len(got))
		}
		q.Close()
		for l := range Lane(NumLanes) {
			if bad, _ := filepath.Glob(filepath.Join(dir, l.String(), "*"+badSuffix)); len(bad) > keepBad {
				t.Errorf("seed %d: %d .bad files in lane %s", seed, len(bad), l)
			}
		}
		intactTotal += intact
		deliveredTotal += len(delivered)
		corruptTotal += int(corrupt)
	}
	t.Logf("corruption: %d seeds (%d with a record hit), %d records per seed (%d acked before), %d intact unacked records, %d delivered (incl. re-delivered acked ones), QueueCorrupt total %d",
		seeds, hitSeeds, len(spans), len(acked), intactTotal, deliveredTotal, corruptTotal)
}

// liveSpans lists the records of a closed queue directory from each lane's
// cursor on.
func liveSpans(t *testing.T, dir string) []recordSpan {
	t.Helper()
	var spans []recordSpan
	for l := range Lane(NumLanes) {
		laneDir := filepath.Join(dir, l.String())
		cb, _ := os.ReadFile(filepath.Join(laneDir, cursorName))
		cur, _, curOK := decodeCursor(cb)
		names, err := filepath.Glob(filepath.Join(laneDir, "*"+segSuffix))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			n, _, _ := parseSegName(filepath.Base(name))
			if curOK && n < cur.seg {
				continue
			}
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			off := int64(segHeaderSize)
			if curOK && n == cur.seg {
				off = max(off, cur.off)
			}
			for off < int64(len(b)) {
				meta, ok := checkRecord(b[off:], formatVersion)
				if !ok {
					t.Fatalf("%s: no record at %d", name, off)
				}
				spans = append(spans, recordSpan{lane: l, seg: n, off: off, size: meta.size})
				off += meta.size
			}
		}
	}
	return spans
}

// identifySpans reads each span's body id from the files.
func identifySpans(t *testing.T, dir string, spans []recordSpan) []recordSpan {
	for i, s := range spans {
		b, err := os.ReadFile(filepath.Join(dir, s.lane.String(), segName(s.seg)))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := decodePayload(b[s.off+frameHeaderSize:s.off+s.size], formatVersion)
		if err != nil {
			t.Fatal(err)
		}
		spans[i].id = bodyID(rec.Body)
		spans[i].bodySize = len(rec.Body)
	}
	return spans
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// damageMap records which byte ranges of which segment files were damaged.
type damageMap struct {
	flips map[string][]int64 // file → offsets
	cuts  map[string]int64   // file → truncated length
}

func (m damageMap) hit(s recordSpan) bool {
	name := filepath.Join(s.lane.String(), segName(s.seg))
	cut, cutOK := m.cuts[name]
	for _, off := range m.flips[name] {
		if cutOK && off >= cut {
			continue // the flipped byte was cut off later
		}
		if off >= s.off && off < s.off+s.size {
			return true
		}
	}
	// A cut at the record's start leaves no trace of it: it is lost, but
	// nothing damaged remains to count.
	return cutOK && cut > s.off && cut < s.off+s.size
}

func (m damageMap) lost(s recordSpan) bool {
	cut, ok := m.cuts[filepath.Join(s.lane.String(), segName(s.seg))]
	return ok && cut < s.off+s.size
}

// damage flips bytes in and truncates random segment files, and sometimes
// garbles a cursor file.
func damage(t *testing.T, rng *rand.Rand, dir string, spans []recordSpan) damageMap {
	t.Helper()
	m := damageMap{flips: map[string][]int64{}, cuts: map[string]int64{}}
	var files []string
	for _, s := range spans {
		name := filepath.Join(s.lane.String(), segName(s.seg))
		if len(files) == 0 || files[len(files)-1] != name {
			files = append(files, name)
		}
	}
	for range 1 + rng.IntN(6) {
		name := files[rng.IntN(len(files))]
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil || len(b) == 0 {
			continue
		}
		if rng.IntN(4) == 0 {
			cut := int64(rng.IntN(len(b)))
			if old, ok := m.cuts[name]; !ok || cut < old {
				m.cuts[name] = cut
			}
			b = b[:cut]
		} else {
			for range 1 + rng.IntN(3) {
				off := rng.IntN(len(b))
				b[off] ^= byte(1 + rng.IntN(255))
				m.flips[name] = append(m.flips[name], int64(off))
			}
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if rng.IntN(4) == 0 {
		lane := Lane(rng.IntN(NumLanes))
		path := filepath.Join(dir, lane.String(), cursorName)
		b, _ := os.ReadFile(path)
		if len(b) > 0 {
			b[rng.IntN(len(b))] ^= 0xFF
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}
