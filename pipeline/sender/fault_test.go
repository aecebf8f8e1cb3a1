package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/uplink"
)

// quickRetry retries every few milliseconds, so that a test of many
// failures runs fast without depending on timing.
func quickRetry() RetryConfig {
	return RetryConfig{Enabled: true, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond,
		MaxElapsedTime: 0, Multiplier: 2, RandomizationFactor: 0}
}

// failedTotal sums outpost_exporter_failed_items_total of exporter exp
// over every signal and reason.
func failedTotal(t *testing.T, tel *selftelemetry.Metrics) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "outpost_exporter_failed_items_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func blockedGauge(tel *selftelemetry.Metrics, reason string) float64 {
	return testutil.ToFloat64(tel.ExporterBlocked.WithLabelValues("exp", reason))
}

// waitFor polls cond every few milliseconds until it holds, or fails the
// test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// httpSend is the send function of an HTTP exporter, as the exporters
// write it: NewHTTPRequest, NetError, HTTPStatusError.
func httpSend(client func() *http.Client, url func() string) SendFunc {
	return func(ctx context.Context, r Request) error {
		u := url()
		req, err := NewHTTPRequest(ctx, u, r.Body)
		if err != nil {
			return consumererror.NewPermanent(err)
		}
		resp, err := client().Do(req)
		if err != nil {
			return NetError("POST "+u, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 == 2 {
			return nil
		}
		return HTTPStatusError(u, resp.StatusCode, resp.Header.Get("Retry-After"), ResponseText(body, 256), time.Now())
	}
}

// TestFault10_EndpointErrorsKeepTheBacklog: a queued backlog meets, for a
// while, an error about the endpoint (credentials, route, proxy, TLS, DNS)
// or a transient one; every item is kept and delivered once the endpoint
// works again, and outpost_exporter_blocked was 1 meanwhile for the
// endpoint errors. Errors about the data (400, 422) drop what they refuse.
// Before the fix, 401/403/404/407/TLS/DNS were permanent and dropped every
// record that met them.
func TestFault10_EndpointErrorsKeepTheBacklog(t *testing.T) {
	const records, itemsPer, failures = 20, 5, 8
	for _, tc := range []struct {
		name    string
		status  int    // the answer of the failing requests (0: see fail)
		fail    string // "tls", "dns": how the failing attempts fail instead
		blocked string // the reason outpost_exporter_blocked must show, "" for none
		dropped int    // records dropped (data errors)
	}{
		{name: "401", status: 401, blocked: BlockedUnauthorized},
		{name: "403", status: 403, blocked: BlockedForbidden},
		{name: "404", status: 404, blocked: BlockedNotFound},
		{name: "407", status: 407, blocked: BlockedProxyAuth},
		{name: "405", status: 405, blocked: BlockedUnexpectedStatus},
		{name: "tls", fail: "tls", blocked: BlockedTLS},
		{name: "dns", fail: "dns", blocked: BlockedDNS},
		{name: "429", status: 429},
		{name: "503", status: 503},
		{name: "400 data", status: 400, dropped: failures},
		{name: "422 data", status: 422, dropped: failures},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := selftelemetry.New()
			var (
				requests      atomic.Int64
				blockedDuring atomic.Bool
			)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := requests.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				if n <= failures && tc.status != 0 {
					if n == failures && tc.blocked != "" && blockedGauge(tel, tc.blocked) == 1 {
						blockedDuring.Store(true)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, "refused by the test")
				}
			}))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the test
			srv.StartTLS()
			defer srv.Close()
			trusting, untrusting := srv.Client(), &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
			defer untrusting.CloseIdleConnections()
			var attempts atomic.Int64
			plain := httpSend(func() *http.Client { return trusting }, func() string { return srv.URL })
			send := func(ctx context.Context, r Request) error {
				n := attempts.Add(1)
				if n <= failures {
					switch tc.fail {
					case "tls": // a real handshake with a server whose CA is not trusted
						if n == failures && blockedGauge(tel, tc.blocked) == 1 {
							blockedDuring.Store(true)
						}
						return httpSend(func() *http.Client { return untrusting }, func() string { return srv.URL })(ctx, r)
					case "dns":
						if n == failures && blockedGauge(tel, tc.blocked) == 1 {
							blockedDuring.Store(true)
						}
						return NetError("POST http://central.invalid/", &net.OpError{Op: "dial", Net: "tcp",
							Err: &net.DNSError{Err: "no such host", Name: "central.invalid", IsNotFound: true}})
					}
				}
				return plain(ctx, r)
			}
			o, err := NewOutput(OutputSettings{
				Exporter: "exp", Telemetry: tel, Dir: t.TempDir(),
				Queue: DefaultQueueConfig(), Retry: quickRetry(), Send: send,
			})
			if err != nil {
				t.Fatal(err)
			}
			mustNil(t, o.Start())
			defer func() { mustNil(t, o.Shutdown(context.Background())) }()
			for i := range records {
				mustNil(t, o.Put(context.Background(), queue.LaneNormal, Request{
					Signal: pipeline.SignalLogs, Items: itemsPer, Body: []byte("record " + strconv.Itoa(i)),
				}))
			}
			sent := func() float64 { return metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalLogs, "") }
			want := float64((records - tc.dropped) * itemsPer)
			waitFor(t, 20*time.Second, "the backlog to drain", func() bool {
				return sent()+failedTotal(t, tel) >= records*itemsPer
			})
			delivered, dropped := sent(), failedTotal(t, tel)
			t.Logf("%s: %d items queued, %d delivered (kept), %d dropped, %d attempts; blocked{%s} was 1 during: %v, after: %g",
				tc.name, records*itemsPer, int(delivered), int(dropped), attempts.Load(), tc.blocked, blockedDuring.Load(), blockedGauge(tel, tc.blocked))
			if delivered != want || dropped != float64(tc.dropped*itemsPer) {
				t.Errorf("delivered %g, dropped %g; want %g and %d", delivered, dropped, want, tc.dropped*itemsPer)
			}
			if tc.blocked != "" {
				if !blockedDuring.Load() {
					t.Errorf("outpost_exporter_blocked{reason=%q} was not 1 while blocked", tc.blocked)
				}
				if g := blockedGauge(tel, tc.blocked); g != 0 {
					t.Errorf("outpost_exporter_blocked{reason=%q} = %g after delivery, want 0", tc.blocked, g)
				}
			}
		})
	}
}

// TestFault10_TooLargeIsSplitInHalves: the far side takes at most 4 items a
// request and answers 413 above; a 16-item request is split in halves down
// to requests it takes, and every item arrives. One item that is too large
// on its own is the only one dropped (reason too_large). Before, a 413 was
// permanent: all 16 items were dropped.
func TestFault10_TooLargeIsSplitInHalves(t *testing.T) {
	const maxItems = 4
	tel := selftelemetry.New()
	var requests, accepted atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		n, big := itemsOf(body)
		if n > maxItems || big {
			http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
			return
		}
		accepted.Add(int64(n))
	}))
	defer srv.Close()
	s, err := New(Settings{Exporter: "exp", Telemetry: tel, Retry: quickRetry(), Split: splitItems,
		Send: httpSend(srv.Client, func() string { return srv.URL })})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())

	err = s.Send(context.Background(), itemsRequest(16, -1))
	mustNil(t, err)
	t.Logf("16 items, far side takes at most %d a request: %d accepted, %d dropped, %d requests",
		maxItems, accepted.Load(), int(failedTotal(t, tel)), requests.Load())
	if accepted.Load() != 16 || failedTotal(t, tel) != 0 {
		t.Errorf("accepted %d, dropped %g; want 16 and 0", accepted.Load(), failedTotal(t, tel))
	}

	accepted.Store(0)
	requests.Store(0)
	err = s.Send(context.Background(), itemsRequest(16, 11))
	if pe, ok := errors.AsType[*pipeline.PartialError](err); !ok || pe.Rejected != 1 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("want a partial success refusing the one oversized item, got %v", err)
	}
	tooLarge := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalLogs, ReasonTooLarge)
	t.Logf("16 items, one too large alone: %d accepted, %g dropped as too_large, %d requests", accepted.Load(), tooLarge, requests.Load())
	if accepted.Load() != 15 || tooLarge != 1 {
		t.Errorf("accepted %d, too_large %g; want 15 and 1", accepted.Load(), tooLarge)
	}
}

// itemsRequest makes a request of n one-byte items; the item at index big
// (if ≥ 0) is marked as too large on its own.
func itemsRequest(n, big int) Request {
	body := make([]byte, n)
	for i := range body {
		body[i] = 'i'
		if i == big {
			body[i] = 'B'
		}
	}
	return Request{Signal: pipeline.SignalLogs, Items: n, Body: body}
}

func itemsOf(body []byte) (n int, big bool) {
	for _, b := range body {
		if b == 'B' {
			big = true
		}
	}
	return len(body), big
}

// splitItems is the SplitFunc of itemsRequest bodies.
func splitItems(r Request) (Request, Request, error) {
	if r.Items < 2 {
		return Request{}, Request{}, errors.New("one item")
	}
	h := r.Items / 2
	a, b := r, r
	a.Items, a.Body = h, r.Body[:h]
	b.Items, b.Body = r.Items-h, r.Body[h:]
	return a, b, nil
}

// TestFault10_NoQueueRetriesCredentialsUntilTheBudget: without a queue
// there is no backlog to keep: a 401 is retried (blocked) until
// retry_on_failure.max_elapsed_time, then the caller gets a retryable
// error (its client is told to retry: 503 / UNAVAILABLE), never a
// permanent one. Before, the first 401 was permanent and the client was
// told to drop the data.
func TestFault10_NoQueueRetriesCredentialsUntilTheBudget(t *testing.T) {
	tel := selftelemetry.New()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "bad token", http.StatusUnauthorized)
	}))
	defer srv.Close()
	rc := quickRetry()
	rc.MaxElapsedTime = 100 * time.Millisecond
	q := DefaultQueueConfig()
	q.Enabled = false
	o, err := NewOutput(OutputSettings{Exporter: "exp", Telemetry: tel, Queue: q, Retry: rc,
		Send: httpSend(srv.Client, func() string { return srv.URL })})
	if err != nil {
		t.Fatal(err)
	}
	mustNil(t, o.Start())
	defer o.Shutdown(context.Background())
	err = o.Put(context.Background(), queue.LaneNormal, Request{Signal: pipeline.SignalTraces, Items: 7, Body: []byte("x")})
	exhaustedItems := metric(t, tel, "outpost_exporter_failed_items_total", pipeline.SignalTraces, ReasonRetriesExhausted)
	t.Logf("no queue, 401 throughout: %d attempts, error permanent: %v, retries_exhausted items: %g, blocked{unauthorized}: %g",
		requests.Load(), consumererror.IsPermanent(err), exhaustedItems, blockedGauge(tel, BlockedUnauthorized))
	if err == nil || consumererror.IsPermanent(err) {
		t.Fatalf("want a retryable error for the client, got %v", err)
	}
	if requests.Load() < 2 || exhaustedItems != 7 || blockedGauge(tel, BlockedUnauthorized) != 1 {
		t.Errorf("attempts %d, retries_exhausted %g, blocked %g", requests.Load(), exhaustedItems, blockedGauge(tel, BlockedUnauthorized))
	}
}

// TestFault9a_RetryDisabledWithQueueKeepsRetrying: retry_on_failure.enabled:
// false with a queue used to drop a record after its first temporary
// failure; the queue now keeps retrying it until it is delivered.
func TestFault9a_RetryDisabledWithQueueKeepsRetrying(t *testing.T) {
	tel := selftelemetry.New()
	sc := &script{errs: []error{errUnavailable, errUnavailable, errUnavailable, nil}}
	rc := quickRetry()
	rc.Enabled = false
	o, err := NewOutput(OutputSettings{Exporter: "exp", Telemetry: tel, Dir: t.TempDir(),
		Queue: DefaultQueueConfig(), Retry: rc, Send: sc.send})
	if err != nil {
		t.Fatal(err)
	}
	mustNil(t, o.Start())
	defer func() { mustNil(t, o.Shutdown(context.Background())) }()
	mustNil(t, o.Put(context.Background(), queue.LaneNormal, Request{Signal: pipeline.SignalMetrics, Items: 12, Body: []byte("x")}))
	sent := func() float64 { return metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalMetrics, "") }
	waitFor(t, 10*time.Second, "the record to be delivered or dropped", func() bool { return sent()+failedTotal(t, tel) >= 12 })
	t.Logf("retry disabled, queued record of 12 items, 3 temporary failures: %d attempts, %g delivered, %g dropped",
		sc.attempts(), sent(), failedTotal(t, tel))
	if sent() != 12 || failedTotal(t, tel) != 0 {
		t.Errorf("delivered %g, dropped %g; want 12 and 0", sent(), failedTotal(t, tel))
	}
}

// blockingBudget is a Budget whose Wait blocks until its context ends,
// after saying it waits.
type blockingBudget struct{ waiting chan struct{} }

func (b blockingBudget) Wait(ctx context.Context, _ int) error {
	close(b.waiting)
	<-ctx.Done()
	return context.Cause(ctx)
}
func (blockingBudget) Adjust(int) {}
func (blockingBudget) Sent(int)   {}

// TestFault9b_PutBackAtShutdownIsNotCountedFailed: a request whose Send is
// cut short by shutdown and put back in the queue (Requeue) is not lost,
// so it must not be counted as failed: neither when shutdown ends its
// wait for the uplink budget (before: counted retries_exhausted when
// retries were off), nor when it reaches a Sender already shut down
// (before: counted shutdown).
func TestFault9b_PutBackAtShutdownIsNotCountedFailed(t *testing.T) {
	t.Run("budget wait ended by shutdown", func(t *testing.T) {
		tel := selftelemetry.New()
		rc := quickRetry()
		rc.Enabled = false
		bb := blockingBudget{waiting: make(chan struct{})}
		var attempts atomic.Int64
		s, err := New(Settings{Exporter: "exp", Telemetry: tel, Retry: rc, Requeue: true, Budget: bb,
			Send: func(context.Context, Request) error { attempts.Add(1); return nil }})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- s.Send(context.Background(), Request{Signal: pipeline.SignalLogs, Items: 9, Body: []byte("x")})
		}()
		select {
		case <-bb.waiting:
		case <-time.After(10 * time.Second):
			t.Fatal("Send never waited for the budget")
		}
		s.StopRetries()
		var sendErr error
		select {
		case sendErr = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Send did not return after StopRetries")
		}
		mustNil(t, s.Shutdown(context.Background()))
		t.Logf("request of 9 items put back at shutdown: error %v; failed items counted: %g", sendErr, failedTotal(t, tel))
		if !errors.Is(sendErr, ErrStopped) || consumererror.IsPermanent(sendErr) {
			t.Errorf("want a retryable ErrStopped so that the record is put back, got %v", sendErr)
		}
		if failedTotal(t, tel) != 0 || attempts.Load() != 0 {
			t.Errorf("failed items %g, attempts %d; want 0 and 0", failedTotal(t, tel), attempts.Load())
		}
	})
	t.Run("send after shutdown", func(t *testing.T) {
		tel := selftelemetry.New()
		s, err := New(Settings{Exporter: "exp", Telemetry: tel, Retry: quickRetry(), Requeue: true,
			Send: func(context.Context, Request) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		mustNil(t, s.Shutdown(context.Background()))
		err = s.Send(context.Background(), Request{Signal: pipeline.SignalLogs, Items: 6})
		t.Logf("request of 6 items after shutdown: error %v; failed items counted: %g", err, failedTotal(t, tel))
		if !errors.Is(err, ErrStopped) || failedTotal(t, tel) != 0 {
			t.Errorf("err %v, failed %g; want ErrStopped and 0", err, failedTotal(t, tel))
		}
	})
}

// TestFault9c_UplinkBytesCountOnlyTheWire: attempts refused before any
// byte went out (connection refused) count nothing in
// outpost_uplink_bytes_total; only the delivered bodies count. Before, each
// refused attempt counted its whole body.
func TestFault9c_UplinkBytesCountOnlyTheWire(t *testing.T) {
	const records, bodySize, refused = 5, 1000, 6
	tel := selftelemetry.New()
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
	}))
	defer srv.Close()
	// An address nobody listens on: a connection to it is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String() + "/"
	mustNil(t, ln.Close())

	var attempts atomic.Int64
	var mu sync.Mutex
	url := func() string {
		mu.Lock()
		defer mu.Unlock()
		if attempts.Add(1) <= refused {
			return deadURL
		}
		return srv.URL
	}
	budget := uplink.New(uplink.Config{BytesPerSecond: 1 << 30}, tel)
	o, err := NewOutput(OutputSettings{Exporter: "exp", Telemetry: tel, Dir: t.TempDir(), Uplink: budget,
		Queue: DefaultQueueConfig(), Retry: quickRetry(), Send: httpSend(srv.Client, url)})
	if err != nil {
		t.Fatal(err)
	}
	mustNil(t, o.Start())
	defer func() { mustNil(t, o.Shutdown(context.Background())) }()
	for range records {
		mustNil(t, o.Put(context.Background(), queue.LaneNormal, Request{Signal: pipeline.SignalLogs, Items: 1, Body: make([]byte, bodySize)}))
	}
	sent := func() float64 { return metric(t, tel, "outpost_exporter_sent_items_total", pipeline.SignalLogs, "") }
	waitFor(t, 10*time.Second, "delivery", func() bool { return sent() >= records })
	counted := testutil.ToFloat64(tel.UplinkBytes.WithLabelValues("exp"))
	t.Logf("%d refused attempts then %d bodies of %d bytes delivered: uplink_bytes_total %g, bytes the server received %d",
		refused, records, bodySize, counted, received.Load())
	if counted != float64(received.Load()) || counted != records*bodySize {
		t.Errorf("outpost_uplink_bytes_total = %g, want %d (what went on the wire)", counted, records*bodySize)
	}
}
