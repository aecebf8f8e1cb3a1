package queue

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// dirBytes is the sum of the sizes of dir's segment files.
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var total int64
	for l := range Lane(NumLanes) {
		names, _ := filepath.Glob(filepath.Join(dir, l.String(), "*"+segSuffix))
		for _, n := range names {
			st, err := os.Stat(n)
			if err != nil {
				t.Fatal(err)
			}
			total += st.Size()
		}
	}
	return total
}

func TestBlockWhenFull(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 256 << 10 // 64 KiB segments
	q := openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: maxBytes, FullPolicy: FullBlock}})
	var n uint64
	var err error
	for ; ; n++ {
		if err = q.Append(testRecord(LaneNormal, n, 4000)); err != nil {
			break
		}
		if got := dirBytes(t, dir); got > maxBytes {
			t.Fatalf("segment files hold %d bytes, over max_bytes %d", got, maxBytes)
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append at the cap: %v, want ErrFull", err)
	}
	full := dirBytes(t, dir)
	// Acking a few records frees nothing until a whole segment is done.
	for range 5 {
		q.Ack(mustRead(t, q))
	}
	if err := q.Append(testRecord(LaneNormal, n, 4000)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append after acking part of a segment: %v, want ErrFull", err)
	}
	// Acking the first segment's records frees it.
	for q.Stats()[LaneNormal].Bytes >= full {
		q.Ack(mustRead(t, q))
	}
	if err := q.Append(testRecord(LaneNormal, n, 4000)); err != nil {
		t.Fatalf("Append after a segment was freed: %v", err)
	}
	t.Logf("block: %d records (%d bytes of segment files, max %d) until ErrFull; accepted again after a segment was acked", n, full, maxBytes)
}

func TestTooLarge(t *testing.T) {
	q := openQueue(t, Options{Dir: t.TempDir(), Limits: Limits{MaxBytes: 10000}})
	r := testRecord(LaneHigh, 1, 10000)
	if err := q.Append(r); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append of a record over max_bytes: %v", err)
	}
	r = testRecord(LaneHigh, 1, 10000-segHeaderSize-int(recordSize(&Record{Signal: "traces", Encoding: "proto"})))
	if err := q.Append(r); err != nil {
		t.Fatalf("Append of a record exactly at max_bytes: %v", err)
	}
	if got := q.Stats()[LaneHigh].Bytes; got != 10000 {
		t.Fatalf("lane bytes %d, want 10000", got)
	}
}

// TestDropOldest checks that drop_oldest sheds the least important lane
// first, that a record never displaces a more important one, and that the
// counts add up: appended items = acked items + dropped items.
func TestDropOldest(t *testing.T) {
	tel := selftelemetry.New()
	dir := t.TempDir()
	const maxBytes = 256 << 10
	q := openQueue(t, Options{Dir: dir, Exporter: "drop", Telemetry: tel,
		Limits: Limits{MaxBytes: maxBytes, FullPolicy: FullDropOldest}})

	var appended [NumLanes]int
	add := func(lane Lane, id uint64) {
		t.Helper()
		r := testRecord(lane, id, 3000)
		if err := q.Append(r); err != nil {
			t.Fatal(err)
		}
		appended[lane] += r.Items
		if got := dirBytes(t, dir); got > maxBytes {
			t.Fatalf("segment files hold %d bytes, over max_bytes %d", got, maxBytes)
		}
	}
	dropped := func(lane Lane) int {
		return int(counterValue(t, tel, "dropped", "drop", lane.String(), "queue_full"))
	}
	id := uint64(0)
	// Fill with low, then normal: normal displaces low, low never normal.
	for range 80 {
		add(LaneLow, id)
		id++
	}
	for range 80 {
		add(LaneNormal, id)
		id++
	}
	st := q.Stats()
	if dropped(LaneLow) == 0 || dropped(LaneNormal) != 0 {
		t.Fatalf("after normal appends: dropped low %d, normal %d", dropped(LaneLow), dropped(LaneNormal))
	}
	t.Logf("after 80 low + 80 normal: low %d records, normal %d; dropped items low %d", st[LaneLow].Records, st[LaneNormal].Records, dropped(LaneLow))

	// A low record cannot displace normal ones once low is empty of
	// older segments: it is dropped itself, Append returns nil.
	lowBefore := dropped(LaneLow)
	for range 20 {
		add(LaneLow, id)
		id++
	}
	if dropped(LaneNormal) != 0 {
		t.Fatal("a low record displaced normal ones")
	}
	if dropped(LaneLow) == lowBefore {
		t.Fatal("low records neither stored nor dropped")
	}
	// High displaces normal (low is gone by now or is displaced first).
	for range 40 {
		add(LaneHigh, id)
		id++
	}
	if dropped(LaneNormal) == 0 {
		t.Fatal("high records did not displace normal ones")
	}
	if dropped(LaneHigh) != 0 {
		t.Fatalf("high dropped %d with lower lanes to shed", dropped(LaneHigh))
	}
	// Once only high is left, high displaces its own oldest.
	for range 100 {
		add(LaneHigh, id)
		id++
	}
	if dropped(LaneHigh) == 0 {
		t.Fatal("a full high lane did not drop its own oldest")
	}

	// Everything left is delivered; the counts add up per lane.
	var read [NumLanes]int
	for d := tryRead(q); d != nil; d = tryRead(q) {
		read[d.Record.Lane] += d.Record.Items
		q.Ack(d)
	}
	for l := range Lane(NumLanes) {
		if appended[l] != read[l]+dropped(l) {
			t.Errorf("lane %s: appended %d items, read %d + dropped %d", l, appended[l], read[l], dropped(l))
		}
		t.Logf("lane %s: appended %d items = read %d + dropped %d", l, appended[l], read[l], dropped(l))
	}
}

// TestDropOldestInFlight: records dropped while in flight are counted by
// Nack, not twice; random workload, counts must add up exactly.
func TestDropOldestRandom(t *testing.T) {
	tel := selftelemetry.New()
	q := openQueue(t, Options{Kind: KindMemory, Exporter: "rnd", Telemetry: tel,
		Limits: Limits{MaxBytes: 200 << 10, FullPolicy: FullDropOldest}})
	rng := rand.New(rand.NewPCG(5, 6))
	var appended, acked int
	var inflight []*Delivery
	for i := range uint64(5000) {
		switch r := rng.IntN(10); {
		case r < 6:
			rec := testRecord(Lane(rng.IntN(NumLanes)), i, rng.IntN(6000))
			if err := q.Append(rec); err != nil {
				t.Fatal(err)
			}
			appended += rec.Items
		case r < 8:
			if d := tryRead(q); d != nil {
				inflight = append(inflight, d)
			}
		default:
			if len(inflight) > 0 {
				j := rng.IntN(len(inflight))
				d := inflight[j]
				inflight = append(inflight[:j], inflight[j+1:]...)
				if rng.IntN(3) == 0 {
					q.Nack(d)
				} else {
					acked += d.Record.Items
					q.Ack(d)
				}
			}
		}
	}
	for _, d := range inflight {
		q.Nack(d)
	}
	for d := tryRead(q); d != nil; d = tryRead(q) {
		acked += d.Record.Items
		q.Ack(d)
	}
	var dropped int
	for l := range Lane(NumLanes) {
		dropped += int(counterValue(t, tel, "dropped", "rnd", l.String(), "queue_full"))
	}
	if appended != acked+dropped {
		t.Fatalf("appended %d items, acked %d + dropped %d = %d", appended, acked, dropped, acked+dropped)
	}
	t.Logf("random drop_oldest workload: appended %d items = acked %d + dropped %d", appended, acked, dropped)
}

func TestMaxAge(t *testing.T) {
	tel := selftelemetry.New()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	q := openQueue(t, Options{Dir: t.TempDir(), Exporter: "age", Telemetry: tel, Now: func() time.Time { return now },
		Limits: Limits{MaxBytes: 1 << 20, MaxAge: time.Minute}})
	var expiredItems int
	for i := range uint64(10) {
		r := testRecord(LaneNormal, i, 100)
		r.Created = now.Add(-time.Duration(10-i) * 15 * time.Second) // 150 s .. 15 s old
		if err := q.Append(r); err != nil {
			t.Fatal(err)
		}
		if now.Sub(r.Created) > time.Minute {
			expiredItems += r.Items
		}
	}
	r := testRecord(LaneLow, 100, 10) // zero Created: now
	r.Created = time.Time{}
	if err := q.Append(r); err != nil {
		t.Fatal(err)
	}
	got := drainIDs(q)
	if len(got) != 5 || got[0] != 6 {
		t.Fatalf("delivered %v, want records 6..9 and 100", got)
	}
	if n := int(counterValue(t, tel, "dropped", "age", "normal", "expired")); n != expiredItems {
		t.Fatalf("expired items %d, want %d", n, expiredItems)
	}
	t.Logf("max_age 1m: delivered %v, %d items expired", got, expiredItems)
}

func TestReconfigure(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20}})
	for i := range uint64(100) {
		if err := q.Append(testRecord(LaneNormal, i, 4000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Reconfigure(Limits{MaxBytes: 100 << 10, FullPolicy: FullBlock}); err != nil {
		t.Fatal(err)
	}
	if s := q.Stats()[LaneNormal]; s.Records != 100 {
		t.Fatalf("Reconfigure dropped records: %d left", s.Records)
	}
	if err := q.Append(testRecord(LaneNormal, 100, 10)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append over the new, smaller max_bytes: %v", err)
	}
	if err := q.Reconfigure(Limits{MaxBytes: 0}); err == nil {
		t.Fatal("Reconfigure accepted max_bytes 0")
	}
	if err := q.Reconfigure(Limits{MaxBytes: 1 << 20, Fsync: FsyncInterval}); err == nil {
		t.Fatal("Reconfigure accepted fsync interval without a period")
	}
	if err := q.Reconfigure(Limits{MaxBytes: 1 << 20, Fsync: FsyncInterval, FsyncInterval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := q.Append(testRecord(LaneNormal, 100, 10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the periodic fsync run (race detector checks it)
}
