package queue

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openQueue opens a queue and closes it when the test ends.
func openQueue(t testing.TB, opts Options) *Queue {
	t.Helper()
	q, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// testBody is a body that names its record: an 8-byte id followed by
// filler derived from the id, so that any delivered body can be checked.
func testBody(id uint64, size int) []byte {
	size = max(size, 8)
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, id)
	x := id*0x9E3779B97F4A7C15 + 1
	for i := 8; i < size; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func bodyID(b []byte) uint64 {
	if len(b) < 8 {
		return ^uint64(0)
	}
	return binary.LittleEndian.Uint64(b)
}

func testRecord(lane Lane, id uint64, size int) Record {
	return Record{
		Lane:     lane,
		Created:  time.Date(2026, 3, 1, 12, 0, 0, int(id), time.UTC),
		Items:    int(id%7) + 1,
		Signal:   "traces",
		Encoding: "proto",
		Body:     testBody(id, size),
	}
}

// tryRead returns the next record or nil, without waiting.
func tryRead(q *Queue) *Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	return q.nextLocked()
}

// mustRead reads with a timeout.
func mustRead(t testing.TB, q *Queue) *Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := q.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return d
}

// drainIDs reads and acks everything readable now and returns the body ids.
func drainIDs(q *Queue) []uint64 {
	var ids []uint64
	for d := tryRead(q); d != nil; d = tryRead(q) {
		ids = append(ids, bodyID(d.Record.Body))
		q.Ack(d)
	}
	return ids
}

func counterValue(t testing.TB, tel *selftelemetry.Metrics, name string, labels ...string) float64 {
	t.Helper()
	switch name {
	case "dropped":
		return testutil.ToFloat64(tel.QueueDropped.WithLabelValues(labels...))
	case "corrupt":
		return testutil.ToFloat64(tel.QueueCorrupt.WithLabelValues(labels...))
	case "bytes":
		return testutil.ToFloat64(tel.QueueBytes.WithLabelValues(labels...))
	case "records":
		return testutil.ToFloat64(tel.QueueRecords.WithLabelValues(labels...))
	case "items":
		return testutil.ToFloat64(tel.QueueItems.WithLabelValues(labels...))
	case "capacity":
		return testutil.ToFloat64(tel.QueueCapacity.WithLabelValues(labels...))
	case "age":
		return testutil.ToFloat64(tel.QueueOldestAge.WithLabelValues(labels...))
	}
	t.Fatalf("unknown metric %s", name)
	return 0
}
