package otlpexporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
)

// sizedLogs returns n log records of about 100 bytes each, numbered from
// first; marker, if not empty, adds one ERROR record with that body.
func sizedLogs(first, n int, marker string) plog.Logs {
	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	if marker != "" {
		r := recs.AppendEmpty()
		r.Body().SetStr(marker)
		r.SetSeverityNumber(plog.SeverityNumberError)
	}
	for i := first; i < first+n; i++ {
		r := recs.AppendEmpty()
		// Hex of a hash chain: the queue stores bodies compressed (s2),
		// and these must not shrink much.
		r.Body().SetStr(fmt.Sprintf("record %d %s", i, noise(i, 80)))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
	}
	return ld
}

// TestFault8_SplitRequestIsStoredOnce: with a full blocking queue, a client
// retries a request whose small ERROR record goes to the high lane and
// whose large rest goes to the normal lane. The high part fits, the normal
// part does not. The exporter stored the high part on each of the 19
// refused tries and once more on the 20th that was taken: the ERROR record
// reached the server 20 times. Now the request is stored all or none: once.
func TestFault8_SplitRequestIsStoredOnce(t *testing.T) {
	sink := otlpsink.Start(t)
	sink.FailAlways(otlpsink.Failure{Code: codes.Unavailable, HTTPStatus: 503, Message: "down"})
	const maxBytes = 128 << 10
	cfg := httpConfig(sink.HTTPURL(), func(c *HTTPConfig) {
		c.Compression = CompressionNone
		c.Queue.Enabled = true
		c.Queue.MaxBytes = maxBytes
		c.Priority = lanes.Config{Rules: []lanes.Rule{{Lane: "high", LogSeverityAtLeast: "ERROR"}}}
	})
	tel := selftelemetry.New()
	e := newQueued(t, cfg, t.TempDir(), tel)
	defer e.Shutdown(context.Background())
	exp := e.(*exporter)
	ctx := context.Background()

	used := func() float64 {
		var b float64
		for _, l := range []string{"high", "normal", "low"} {
			b += testutil.ToFloat64(tel.QueueBytes.WithLabelValues(testID, l))
		}
		return b
	}
	// Fill the queue until less than 2 KiB are free (but more than a
	// small high-lane record needs).
	filled := 0
	for maxBytes-used() > 2<<10 {
		if err := exp.ConsumeLogs(ctx, sizedLogs(filled, 8, "")); err != nil {
			t.Fatalf("filling the queue: %v", err)
		}
		filled += 8
	}
	free := maxBytes - used()

	const tries = 20
	refused := 0
	for try := range tries {
		if try == tries-1 {
			// The server is back: the backlog drains and makes room.
			sink.SetFail(nil)
			sink.WaitLogRecords(t, int64(filled), 10*time.Second)
			deadline := time.Now().Add(10 * time.Second)
			for maxBytes-used() < 16<<10 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		err := exp.ConsumeLogs(ctx, sizedLogs(900000, 40, "THE-ERROR"))
		if err != nil {
			if _, ok := pipeline.IsThrottle(err); !ok {
				t.Fatalf("try %d: %v, want a throttle", try, err)
			}
			refused++
		}
	}
	// Wait until the queue is empty, then count the ERROR record.
	deadline := time.Now().Add(10 * time.Second)
	for used() > 0 && sink.LogRecords() < int64(filled+41) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		var recs float64
		for _, l := range []string{"high", "normal", "low"} {
			recs += testutil.ToFloat64(tel.QueueRecords.WithLabelValues(testID, l))
		}
		if recs == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	markers, rest := 0, 0
	for _, ld := range sink.Logs() {
		rl := ld.ResourceLogs()
		for i := range rl.Len() {
			sl := rl.At(i).ScopeLogs()
			for j := range sl.Len() {
				lr := sl.At(j).LogRecords()
				for k := range lr.Len() {
					switch b := lr.At(k).Body().Str(); {
					case b == "THE-ERROR":
						markers++
					case strings.HasPrefix(b, "record 9000"):
						rest++
					}
				}
			}
		}
	}
	t.Logf("split request over %d tries with %.0f of %d bytes free: %d refused (throttled); the high part (1 ERROR record) stored and delivered %d times, the normal part's 40 records %d times",
		tries, free, maxBytes, refused, markers, rest/40)
	if refused != tries-1 {
		t.Errorf("%d tries refused, want %d", refused, tries-1)
	}
	if markers != 1 {
		t.Errorf("the high part was stored %d times over %d tries, want once", markers, tries)
	}
}

// noise returns n hex digits that do not compress (a hash chain from seed).
func noise(seed, n int) string {
	var b strings.Builder
	h := sha256.Sum256([]byte(strconv.Itoa(seed)))
	for b.Len() < n {
		b.WriteString(hex.EncodeToString(h[:]))
		h = sha256.Sum256(h[:])
	}
	return b.String()[:n]
}
