package uplink

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if d := New(Config{}, nil).Delay(); d != 0 {
			t.Errorf("unlimited budget: delay %v", d)
		}
		b := New(Config{BytesPerSecond: 1000, Burst: 1000}, nil)
		c1, c2 := b.Client("a", 1), b.Client("b", 1)
		defer c1.Close()
		defer c2.Close()
		if d := b.Delay(); d != 0 {
			t.Errorf("nobody waits: delay %v", d)
		}
		ctx := t.Context()
		if err := c1.Wait(ctx, 1000); err != nil { // empties the bucket
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		// One after the other, so that the 1500-byte request is granted
		// last whatever order the goroutines would start in.
		wg.Go(func() { _ = c1.Wait(ctx, 500) })
		synctest.Wait()
		wg.Go(func() { _ = c2.Wait(ctx, 1500) })
		synctest.Wait()
		// 2000 bytes wanted, none in the bucket, at 1000 B/s.
		if d := b.Delay(); d != 2*time.Second {
			t.Errorf("two waiters for 2000 bytes at 1000 B/s: delay %v, want 2s", d)
		}
		time.Sleep(250 * time.Millisecond)
		synctest.Wait()
		if d := b.Delay(); d != 1750*time.Millisecond {
			t.Errorf("after 250 ms: delay %v, want 1.75s", d)
		}
		wg.Wait()
		if d := b.Delay(); d != 0 {
			t.Errorf("all granted: delay %v", d)
		}
		// Raising the rate shortens the wait of those still waiting.
		wctx, cancel := context.WithCancel(ctx)
		wg.Go(func() { _ = c1.Wait(wctx, 900) })
		synctest.Wait()
		b.Reconfigure(Config{BytesPerSecond: 100000, Burst: 1000})
		synctest.Wait()
		// The 1500-byte grant left the bucket 500 bytes in debt: 1400
		// bytes at 100 kB/s.
		if d := b.Delay(); d != 14*time.Millisecond {
			t.Errorf("after a raise to 100 kB/s: delay %v, want 14ms", d)
		}
		cancel()
		wg.Wait()
	})
}
