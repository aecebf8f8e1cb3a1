package lokiexporter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// TestQueuedRecordsMergeIntoOnePush: the senders merge the queued push
// bodies of one lane into one push, compressed once, with the entries of
// equal streams gathered into one stream (mergePush), which Loki's own
// wire package (push.PushRequest) decodes to exactly the records' entries,
// each stream's in order.
func TestQueuedRecordsMergeIntoOnePush(t *testing.T) {
	loki := startFakeLoki(t)
	cfg := wireConfig(loki.url(), func(c *Config) {
		c.Queue = sender.DefaultQueueConfig()
		c.Queue.Batch.MinSize, c.Queue.Batch.FlushTimeout = 1000, 2*time.Second
	})
	e := startExporter(t, cfg, t.TempDir(), selftelemetry.New())
	want := map[string][]string{}
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
			svc := fmt.Sprintf("svc-%d", i%2)
			want[svc] = append(want[svc], line)
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
	lines := map[string][]string{}
	streams := 0
	for _, r := range got {
		for _, s := range r.req.Streams {
			streams++
			svc := s.Labels[strings.Index(s.Labels, "svc-") : strings.Index(s.Labels, "svc-")+5]
			for _, en := range s.Entries {
				lines[svc] = append(lines[svc], en.Line)
			}
		}
	}
	t.Logf("4 queued records of 3 entries, two services: %d push request(s), %d streams, entries %v", len(got), streams, lines)
	if len(got) != 1 || streams != 2 || !slices.Equal(lines["svc-0"], want["svc-0"]) || !slices.Equal(lines["svc-1"], want["svc-1"]) {
		t.Fatalf("%d pushes, %d streams, entries %v; want 1 push of 2 streams, entries %v", len(got), streams, lines, want)
	}
	if got[0].header.Get("Content-Encoding") != "" && got[0].header.Get("Content-Encoding") != compressionSnappy {
		t.Errorf("Content-Encoding %q", got[0].header.Get("Content-Encoding"))
	}
}

// FuzzMergePush: arbitrary bodies never make mergePush panic; when they
// decode, the merged push decodes to as many entries, each stream once.
func FuzzMergePush(f *testing.F) {
	tr := mustTranslator(f, cfgWith(nil))
	r, err := encode(tr, wireLogs(), wireLogs().LogRecordCount(), testNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Body, r.Body)
	f.Add(r.Body, []byte{})
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, r.Body)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		count := func(body []byte) (int, map[string]bool, bool) {
			var req push.PushRequest
			if req.Unmarshal(body) != nil {
				return 0, nil, false
			}
			n, labels := 0, map[string]bool{}
			for _, s := range req.Streams {
				n += len(s.Entries)
				labels[s.Labels] = true
			}
			return n, labels, true
		}
		merged, err := mergePush(nil, [][]byte{a, b})
		na, _, okA := count(a)
		nb, _, okB := count(b)
		if !okA || !okB {
			if err == nil {
				t.Fatalf("merged bodies that do not decode")
			}
			return
		}
		if err != nil {
			t.Fatalf("mergePush: %v", err)
		}
		var req push.PushRequest
		if err := req.Unmarshal(merged); err != nil {
			t.Fatalf("merged push does not decode: %v", err)
		}
		n, seen := 0, map[string]bool{}
		for _, s := range req.Streams {
			if seen[s.Labels] {
				t.Fatalf("stream %q twice", s.Labels)
			}
			seen[s.Labels] = true
			n += len(s.Entries)
		}
		if n != na+nb {
			t.Fatalf("%d entries merged from %d + %d", n, na, nb)
		}
	})
}
