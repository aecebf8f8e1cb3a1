package memlimit

import (
	"errors"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAcquireRelease(t *testing.T) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	l := New(200, g) // capacity 100
	if c := l.Capacity(); c != 100 {
		t.Fatalf("capacity %d, want 100", c)
	}
	if err := l.Acquire(60); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(40); err != nil {
		t.Fatal(err)
	}
	if err := l.Acquire(1); !errors.Is(err, ErrLimit) {
		t.Fatalf("Acquire past the capacity: %v, want ErrLimit", err)
	}
	if v := testutil.ToFloat64(g); v != 100 {
		t.Fatalf("gauge %v, want 100", v)
	}
	l.Release(60)
	if err := l.Acquire(50); err != nil {
		t.Fatal(err)
	}
	l.Release(50)
	l.Release(40)
	if l.InFlight() != 0 || testutil.ToFloat64(g) != 0 {
		t.Fatalf("in flight %d after releasing all", l.InFlight())
	}
	// One request larger than the capacity passes alone, never beside
	// another.
	if err := l.Acquire(500); err != nil {
		t.Fatalf("a lone large request: %v", err)
	}
	if err := l.Acquire(1); !errors.Is(err, ErrLimit) {
		t.Fatalf("beside a large request: %v", err)
	}
	l.Release(500)
}

func TestReserve(t *testing.T) {
	l := New(1000, nil)
	release, ok := l.Reserve(600)
	if !ok {
		t.Fatal("Reserve(600) of 1000 refused")
	}
	if c := l.Capacity(); c != 200 {
		t.Fatalf("capacity %d after reserving 600 of 1000, want 200", c)
	}
	if _, ok := l.Reserve(401); ok {
		t.Fatal("Reserve past the limit accepted")
	}
	release()
	release() // idempotent
	if c := l.Capacity(); c != 500 {
		t.Fatalf("capacity %d after release, want 500", c)
	}
}

func TestUnlimited(t *testing.T) {
	var nilLimiter *Limiter
	for _, l := range []*Limiter{nilLimiter, New(0, nil)} {
		for range 10 {
			if err := l.Acquire(1 << 40); err != nil {
				t.Fatal(err)
			}
		}
		if r, ok := l.Reserve(1 << 50); !ok {
			t.Fatal("unlimited Reserve refused")
		} else {
			r()
		}
	}
}

func TestConcurrent(t *testing.T) {
	l := New(2000, nil) // capacity 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if l.Acquire(100) == nil {
					mu.Lock()
					peak = max(peak, l.InFlight())
					mu.Unlock()
					l.Release(100)
				}
			}
		})
	}
	wg.Wait()
	if peak > 1000 || l.InFlight() != 0 {
		t.Fatalf("peak %d (capacity 1000), left %d", peak, l.InFlight())
	}
}
