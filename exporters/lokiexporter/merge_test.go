package lokiexporter

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// TestQueuedRecordsMergeIntoOnePush: PushRequest's one field (streams) is
// repeated, so queued push bodies concatenate: the senders merge the
// records of one lane into one push, compressed once, which Loki's own
// wire package (push.PushRequest) decodes to exactly the records' entries,
// in order.
func TestQueuedRecordsMergeIntoOnePush(t *testing.T) {
	loki := startFakeLoki(t)
	cfg := wireConfig(loki.url(), func(c *Config) {
		c.Queue = sender.DefaultQueueConfig()
		c.Queue.Batch.MinSize, c.Queue.Batch.FlushTimeout = 1000, 2*time.Second
	})
	e := startExporter(t, cfg, t.TempDir(), selftelemetry.New())
	var want []string
	for i := range 4 {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", i%2))
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for j := range 3 {
			r := lrs.AppendEmpty()
			r.SetTimestamp(ts(time.Duration(i*3+j) * time.Millisecond))
			line := fmt.Sprintf("record %d line %d", i, j)
			r.Body().SetStr(line)
			want = append(want, line)
		}
		if err := e.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for loki.entries() < 12 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := loki.received()
	var lines []string
	streams := 0
	for _, r := range got {
		for _, s := range r.req.Streams {
			streams++
			for _, en := range s.Entries {
				lines = append(lines, en.Line)
			}
		}
	}
	t.Logf("4 queued records of 3 entries: %d push request(s), %d streams, entries %v", len(got), streams, lines)
	if len(got) != 1 || streams != 4 || !slices.Equal(lines, want) {
		t.Fatalf("%d pushes, %d streams, entries %v; want 1 push of the 4 records' streams, entries %v", len(got), streams, lines, want)
	}
	if got[0].header.Get("Content-Encoding") != "" && got[0].header.Get("Content-Encoding") != compressionSnappy {
		t.Errorf("Content-Encoding %q", got[0].header.Get("Content-Encoding"))
	}
}
