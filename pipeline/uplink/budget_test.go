package uplink

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

func uplinkBytes(tel *selftelemetry.Metrics, exporter string) float64 {
	return testutil.ToFloat64(tel.UplinkBytes.WithLabelValues(exporter))
}

func uplinkWait(tel *selftelemetry.Metrics, exporter string) float64 {
	return testutil.ToFloat64(tel.UplinkWait.WithLabelValues(exporter))
}

// demand calls Wait with sizes in turn until ctx ends, and returns the
// bytes granted. If from is not zero, only grants at or after it count.
func demand(ctx context.Context, c *Client, sizes []int, from time.Time) (granted int64) {
	for i := 0; ; i++ {
		n := sizes[i%len(sizes)]
		if err := c.Wait(ctx, n); err != nil {
			return granted
		}
		c.Sent(n) // as a sender does once the bytes went out
		if !time.Now().Before(from) {
			granted += int64(n)
		}
	}
}

// within fails the test unless got is within tol (relative) of want.
func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*want {
		t.Errorf("%s = %.0f, want %.0f ± %.1f%%", what, got, want, tol*100)
	}
}

// (a) One client with mixed request sizes gets rate × time + burst.
func TestRateSingleClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, burst = 1_000_000, 1_000_000
		tel := selftelemetry.New()
		b := New(Config{BytesPerSecond: rate}, tel) // burst defaults to 1 s of rate
		c := b.Client("otlp", 1)
		defer c.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			granted int64
		)
		sizes := [][]int{{1000, 5000, 20000}, {300, 64000}, {12345, 777, 40000, 2}}
		for _, s := range sizes {
			wg.Go(func() {
				g := demand(ctx, c, s, time.Time{})
				mu.Lock()
				granted += g
				mu.Unlock()
			})
		}
		wg.Wait()
		want := float64(rate*30 + burst)
		t.Logf("granted %d bytes in 30 s at %d B/s with burst %d: %.3f%% of rate×30+burst",
			granted, rate, burst, 100*float64(granted)/want)
		within(t, "granted", float64(granted), want, 0.01)
		if granted > rate*30+burst {
			t.Errorf("granted %d > burst + rate×elapsed = %d", granted, rate*30+burst)
		}
		if granted < rate*30-64000 {
			t.Errorf("granted %d < rate×elapsed − largest request = %d", granted, rate*30-64000)
		}
		if got := uplinkBytes(tel, "otlp"); got != float64(granted) {
			t.Errorf("UplinkBytes = %.0f, want %d", got, granted)
		}
		if got := testutil.ToFloat64(tel.UplinkRate); got != rate {
			t.Errorf("UplinkRate = %v", got)
		}
		if got := testutil.ToFloat64(tel.UplinkBurst); got != burst {
			t.Errorf("UplinkBurst = %v", got)
		}
	})
}

// (b) Two backlogged clients share the rate 3:1 by bytes, even with
// different request sizes.
func TestWeightedShares(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		b := New(Config{BytesPerSecond: 100_000, Burst: 10_000}, tel)
		heavy, light := b.Client("heavy", 3), b.Client("light", 1)
		defer heavy.Close()
		defer light.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { demand(ctx, heavy, []int{1000}, time.Time{}) })
			wg.Go(func() { demand(ctx, light, []int{4000, 2500}, time.Time{}) })
		}
		wg.Wait()
		h, l := uplinkBytes(tel, "heavy"), uplinkBytes(tel, "light")
		share := h / (h + l)
		t.Logf("heavy %.0f B, light %.0f B: heavy share %.2f%% (want 75%%)", h, l, 100*share)
		if math.Abs(share-0.75) > 0.03 {
			t.Errorf("heavy share %.3f, want 0.75 ± 0.03", share)
		}
		within(t, "total", h+l, 100_000*60+10_000, 0.01)
	})
}

// (c) A client idle for a minute gets no more than its fair share plus the
// burst when it starts sending, and does not starve the busy one.
func TestIdleClientBanksNoCredit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, burst = 100_000, 50_000
		tel := selftelemetry.New()
		b := New(Config{BytesPerSecond: rate, Burst: burst}, tel)
		busy, idle := b.Client("busy", 1), b.Client("idle", 1)
		defer busy.Close()
		defer idle.Close()
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		var (
			wg               sync.WaitGroup
			busyLate, idleGr int64
		)
		wg.Go(func() { busyLate = demand(ctx, busy, []int{2000, 8000}, start.Add(60*time.Second)) })
		wg.Go(func() {
			time.Sleep(60 * time.Second)
			idleGr = demand(ctx, idle, []int{5000}, time.Time{})
		})
		wg.Wait()
		fair := float64(rate*30) / 2
		t.Logf("last 30 s: idle-then-busy client %d B, busy client %d B, fair share %.0f B", idleGr, busyLate, fair)
		if float64(idleGr) > fair+burst {
			t.Errorf("idle client got %d B, more than fair share %.0f + burst %d", idleGr, fair, burst)
		}
		if float64(busyLate) < fair-burst {
			t.Errorf("busy client got %d B, less than fair share %.0f − burst %d", busyLate, fair, burst)
		}
	})
}

// (d) A request larger than the burst waits for a full bucket and leaves
// it in debt.
func TestLargerThanBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Config{BytesPerSecond: 1000, Burst: 1000}, nil)
		c := b.Client("big", 1)
		defer c.Close()
		ctx := t.Context()
		start := time.Now()
		step := func(n int, wantAt time.Duration) {
			t.Helper()
			if err := c.Wait(ctx, n); err != nil {
				t.Fatalf("Wait(%d): %v", n, err)
			}
			if got := time.Since(start); got != wantAt {
				t.Errorf("Wait(%d) returned at %v, want %v", n, got, wantAt)
			}
		}
		step(5000, 0)                    // full bucket: goes at once, 4000 in debt
		step(1000, 5*time.Second)        // pays the debt, then waits for its own
		step(3000, 6*time.Second)        // waits for a full bucket (1000), then −2000
		step(500, 8500*time.Millisecond) // 2000 debt + 500
	})
}

// (e) A cancelled Wait returns at once and takes nothing.
func TestCancelTakesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		b := New(Config{BytesPerSecond: 1000, Burst: 1000}, tel)
		c := b.Client("x", 1)
		defer c.Close()
		start := time.Now()
		if err := c.Wait(t.Context(), 1000); err != nil { // empties the bucket
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(300*time.Millisecond, cancel)
		if err := c.Wait(ctx, 1000); !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != 300*time.Millisecond {
			t.Errorf("cancelled Wait returned at %v, want 300ms", got)
		}
		// Had it taken tokens, this would wait until 2 s.
		if err := c.Wait(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("next Wait returned at %v, want 1s", got)
		}
		if got := uplinkBytes(tel, "x"); got != 0 {
			t.Errorf("UplinkBytes = %v, want 0: Wait grants, only Sent counts", got)
		}
		if got := uplinkWait(tel, "x"); math.Abs(got-1.0) > 1e-9 {
			t.Errorf("UplinkWait = %v s, want 1.0 (0.3 cancelled + 0.7)", got)
		}
		// A context already done fails even when tokens are there.
		time.Sleep(10 * time.Second)
		done, cancel2 := context.WithCancel(t.Context())
		cancel2()
		if err := c.Wait(done, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait with a done context = %v", err)
		}
	})
}

// (e') A cancelled head hands the bucket on to the next waiter.
func TestCancelledHeadHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Config{BytesPerSecond: 1000, Burst: 1000}, nil)
		a, o := b.Client("a", 1), b.Client("o", 1)
		defer a.Close()
		defer o.Close()
		start := time.Now()
		if err := a.Wait(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { _ = a.Wait(ctx, 500) }) // the head: smallest finish
		synctest.Wait()
		wg.Go(func() {
			if err := o.Wait(t.Context(), 800); err != nil {
				t.Error(err)
			}
			if got := time.Since(start); got != 800*time.Millisecond {
				t.Errorf("second waiter done at %v, want 800ms", got)
			}
		})
		time.Sleep(100 * time.Millisecond)
		cancel()
		wg.Wait()
	})
}

// (f) Reconfigure re-times waiters at the new rate.
func TestReconfigureMidWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		b := New(Config{BytesPerSecond: 100, Burst: 1000}, tel)
		c := b.Client("x", 1)
		defer c.Close()
		start := time.Now()
		if err := c.Wait(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(time.Second, func() { b.Reconfigure(Config{BytesPerSecond: 1000, Burst: 2000}) })
		// 100 tokens in the first second at 100 B/s, then 900 at 1000 B/s.
		if err := c.Wait(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 1900*time.Millisecond {
			t.Errorf("Wait returned at %v, want 1.9s", got)
		}
		if r, bu := testutil.ToFloat64(tel.UplinkRate), testutil.ToFloat64(tel.UplinkBurst); r != 1000 || bu != 2000 {
			t.Errorf("gauges rate %v burst %v, want 1000 and 2000", r, bu)
		}
		// Going unlimited releases every waiter at once.
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if err := c.Wait(t.Context(), 1_000_000); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait()
		at := time.Now()
		time.AfterFunc(time.Second, func() { b.Reconfigure(Config{}) })
		wg.Wait()
		if got := time.Since(at); got != time.Second {
			t.Errorf("waiters released after %v, want 1s", got)
		}
		if r, bu := testutil.ToFloat64(tel.UplinkRate), testutil.ToFloat64(tel.UplinkBurst); r != 0 || bu != 0 {
			t.Errorf("gauges rate %v burst %v, want 0 and 0", r, bu)
		}
		// Back to limited: the bucket starts full.
		b.Reconfigure(Config{BytesPerSecond: 10, Burst: 500})
		at = time.Now()
		if err := c.Wait(t.Context(), 500); err != nil || time.Since(at) != 0 {
			t.Errorf("Wait on a fresh full bucket: %v after %v", err, time.Since(at))
		}
	})
}

// (g) An unlimited budget never blocks and still counts bytes.
func TestUnlimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		b := New(Config{}, tel)
		c := b.Client("x", 0)
		defer c.Close()
		start := time.Now()
		for _, n := range []int{1, 1 << 30, 5000, 0, -3} {
			if err := c.Wait(t.Context(), n); err != nil {
				t.Fatal(err)
			}
		}
		if time.Since(start) != 0 {
			t.Errorf("unlimited Wait took %v", time.Since(start))
		}
		c.Sent(1 + 1<<30 + 5000)
		if got := uplinkBytes(tel, "x"); got != 1+1<<30+5000 {
			t.Errorf("UplinkBytes = %v", got)
		}
		if r := testutil.ToFloat64(tel.UplinkRate); r != 0 {
			t.Errorf("UplinkRate = %v", r)
		}
	})
}

// (h) Adjust moves the bucket; it counts nothing.
func TestAdjust(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tel := selftelemetry.New()
		b := New(Config{BytesPerSecond: 1000, Burst: 1000}, tel)
		c := b.Client("x", 1)
		defer c.Close()
		ctx := t.Context()
		start := time.Now()
		must := func(n int) {
			t.Helper()
			if err := c.Wait(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		must(500)
		c.Adjust(1500) // the body was 2000 bytes: the bucket is at −1000
		if got := uplinkBytes(tel, "x"); got != 0 {
			t.Errorf("UplinkBytes = %v, want 0", got)
		}
		must(1000)
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("Wait after Adjust(+1500) returned at %v, want 2s", got)
		}
		c.Adjust(-500) // 500 fewer than waited for: the bucket gets them back
		at := time.Now()
		must(1000)
		if got := time.Since(at); got != 500*time.Millisecond {
			t.Errorf("Wait after Adjust(−500) took %v, want 500ms", got)
		}
		c.Adjust(-1_000_000) // refunds at most a full bucket
		at = time.Now()
		must(1000)
		must(1000)
		if got := time.Since(at); got != time.Second {
			t.Errorf("two Waits after a huge refund took %v, want 1s", got)
		}
	})
}

// On an unlimited budget Adjust and Wait count nothing; Sent counts.
func TestAdjustUnlimited(t *testing.T) {
	tel := selftelemetry.New()
	c := New(Config{}, tel).Client("x", 1)
	defer c.Close()
	c.Adjust(100)
	c.Adjust(-30)
	_ = c.Wait(context.Background(), 50)
	c.Sent(70)
	c.Sent(-5)
	if got := uplinkBytes(tel, "x"); got != 70 {
		t.Errorf("UplinkBytes = %v, want 70", got)
	}
}

// Close fails the client's pending and later Waits and lets the others go.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Config{BytesPerSecond: 1000, Burst: 1000}, nil)
		gone, stays := b.Client("gone", 1), b.Client("stays", 1)
		defer stays.Close()
		start := time.Now()
		if err := gone.Wait(t.Context(), 1000); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if err := gone.Wait(t.Context(), 100); !errors.Is(err, ErrClosed) {
					t.Errorf("pending Wait = %v, want ErrClosed", err)
				}
			})
		}
		synctest.Wait()
		wg.Go(func() {
			if err := stays.Wait(t.Context(), 500); err != nil {
				t.Error(err)
			}
			if got := time.Since(start); got != 500*time.Millisecond {
				t.Errorf("other client's Wait done at %v, want 500ms", got)
			}
		})
		synctest.Wait()
		gone.Close()
		gone.Close()
		wg.Wait()
		if err := gone.Wait(t.Context(), 1); !errors.Is(err, ErrClosed) {
			t.Errorf("Wait after Close = %v", err)
		}
	})
}

func TestDefaultBurst(t *testing.T) {
	for _, tt := range []struct {
		cfg        Config
		rate, want float64
	}{
		{Config{}, 0, 0},
		{Config{BytesPerSecond: -5, Burst: 100}, 0, 0},
		{Config{BytesPerSecond: 1000}, 1000, MinDefaultBurst},
		{Config{BytesPerSecond: 1 << 20}, 1 << 20, 1 << 20},
		{Config{BytesPerSecond: 1000, Burst: 10}, 1000, 10},
	} {
		if r, bu := tt.cfg.effective(); r != tt.rate || bu != tt.want {
			t.Errorf("%+v: rate %v burst %v, want %v %v", tt.cfg, r, bu, tt.rate, tt.want)
		}
	}
}

// TestNeverAboveBucket runs many clients with random weights and request
// sizes (none above the burst) and checks at every grant that the bytes
// granted so far never exceed burst + rate × elapsed, and that with
// constant demand they stay within one request of rate × elapsed.
func TestNeverAboveBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, burst, maxReq = 50_000, 20_000, 20_000
		b := New(Config{BytesPerSecond: rate, Burst: burst}, nil)
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		var (
			mu      sync.Mutex
			granted float64
			wg      sync.WaitGroup
		)
		for i := range 6 {
			c := b.Client("c", float64(1+i%3))
			defer c.Close()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for range 2 {
				wg.Go(func() {
					for {
						mu.Lock()
						n := 1 + rng.IntN(maxReq)
						mu.Unlock()
						if c.Wait(ctx, n) != nil {
							return
						}
						mu.Lock()
						granted += float64(n)
						el := time.Since(start).Seconds()
						if granted > burst+rate*el+1e-3 {
							t.Errorf("at %.3fs granted %.0f > burst + rate×t = %.0f", el, granted, burst+rate*el)
						}
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		if granted < rate*20-maxReq {
			t.Errorf("granted %.0f < rate×t − one request = %d", granted, rate*20-maxReq)
		}
		t.Logf("granted %.0f bytes in 20 s (rate×t = %d, burst %d)", granted, rate*20, burst)
	})
}
