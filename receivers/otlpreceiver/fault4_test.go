package otlpreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	outtestutil "github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// TestFault4_MemoryLimitHoldsWhileBodiesAreRead sends 12 requests at once
// whose 16 KB gzip bodies expand to 16 MiB each, under a 64 MiB
// memory_limit, over OTLP/HTTP and OTLP/gRPC (max_request_body_size and
// max_recv_msg_size 20 MiB, so the size caps alone let them in), then 12
// at once that expand to 4 MiB each, which fit one or two at a time. While
// they run it samples the heap and the limiter's bytes in flight: the
// bytes in flight never pass the limiter's capacity (half the limit), the
// heap stays under the base plus twice the limit, and every request that
// fits is accepted in the end (the clients retry what is refused with
// back-pressure, as OTLP clients do). Before the fix, both receivers read
// and decompressed every body whole before charging it, and let one
// request past the capacity when nothing else was charged: the issue
// measured 271 MiB of heap; this test on that code measured, for the
// 16 MiB bodies, a peak heap of 136.7 MiB (HTTP) and 223.7 MiB (gRPC),
// and 96 MiB in flight, three times the capacity.
func TestFault4_MemoryLimitHoldsWhileBodiesAreRead(t *testing.T) {
	const (
		limit   = 64 << 20
		clients = 12
		bomb    = 16 << 20 // decompressed size of a body too large for the limit
		fits    = 4 << 20  // decompressed size of a body that fits alone
	)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit)) // as outpost run does

	for _, transport := range []string{transportHTTP, transportGRPC} {
		t.Run(transport, func(t *testing.T) {
			mem := memlimit.New(limit, nil)
			s := newSink()
			cfg := bothProtocols()
			cfg.Protocols.HTTP.MaxRequestBodySize = 20 << 20
			cfg.Protocols.GRPC.MaxRecvMsgSize = 20 << 20
			r := startReceiverSettings(t, cfg, s.consumers(t, pipeline.SignalLogs), pipeline.Settings{Memory: mem})
			send := func(body []byte, retry bool) (int, int) {
				if transport == transportHTTP {
					return postHTTP(t, "http://"+r.httpAddr+DefaultLogsURLPath, body, retry)
				}
				return postGRPC(t, r.grpcAddr, body, retry)
			}

			for _, phase := range []struct {
				name   string
				size   int
				accept bool // every request must be accepted in the end
			}{
				{"16MiB bodies", bomb, false},
				{"4MiB bodies", fits, true},
			} {
				body := gzipBest(t, logsRequest(t, phase.size))
				before := s.got(pipeline.SignalLogs)
				base := heapBytes()
				peaks := samplePeaks(mem)
				var wg sync.WaitGroup
				var mu sync.Mutex
				codes := map[int]int{}
				tries := 0
				for range clients {
					wg.Go(func() {
						code, n := send(body, true)
						mu.Lock()
						codes[code]++
						tries += n
						mu.Unlock()
					})
				}
				wg.Wait()
				peakHeap, peakInFlight := peaks.stop()
				accepted := s.got(pipeline.SignalLogs) - before
				t.Logf("%s, %s: %d requests of %d-byte gzip bodies (%d bytes decompressed) under memory_limit %d MiB: answers %v after %d tries, %d accepted; peak heap %.1f MiB (base %.1f MiB), peak in flight %.1f MiB (capacity %.1f MiB)",
					transport, phase.name, clients, len(body), phase.size, limit>>20, codes, tries, accepted,
					mib(peakHeap), mib(base), mib(peakInFlight), mib(mem.Capacity()))

				if peakInFlight > mem.Capacity() {
					t.Errorf("bytes in flight reached %d, past the capacity of %d", peakInFlight, mem.Capacity())
				}
				if peakHeap > base+2*limit {
					t.Errorf("heap reached %.1f MiB, past the base %.1f MiB + 2 × memory_limit", mib(peakHeap), mib(base))
				}
				if phase.accept && (accepted != clients || codes[200] != clients) {
					t.Errorf("%d of %d requests that fit the limit accepted (answers %v)", accepted, clients, codes)
				}
				if !phase.accept {
					if accepted != 0 {
						t.Errorf("%d requests too large for the limit accepted", accepted)
					}
					if n := r.badRequests(pipeline.SignalLogs, transport, reasonTooLarge); n == 0 {
						t.Errorf("requests too large for the memory limit not counted as too_large")
					}
				}
				// A handler gives its charge back as it returns, which may
				// be just after its client has the answer.
				outtestutil.Eventually(t, 10*time.Second, "every charge given back", func() bool { return mem.InFlight() == 0 })
			}
		})
	}
}

// logsRequest is an OTLP logs request, protobuf-encoded, of about size
// bytes: one record whose body is a long run of one letter, so that it
// compresses about a thousandfold.
func logsRequest(t testing.TB, size int) []byte {
	ld := plog.NewLogs()
	rec := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	rec.Body().SetStr(strings.Repeat("x", size))
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBest(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// retryPause is how long the test's clients wait before sending a refused
// request again (shorter than the one-second hint, to keep the test short).
const retryPause = 50 * time.Millisecond

// postHTTP posts a gzip OTLP/HTTP logs body; with retry, a 429 is sent
// again until it is answered otherwise. It returns the last status and the
// number of tries.
func postHTTP(t testing.TB, url string, body []byte, retry bool) (code, tries int) {
	ctx := clientContext(t)
	for {
		tries++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, tries
		}
		req.Header.Set("Content-Type", contentTypeProto)
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0, tries
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		if !retry || resp.StatusCode != http.StatusTooManyRequests {
			return resp.StatusCode, tries
		}
		select {
		case <-ctx.Done():
			return resp.StatusCode, tries
		case <-time.After(retryPause):
		}
	}
}

// postGRPC sends a gzip-compressed OTLP/gRPC logs Export message, as
// already compressed bytes over HTTP/2 (so that the client holds 16 KB,
// not the 16 MiB a gRPC client would marshal, and the heap sampled is the
// server's); with retry, RESOURCE_EXHAUSTED with a retry hint is sent
// again. It returns the gRPC status code as 200 for OK and 8000+code
// otherwise, and the number of tries.
func postGRPC(t testing.TB, addr string, gz []byte, retry bool) (code, tries int) {
	ctx := clientContext(t)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	msg := make([]byte, 5+len(gz))
	msg[0] = 1 // compressed
	binary.BigEndian.PutUint32(msg[1:5], uint32(len(gz)))
	copy(msg[5:], gz)
	for {
		tries++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			"http://"+addr+"/opentelemetry.proto.collector.logs.v1.LogsService/Export", bytes.NewReader(msg))
		if err != nil {
			t.Error(err)
			return 0, tries
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Grpc-Encoding", "gzip")
		req.Header.Set("TE", "trailers")
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, tries
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		get := func(k string) string {
			if v := resp.Trailer.Get(k); v != "" {
				return v
			}
			return resp.Header.Get(k) // a trailers-only answer
		}
		grpcCode, err := strconv.Atoi(get("Grpc-Status"))
		if err != nil {
			t.Errorf("no grpc-status in the answer (HTTP %d)", resp.StatusCode)
			return 0, tries
		}
		retryable := grpcCode == 8 && get("Grpc-Status-Details-Bin") != ""
		if !retry || !retryable {
			if grpcCode == 0 {
				return 200, tries
			}
			return 8000 + grpcCode, tries
		}
		select {
		case <-ctx.Done():
			return 8000 + grpcCode, tries
		case <-time.After(retryPause):
		}
	}
}

// clientContext bounds a client's tries. The requests are served a few at
// a time (that is the point), and the race detector slows decompression
// down a lot, so it is long.
func clientContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// heapBytes is the heap held by objects, live or not yet swept, after a
// collection.
func heapBytes() int64 {
	runtime.GC()
	return readHeap()
}

func readHeap() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// peakSampler records the highest heap and bytes in flight seen, sampled
// every 200µs until stop.
type peakSampler struct {
	done   chan struct{}
	exited chan struct{}
	heap   int64
	flight int64
}

func samplePeaks(mem *memlimit.Limiter) *peakSampler {
	p := &peakSampler{done: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			p.heap = max(p.heap, readHeap())
			p.flight = max(p.flight, mem.InFlight())
			select {
			case <-p.done:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peakSampler) stop() (heap, inFlight int64) {
	close(p.done)
	<-p.exited
	return p.heap, p.flight
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
