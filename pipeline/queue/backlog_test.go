package queue

import (
	"testing"
	"time"
)

func TestRegistryBacklog(t *testing.T) {
	var r Registry
	if _, ok := r.Backlog("otlp/central"); ok {
		t.Fatal("Backlog of an empty registry: ok")
	}
	q, rel, err := r.Acquire(Options{Dir: t.TempDir(), Exporter: "otlp/central", Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	mq, relMem, err := r.Acquire(Options{Kind: KindMemory, Exporter: "otlp/mem", Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = relMem() }()

	b, ok := r.Backlog("otlp/central")
	if !ok || b != (Backlog{}) {
		t.Fatalf("empty queue: %+v, %v; want zero, true", b, ok)
	}
	if b.Age(time.Now()) != 0 {
		t.Errorf("age of an empty queue %v", b.Age(time.Now()))
	}
	// Records in two lanes: the oldest is the earliest creation time,
	// whatever its lane; bytes and items add up.
	r1, r2, r3 := testRecord(LaneLow, 1, 100), testRecord(LaneHigh, 5, 300), testRecord(LaneNormal, 9, 50)
	for _, rec := range []Record{r1, r2} {
		if err := q.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := mq.Append(r3); err != nil {
		t.Fatal(err)
	}
	var want Backlog
	for _, s := range q.Stats() {
		want.Bytes += s.Bytes
	}
	b, ok = r.Backlog("otlp/central")
	if !ok || b.Records != 2 || b.Items != r1.Items+r2.Items || b.Bytes != want.Bytes || b.Bytes < 400 || !b.Oldest.Equal(r1.Created) {
		t.Errorf("backlog %+v, %v; want 2 records, %d items, %d bytes, oldest %v", b, ok, r1.Items+r2.Items, want.Bytes, r1.Created)
	}
	if got := b.Age(r1.Created.Add(90 * time.Second)); got != 90*time.Second {
		t.Errorf("age = %v, want 90s", got)
	}
	if b, ok := r.Backlog("otlp/mem"); !ok || b.Records != 1 || !b.Oldest.Equal(r3.Created) {
		t.Errorf("memory queue backlog %+v, %v", b, ok)
	}
	for _, name := range []string{"", "otlp", "otlp/central2"} {
		if _, ok := r.Backlog(name); ok {
			t.Errorf("Backlog(%q): ok", name)
		}
	}
	if err := rel(); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Backlog("otlp/central"); ok {
		t.Error("Backlog after the last release: ok")
	}
}
