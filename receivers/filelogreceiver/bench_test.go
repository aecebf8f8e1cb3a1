package filelogreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchmarkRead reads a file of b.N lines, written by line(i), through a
// receiver into a consumer that counts records: lines/s and CPU-seconds
// per million lines (process CPU, so it includes the GC) are reported.
// The checkpoint is saved (fsynced) after every batch of 1000 lines, as
// in production.
func benchmarkRead(b *testing.B, parser *ParserConfig, line func(i int) string) {
	benchmarkReadBatch(b, DefaultMaxBatchSize, parser, line)
}

func benchmarkReadBatch(b *testing.B, batch int, parser *ParserConfig, line func(i int) string) {
	dir := b.TempDir()
	path := filepath.Join(dir, "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	buf := make([]byte, 0, 1<<20)
	for i := range b.N {
		buf = append(buf, line(i)...)
		buf = append(buf, '\n')
		if len(buf) > 1<<20-512 || i == b.N-1 {
			n, err := f.Write(buf)
			if err != nil {
				b.Fatal(err)
			}
			size += int64(n)
			buf = buf[:0]
		}
	}
	f.Close()
	cfg := createDefaultConfig()
	cfg.Include = []string{path}
	cfg.StartAt = StartAtBeginning
	cfg.Parser = parser
	cfg.MaxBatchSize = batch
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	var got int
	next, _ := consumer.NewLogs(func(_ context.Context, ld plog.Logs) error {
		got += ld.LogRecordCount()
		return nil
	})
	set := pipeline.Settings{ID: pipeline.MustID("filelog"), Telemetry: selftelemetry.New(), StorageDir: b.TempDir()}
	r, err := newReceiver(set, cfg, next)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size / int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	r.poll(context.Background())
	cpu, wall := cpuTime()-cpu0, time.Since(t0)
	b.StopTimer()
	if got != b.N {
		b.Fatalf("read %d lines of %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/wall.Seconds(), "lines/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6, "CPU-s/Mlines")
}

func BenchmarkRead(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		benchmarkRead(b, nil, func(i int) string {
			return fmt.Sprintf("2026-11-30T12:00:00.%06dZ INFO request served path=/api/v1/items/%d status=200 bytes=%d", i%1000000, i, 1000+i%5000)
		})
	})
	// Larger batches: fewer checkpoint fsyncs, more lines read twice
	// after a crash.
	b.Run("raw-batch10000", func(b *testing.B) {
		benchmarkReadBatch(b, 10000, nil, func(i int) string {
			return fmt.Sprintf("2026-11-30T12:00:00.%06dZ INFO request served path=/api/v1/items/%d status=200 bytes=%d", i%1000000, i, 1000+i%5000)
		})
	})
	b.Run("json", func(b *testing.B) {
		benchmarkRead(b, &ParserConfig{Type: ParserJSON, Timestamp: &TimestampConfig{ParseFrom: "time", LayoutType: LayoutGotime, Layout: time.RFC3339Nano}, Severity: &SeverityConfig{ParseFrom: "level"}},
			func(i int) string {
				return fmt.Sprintf(`{"time":"2026-11-30T12:00:00.%06dZ","level":"info","msg":"request served","path":"/api/v1/items/%d","status":200,"bytes":%d}`, i%1000000, i, 1000+i%5000)
			})
	})
	b.Run("regex", func(b *testing.B) {
		benchmarkRead(b, &ParserConfig{Type: ParserRegex, Regex: `^(?P<time>\S+) (?P<level>\w+) (?P<msg>[^=]*?) path=(?P<path>\S+) status=(?P<status>\d+) bytes=(?P<bytes>\d+)$`,
			Timestamp: &TimestampConfig{ParseFrom: "time", Layout: "%Y-%m-%dT%H:%M:%S.%fZ"}, Severity: &SeverityConfig{ParseFrom: "level"}},
			func(i int) string {
				return fmt.Sprintf("2026-11-30T12:00:00.%06dZ INFO request served path=/api/v1/items/%d status=200 bytes=%d", i%1000000, i, 1000+i%5000)
			})
	})
}
