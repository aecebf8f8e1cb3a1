package uplink

import (
	"context"
	"testing"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

func benchWait(b *testing.B, cfg Config, parallel bool) {
	const n = 16 << 10
	budget := New(cfg, selftelemetry.New())
	c := budget.Client("bench", 1)
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(n)
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := c.Wait(ctx, n); err != nil {
					b.Error(err)
					return
				}
			}
		})
		return
	}
	for b.Loop() {
		if err := c.Wait(ctx, n); err != nil {
			b.Fatal(err)
		}
	}
}

// The uncontended paths: no waiter ever blocks.
func BenchmarkWaitUnlimited(b *testing.B) { benchWait(b, Config{}, false) }
func BenchmarkWaitLargeRate(b *testing.B) {
	benchWait(b, Config{BytesPerSecond: 1 << 50, Burst: 1 << 50}, false)
}
func BenchmarkWaitUnlimitedParallel(b *testing.B) { benchWait(b, Config{}, true) }
func BenchmarkWaitLargeRateParallel(b *testing.B) {
	benchWait(b, Config{BytesPerSecond: 1 << 50, Burst: 1 << 50}, true)
}
