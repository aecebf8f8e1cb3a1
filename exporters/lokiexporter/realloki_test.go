package lokiexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// startRealLoki runs bin/loki (tools/peers/loki.yaml) on free ports and
// returns its HTTP address.
func startRealLoki(t *testing.T) string {
	t.Helper()
	bin := testutil.Binary(t, "LOKI_BIN", "loki")
	tpl, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "tools", "peers", "loki.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	httpAddr, grpcAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	cfg := strings.NewReplacer("{{.HTTP}}", port(httpAddr), "{{.GRPC}}", port(grpcAddr), "{{.Dir}}", dir).Replace(string(tpl))
	p := testutil.Start(t, bin, "-config.file="+testutil.WriteFile(t, dir, "loki.yaml", cfg), "-target=all")
	testutil.Eventually(t, 90*time.Second, "loki /ready", func() bool {
		if p.Exited() {
			t.Fatalf("loki exited:\n%s", p.Output())
		}
		code, _, err := testutil.HTTPGet("http://" + httpAddr + "/ready")
		return err == nil && code == http.StatusOK
	})
	return httpAddr
}

// lokiLines returns the lines Loki has for selector around now.
func lokiLines(addr, selector string) ([]string, error) {
	q := url.Values{
		"query": {selector}, "limit": {"5000"}, "direction": {"forward"},
		"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixNano(), 10)},
		"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)},
	}
	code, body, err := testutil.HTTPGet("http://" + addr + "/loki/api/v1/query_range?" + q.Encode())
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("query: %d %v %s", code, err, body)
	}
	var out struct {
		Data struct {
			Result []struct {
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return nil, err
	}
	var lines []string
	for _, r := range out.Data.Result {
		for _, v := range r.Values {
			var l string
			if len(v) > 1 && json.Unmarshal(v[1], &l) == nil {
				lines = append(lines, l)
			}
		}
	}
	slices.Sort(lines)
	return lines, nil
}

// TestRealLokiMergedPushWithOneTooOldRecord: against the real Loki
// (bin/loki). Loki validates a push entry by entry: it stores the valid
// entries and answers 400 naming the too-old ones. The sender sends the
// merged push's records again in halves; Loki takes the repeated valid
// entries as the duplicates they are (same stream, timestamp and line), so
// every fresh line is in Loki once, and only the old record's entries are
// counted failed.
func TestRealLokiMergedPushWithOneTooOldRecord(t *testing.T) {
	addr := startRealLoki(t)
	var mu sync.Mutex
	var statuses []int
	target, _ := url.Parse("http://" + addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		mu.Lock()
		statuses = append(statuses, r.StatusCode)
		mu.Unlock()
		return nil
	}
	proxy := httptest.NewServer(rp)
	defer proxy.Close()

	cfg := wireConfig(proxy.URL+"/loki/api/v1/push", func(c *Config) {
		c.Queue = sender.DefaultQueueConfig()
		c.Queue.Batch.MinSize, c.Queue.Batch.FlushTimeout = 1000, 3*time.Second
	})
	tel := selftelemetry.New()
	e := startExporter(t, cfg, t.TempDir(), tel)
	now := time.Now()
	var want []string
	for i, name := range []string{"fresh-a", "fresh-b", "too-old", "fresh-c", "fresh-d"} {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "merge-test")
		lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
		for j := range 2 {
			ts := now.Add(time.Duration(i*2+j) * time.Millisecond)
			if name == "too-old" {
				ts = now.Add(-30 * 24 * time.Hour)
			}
			r := lrs.AppendEmpty()
			r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			line := fmt.Sprintf("%s line %d", name, j)
			r.Body().SetStr(line)
			if name != "too-old" {
				want = append(want, line)
			}
		}
		if err := e.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	sent := func() float64 { return promtestutil.ToFloat64(tel.ExporterSent.WithLabelValues(testID, "logs")) }
	failed := func() float64 {
		return promtestutil.ToFloat64(tel.ExporterFailed.WithLabelValues(testID, "logs", sender.ReasonPermanent))
	}
	testutil.Eventually(t, 30*time.Second, "the merged records settled", func() bool { return sent()+failed() >= 10 })
	var got []string
	testutil.Eventually(t, 20*time.Second, "the fresh lines in Loki", func() bool {
		got, _ = lokiLines(addr, `{service_name="merge-test"}`)
		return len(got) >= len(want)
	})
	time.Sleep(time.Second)
	got, err := lokiLines(addr, `{service_name="merge-test"}`)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	st := slices.Clone(statuses)
	mu.Unlock()
	t.Logf("5 records merged (4 fresh, 1 thirty days old) to the real Loki: answers %v, sent %g, failed{permanent} %g, lines in Loki %d: %v",
		st, sent(), failed(), len(got), got)
	if sent() != 8 || failed() != 2 {
		t.Fatalf("sent %g, failed %g; want 8 and 2", sent(), failed())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Loki has %v, want each fresh line once: %v", got, want)
	}
	if len(st) < 3 || st[0] != http.StatusBadRequest {
		t.Fatalf("answers %v: want the merged push refused with 400, then parts", st)
	}
}

// TestRealLokiMergedPushEntriesTooFarBehind: against the real Loki. Its
// ingester refuses entries more than max_chunk_age/2 (1h) behind the
// newest of their stream, and answers a push with the error of its last
// stream element only (pkg/ingester/instance.go): a concatenation of six
// backlog bodies of one stream, the last of them fresh enough, was
// answered 204 while five were dropped (found by this test). mergePush
// gathers the entries of a stream into one element, so Loki answers 400,
// the records are sent again in halves, and exactly the refused records
// are counted failed.
func TestRealLokiMergedPushEntriesTooFarBehind(t *testing.T) {
	addr := startRealLoki(t)
	cfg := wireConfig("http://"+addr+"/loki/api/v1/push", func(c *Config) {
		c.Queue = sender.DefaultQueueConfig()
		c.Queue.Batch.MinSize, c.Queue.Batch.FlushTimeout = 1000, 2*time.Second
	})
	tel := selftelemetry.New()
	e := startExporter(t, cfg, t.TempDir(), tel)
	now := time.Now()
	mk := func(ts time.Time, line string) plog.Logs {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "behind")
		r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		r.Body().SetStr(line)
		return ld
	}
	sent := func() float64 { return promtestutil.ToFloat64(tel.ExporterSent.WithLabelValues(testID, "logs")) }
	failed := func() float64 {
		return promtestutil.ToFloat64(tel.ExporterFailed.WithLabelValues(testID, "logs", sender.ReasonPermanent))
	}
	// The stream's newest entry is now.
	if err := e.ConsumeLogs(context.Background(), mk(now, "current")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the current line sent", func() bool { return sent() == 1 })
	// A backlog of 6 records, 6h to 1h old (the last within the window).
	for i := range 6 {
		if err := e.ConsumeLogs(context.Background(), mk(now.Add(-time.Duration(6-i)*time.Hour+time.Minute), fmt.Sprintf("backlog %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, "the backlog settled", func() bool { return sent()+failed() >= 7 })
	var got []string
	testutil.Eventually(t, 20*time.Second, "the lines in Loki", func() bool {
		got, _ = lokiLines7h(addr, `{service_name="behind"}`)
		return len(got) >= 2
	})
	t.Logf("6 backlog records merged into a stream whose newest entry is now: sent %g (with the current line), failed %g; Loki has %v",
		sent(), failed(), got)
	if sent() != 2 || failed() != 5 || !slices.Equal(got, []string{"backlog 5", "current"}) {
		t.Fatalf("sent %g, failed %g, Loki has %v; want the current line and backlog 5 sent, 5 refused and counted", sent(), failed(), got)
	}
}

// lokiLines7h returns the lines Loki has for selector over the last 7 hours.
func lokiLines7h(addr, selector string) ([]string, error) {
	q := url.Values{
		"query": {selector}, "limit": {"5000"},
		"start": {strconv.FormatInt(time.Now().Add(-7*time.Hour).UnixNano(), 10)},
		"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)},
	}
	code, body, err := testutil.HTTPGet("http://" + addr + "/loki/api/v1/query_range?" + q.Encode())
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("query: %d %v %s", code, err, body)
	}
	var out struct {
		Data struct {
			Result []struct {
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return nil, err
	}
	var lines []string
	for _, r := range out.Data.Result {
		for _, v := range r.Values {
			var l string
			if len(v) > 1 && json.Unmarshal(v[1], &l) == nil {
				lines = append(lines, l)
			}
		}
	}
	slices.Sort(lines)
	return lines, nil
}
