package main

// The loki receiver against real Loki push clients, through outpost to a
// real Loki: loki-client-go (bin/lokipush, protobuf and JSON) and
// loki-canary with -push. Every line a client had acknowledged must be
// queryable in Loki, exactly once, in the stream it was pushed to, with
// the labels, timestamp and structured metadata it was pushed with.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// lokiPush runs bin/lokipush (loki-client-go) to completion.
func lokiPush(t *testing.T, args ...string) {
	t.Helper()
	bin := testutil.Binary(t, "LOKIPUSH_BIN", "lokipush")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lokipush %v: %v\n%s", args, err, out)
	}
	t.Logf("lokipush %s: %s", strings.Join(args[2:], " "), strings.TrimSpace(lastLine(string(out))))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func TestLokiReceiverRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers")
	}
	canaryBin := testutil.Binary(t, "LOKI_CANARY_BIN", "loki-canary")
	testutil.Binary(t, "LOKIPUSH_BIN", "lokipush")
	began := time.Now()
	loki := startLoki(t)
	o := newOutpost(t)
	in := testutil.FreeAddr(t)
	o.start(t, testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
receivers:
  loki:
    protocols:
      http: {endpoint: %s}
processors:
  batch: {timeout: 100ms, send_batch_size: 512}
exporters:
  loki:
    endpoint: http://%s/loki/api/v1/push
    tenant: %s
    labels:
      - {label: service_name, resource: service.name}
      - {resource: stream}
      - {resource: name}
    resource_attributes: drop
    retry_on_failure: {initial_interval: 50ms, max_interval: 500ms}
service:
  pipelines:
    logs: {receivers: [loki], processors: [batch], exporters: [loki]}
`, t.TempDir(), o.telemetry, in, loki, lokiTenant))
	push := "http://" + in + "/loki/api/v1/push"
	accepted := func() int {
		return int(testutil.Scrape(t, o.telemetry).Sum("outpost_receiver_accepted_items_total", map[string]string{"receiver": "loki", "signal": "logs", "transport": "http"}))
	}

	from := time.Now().Add(-2 * time.Minute)
	startProto, startJSON := time.Now().Add(-90*time.Second).UnixNano(), time.Now().Add(-80*time.Second).UnixNano()
	const protoLines, protoStreams, jsonLines, jsonStreams = 600, 3, 400, 2
	lokiPush(t, "-url", push, "-tenant", "edge-a", "-service", "lp-proto", "-lines", strconv.Itoa(protoLines), "-streams", strconv.Itoa(protoStreams), "-start", strconv.FormatInt(startProto, 10))
	lokiPush(t, "-url", push, "-tenant", "edge-a", "-service", "lp-json", "-json", "-lines", strconv.Itoa(jsonLines), "-streams", strconv.Itoa(jsonStreams), "-start", strconv.FormatInt(startJSON, 10))
	if n := accepted(); n != protoLines+jsonLines {
		t.Fatalf("outpost accepted %d entries from loki-client-go, want %d", n, protoLines+jsonLines)
	}

	// loki-canary pushes one entry per request every 10ms; its reader
	// (a tail of -addr, which outpost does not serve) fails and retries,
	// which does not stop its writer. Once it has pushed a few hundred,
	// /suspend stops the writer; its pusher then sends what it holds, and
	// the canary's own count of entries written is final.
	canaryMetrics := testutil.FreeAddr(t)
	port := canaryMetrics[strings.LastIndexByte(canaryMetrics, ':')+1:]
	canary := testutil.Start(t, canaryBin, "-addr", in, "-push", "-tenant-id", "edge-a", "-interval", "10ms", "-size", "64",
		"-labelname", "name", "-labelvalue", "loki-canary", "-streamname", "stream", "-streamvalue", "stdout",
		"-port", port, "-write-min-backoff", "50ms", "-write-max-backoff", "1s", "-wait", "1h", "-max-wait", "1h")
	testutil.Eventually(t, 30*time.Second, "300 canary entries accepted", func() bool {
		if canary.Exited() {
			t.Fatalf("loki-canary exited:\n%s", canary.Output())
		}
		return accepted() >= protoLines+jsonLines+300
	})
	// /suspend stops the writer first, then waits for the reader, which
	// is stuck retrying its tail: the answer never comes, the writer has
	// stopped all the same.
	suspend := &http.Client{Timeout: 2 * time.Second}
	if resp, err := suspend.Post("http://"+canaryMetrics+"/suspend", "text/plain", nil); err == nil {
		resp.Body.Close()
	}
	var canarySent int
	testutil.Eventually(t, 10*time.Second, "every canary entry accepted", func() bool {
		canarySent = int(testutil.Scrape(t, canaryMetrics).Sum("loki_canary_entries_total", nil))
		return accepted() == protoLines+jsonLines+canarySent
	})
	to := time.Now().Add(time.Minute)

	// loki-client-go's JSON is the older shape ({"labels": "{...}",
	// "entries": [{"ts", "line"}]}), which has no structured metadata.
	check := func(service string, lines, streams int, start int64, withMeta bool) {
		var got []lokiLine
		testutil.Eventually(t, 30*time.Second, service+" in Loki", func() bool {
			got = queryLines(t, loki, `{service_name="`+service+`"}`, from, to)
			return len(got) >= lines
		})
		seen := map[int]bool{}
		for _, l := range got {
			i, err := strconv.Atoi(strings.TrimPrefix(l.line, "lokipush line "))
			if err != nil || seen[i] || i < 0 || i >= lines {
				t.Fatalf("%s: unexpected or repeated line %q", service, l.line)
			}
			seen[i] = true
			wantLabels := map[string]string{"service_name": service, "stream": fmt.Sprintf("s%d", i%streams)}
			var wantMeta map[string]string
			if withMeta {
				wantMeta = map[string]string{"seq": strconv.Itoa(i)}
			}
			if !maps.Equal(l.labels, wantLabels) || !maps.Equal(l.metadata, wantMeta) || l.ts != start+int64(i)*int64(time.Millisecond) {
				t.Fatalf("%s line %d: labels %v metadata %v ts %d, want %v %v %d", service, i, l.labels, l.metadata, l.ts, wantLabels, wantMeta, start+int64(i)*int64(time.Millisecond))
			}
		}
		if len(got) != lines {
			t.Fatalf("%s: Loki has %d lines, want %d", service, len(got), lines)
		}
		t.Logf("%s: %d lines pushed, %d in Loki over %d streams, labels and metadata exact", service, lines, len(got), streams)
	}
	check("lp-proto", protoLines, protoStreams, startProto, true)
	check("lp-json", jsonLines, jsonStreams, startJSON, false)

	var canaryLines []lokiLine
	testutil.Eventually(t, 30*time.Second, "canary lines in Loki", func() bool {
		canaryLines = queryLines(t, loki, `{name="loki-canary"}`, from, to)
		return len(canaryLines) >= canarySent
	})
	distinct := map[string]bool{}
	for _, l := range canaryLines {
		if l.labels["name"] != "loki-canary" || l.labels["stream"] != "stdout" {
			t.Fatalf("canary line in stream %v", l.labels)
		}
		ts, _, _ := strings.Cut(l.line, " ")
		if ts != strconv.FormatInt(l.ts, 10) {
			t.Fatalf("canary line %q at %d: the line names another time", l.line, l.ts)
		}
		distinct[l.line] = true
	}
	if len(canaryLines) != canarySent || len(distinct) != canarySent {
		t.Fatalf("Loki has %d canary lines (%d distinct), the canary sent %d", len(canaryLines), len(distinct), canarySent)
	}
	if strings.Contains(canary.Output(), "failed to send entry") {
		t.Fatalf("loki-canary failed a push:\n%s", canary.Output())
	}
	t.Logf("loki-canary: %d entries sent, %d accepted by outpost, %d in Loki; total %d lines in %s",
		canarySent, accepted()-protoLines-jsonLines, len(canaryLines), protoLines+jsonLines+canarySent, time.Since(began).Round(time.Millisecond))
}

// TestLokiReceiverBackPressure: while the far side throttles (with no
// queue, the exporter's retries run out within a second and the pipeline
// answers the receiver with the throttle), a Loki push gets 503
// with Retry-After, never 429; loki-client-go retries it, and once the far
// side takes data again every line arrives.
func TestLokiReceiverBackPressure(t *testing.T) {
	lokipush := testutil.Binary(t, "LOKIPUSH_BIN", "lokipush")
	began := time.Now()
	sink := otlpsink.StartWith(t, otlpsink.Options{KeepItems: 1 << 16})
	sink.FailAlways(otlpsink.Failure{Code: codes.ResourceExhausted, RetryAfter: 300 * time.Millisecond, Message: "sink full"})
	o := newOutpost(t)
	in := testutil.FreeAddr(t)
	o.start(t, testutil.Sprintf(`storage: {directory: %s}
telemetry: {address: %s}
receivers:
  loki:
    protocols:
      http: {endpoint: %s}
exporters:
  otlp:
    endpoint: %s
    tls: {insecure: true}
    retry_on_failure: {initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 1s}
    queue: {enabled: false}
service:
  pipelines:
    logs: {receivers: [loki], exporters: [otlp]}
`, t.TempDir(), o.telemetry, in, sink.GRPCAddr()))
	push := "http://" + in + "/loki/api/v1/push"
	body := []byte(`{"streams":[{"stream":{"service_name":"bp"},"values":[["1700000000000000000","one"]]}]}`)
	resp := post(t, push, "application/json", body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("HTTP %d, Retry-After %q; want 503 with a hint", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// lokipush runs in the background while the sink still throttles; its
	// outcome is checked on the test goroutine.
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, lokipush, "-url", push, "-service", "bp", "-lines", "300", "-streams", "2").CombinedOutput()
		done <- result{out, err}
	}()
	testutil.Eventually(t, 10*time.Second, "refused pushes", func() bool {
		return testutil.Scrape(t, o.telemetry).Sum("outpost_receiver_refused_items_total", map[string]string{"receiver": "loki", "reason": "throttled"}) >= 2
	})
	sink.SetFail(nil)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("lokipush: %v\n%s", r.err, r.out)
		}
		t.Logf("lokipush: %s", lastLine(string(r.out)))
	case <-time.After(30 * time.Second):
		t.Fatal("lokipush did not finish")
	}
	m := testutil.Scrape(t, o.telemetry)
	refused := m.Sum("outpost_receiver_refused_items_total", map[string]string{"receiver": "loki", "reason": "throttled"})
	seen := map[string]int{}
	for _, ld := range sink.Logs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			sls := ld.ResourceLogs().At(i).ScopeLogs()
			for j := 0; j < sls.Len(); j++ {
				for k := 0; k < sls.At(j).LogRecords().Len(); k++ {
					seen[sls.At(j).LogRecords().At(k).Body().Str()]++
				}
			}
		}
	}
	for i := range 300 {
		if seen["lokipush line "+strconv.Itoa(i)] == 0 {
			t.Fatalf("line %d never arrived (%d distinct lines at the sink)", i, len(seen))
		}
	}
	t.Logf("back-pressure: %v items answered 503 while the sink throttled; after it recovered, %d of 300 lines at the sink; %s",
		refused, len(seen), time.Since(began).Round(time.Millisecond))
}
