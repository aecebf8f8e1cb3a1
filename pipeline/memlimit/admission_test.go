package memlimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAdmitGrowResizeRelease(t *testing.T) {
	l := New(200, nil) // capacity 100
	a, err := l.Admit(60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(50); !errors.Is(err, ErrLimit) {
		t.Fatalf("Admit past the capacity beside another: %v, want ErrLimit", err)
	}
	if _, err := l.Admit(101); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Admit of more than the capacity: %v, want ErrTooLarge", err)
	}
	if err := a.Grow(41); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("growing one charge past the capacity: %v, want ErrTooLarge", err)
	}
	b, err := l.Admit(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Grow(41); !errors.Is(err, ErrLimit) {
		t.Fatalf("growing past the capacity beside another: %v, want ErrLimit", err)
	}
	if err := b.Grow(40); err != nil {
		t.Fatal(err)
	}
	if got := l.InFlight(); got != 100 {
		t.Fatalf("in flight %d, want 100", got)
	}
	if err := a.Resize(10); err != nil || a.Held() != 10 || l.InFlight() != 50 {
		t.Fatalf("Resize down: %v, held %d, in flight %d", err, a.Held(), l.InFlight())
	}
	if err := a.Resize(70); !errors.Is(err, ErrLimit) {
		t.Fatalf("Resize up past the capacity: %v", err)
	}
	a.Release()
	a.Release() // idempotent
	b.Release()
	if got := l.InFlight(); got != 0 {
		t.Fatalf("in flight %d after releasing every charge", got)
	}
	if err := a.Grow(1); err == nil {
		t.Fatal("Grow after Release accepted")
	}
	var none *Charge
	none.Release()
	if none.Held() != 0 || none.Grow(1) != nil || none.Resize(5) != nil {
		t.Fatal("nil Charge is not a no-op")
	}
}

func TestAdmitUnlimited(t *testing.T) {
	for _, l := range []*Limiter{nil, New(0, nil)} {
		c, err := l.Admit(1 << 50)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Grow(1 << 50); err != nil {
			t.Fatal(err)
		}
		c.Release()
		if got := l.MaxRequestSize(1234); got != 1234 {
			t.Fatalf("MaxRequestSize unlimited = %d", got)
		}
	}
}

func TestMaxRequestSize(t *testing.T) {
	l := New(64<<20, nil) // capacity 32 MiB
	if got, want := l.MaxRequestSize(20<<20), int64(32<<20)/Expansion; got != want {
		t.Fatalf("MaxRequestSize(20MiB) = %d, want %d", got, want)
	}
	if got := l.MaxRequestSize(1 << 20); got != 1<<20 {
		t.Fatalf("MaxRequestSize(1MiB) = %d", got)
	}
}

// TestAdmitWait checks that a waiting charge is admitted when another is
// released, and refused with ErrLimit when its context ends first.
func TestAdmitWait(t *testing.T) {
	l := New(200, nil)
	a, err := l.Admit(80)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.AdmitWait(ctx, 30); !errors.Is(err, ErrLimit) {
		t.Fatalf("AdmitWait until the deadline: %v, want ErrLimit", err)
	}
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := l.AdmitWait(ctx, 30)
		c.Release()
		got <- err
	}()
	a.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("AdmitWait after a release: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AdmitWait not woken by a release")
	}
	if _, err := l.AdmitWait(context.Background(), 101); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("AdmitWait of more than the capacity: %v, want ErrTooLarge at once", err)
	}
}

// TestChargeReader reads through a charged reader: the charge always
// covers what was read, a body that fits is read whole, and refusals
// carry the limiter's error kinds.
func TestChargeReader(t *testing.T) {
	f := func(name string, capacity, bodyLen, limit int64, other int64, wantErr error) {
		t.Run(name, func(t *testing.T) {
			l := New(2*capacity, nil)
			if other > 0 {
				o, err := l.Admit(other)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Release()
			}
			c, err := l.Admit(0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			r := c.Reader(context.Background(), strings.NewReader(strings.Repeat("a", int(bodyLen))), ReaderOptions{PerByte: 4, Limit: limit})
			var got bytes.Buffer
			buf := make([]byte, 7000)
			for {
				n, err := r.Read(buf)
				got.Write(buf[:n])
				if int64(got.Len())*4 > c.Held() {
					t.Fatalf("read %d bytes on a charge of %d at 4 per byte", got.Len(), c.Held())
				}
				if err == io.EOF {
					err = nil
					if wantErr != nil {
						t.Fatalf("read %d bytes whole, want %v", got.Len(), wantErr)
					}
					break
				}
				if err != nil {
					if !errors.Is(err, wantErr) {
						t.Fatalf("after %d bytes: %v, want %v", got.Len(), err, wantErr)
					}
					return
				}
			}
			if int64(got.Len()) != bodyLen {
				t.Fatalf("read %d of %d bytes", got.Len(), bodyLen)
			}
		})
	}
	f("fits", 1<<20, 100<<10, 0, 0, nil)
	f("exactly at the cap", 1<<20, 100<<10, 100<<10+1, 0, nil)
	f("past the cap", 1<<20, 100<<10, 50<<10, 0, ErrTooLarge)
	f("too large for the limit", 100<<10, 100<<10, 0, 0, ErrTooLarge)
	f("limit taken by another", 1<<20, 200<<10, 0, 700<<10, ErrLimit)
	// The whole body is paid for exactly: the read that reports EOF must
	// not be refused for the step after it.
	f("ends on the capacity", 32<<10*4, 32<<10, 0, 0, nil)
}

func TestChargesConcurrent(t *testing.T) {
	l := New(2000, nil) // capacity 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := int64(0)
	for range 8 {
		wg.Go(func() {
			for range 500 {
				c, err := l.Admit(50)
				if err != nil {
					continue
				}
				if c.Grow(100) == nil {
					mu.Lock()
					peak = max(peak, l.InFlight())
					mu.Unlock()
				}
				_ = c.Resize(20)
				c.Release()
			}
		})
	}
	wg.Wait()
	if peak > 1000 || l.InFlight() != 0 {
		t.Fatalf("peak %d (capacity 1000), left %d", peak, l.InFlight())
	}
}

// TestReaderWaits checks the waiting reader: when the limit is taken, the
// first reader to find it so waits and gets the room it needs as soon as
// it is given back, while the room stays kept from others, which are
// refused at once; once its body ends, others may wait again.
func TestReaderWaits(t *testing.T) {
	l := New(2<<20, nil) // capacity 1 MiB
	holder, err := l.Admit(1<<20 - 100<<10)
	if err != nil {
		t.Fatal(err)
	}
	big, err := l.Admit(0)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Release()
	body := strings.Repeat("b", 300<<10)
	done := make(chan error, 1)
	go func() {
		r := big.Reader(context.Background(), strings.NewReader(body), ReaderOptions{PerByte: 1, MaxWait: 10 * time.Second})
		b, err := io.ReadAll(r)
		if err == nil && len(b) != len(body) {
			err = errors.New("short read")
		}
		done <- err
	}()
	// Wait until the big reader waits: the room it needs is kept.
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		waiting := l.waiter == big && l.waitNeed > 0
		l.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the big reader never waited")
		}
		time.Sleep(time.Millisecond)
	}
	// Room is left outside the kept need, but another reader may not wait.
	small, err := l.Admit(0)
	if err != nil {
		t.Fatal(err)
	}
	r := small.Reader(context.Background(), strings.NewReader(strings.Repeat("s", 200<<10)), ReaderOptions{PerByte: 1, MaxWait: 10 * time.Second})
	if _, err := io.ReadAll(r); !errors.Is(err, ErrLimit) {
		t.Fatalf("a second reader while one waits: %v, want ErrLimit at once", err)
	}
	small.Release()
	holder.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the waiting reader: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting reader did not get its room after a release")
	}
	l.mu.Lock()
	w := l.waiter
	l.mu.Unlock()
	if w != nil {
		t.Fatal("the reader still waits after its body ended")
	}
}
