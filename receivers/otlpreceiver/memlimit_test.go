package otlpreceiver

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// TestMemoryLimit holds the limiter nearly full, as requests in flight
// would, and checks that both transports refuse a request with
// back-pressure before it reaches the pipeline, count it, and accept it
// again once the bytes are released.
func TestMemoryLimit(t *testing.T) {
	mem := memlimit.New(64<<10, nil) // requests may hold 32 KiB
	s := newSink()
	r := startReceiverSettings(t, bothProtocols(), s.consumers(t, pipeline.Signals...), pipeline.Settings{Memory: mem})
	p := payloads(t)[0]
	if int64(len(p.proto))*memlimit.Expansion >= 32<<10 {
		t.Fatalf("test payload too large (%d bytes) for the limit", len(p.proto))
	}
	hold := int64(32<<10) - 1
	if err := mem.Acquire(hold); err != nil {
		t.Fatal(err)
	}

	cc := dial(t, r.grpcAddr)
	_, _, err := grpcExport(testContext(t), cc, p)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("gRPC at the memory limit: %v, want RESOURCE_EXHAUSTED", err)
	}
	hasInfo := false
	for _, d := range st.Details() {
		_, hasInfo = d.(*errdetails.RetryInfo)
	}
	if !hasInfo {
		t.Errorf("RESOURCE_EXHAUSTED without RetryInfo")
	}
	resp, _ := post(t, "http://"+r.httpAddr+p.path, contentTypeProto, "", bytes.NewReader(p.proto))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("HTTP at the memory limit: %d Retry-After %q, want 429 with 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if got := s.got(p.sig); got != 0 {
		t.Fatalf("the pipeline got %d items while the limit was reached", got)
	}
	for _, tr := range []string{transportGRPC, transportHTTP} {
		if n := r.badRequests(p.sig, tr, reasonMemoryLimit); n != 1 {
			t.Errorf("%s memory_limit refusals = %v, want 1", tr, n)
		}
	}

	mem.Release(hold)
	if _, _, err := grpcExport(testContext(t), cc, p); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if resp, _ := post(t, "http://"+r.httpAddr+p.path, contentTypeProto, "", bytes.NewReader(p.proto)); resp.StatusCode != http.StatusOK {
		t.Fatalf("after release: HTTP %d", resp.StatusCode)
	}
	if got := s.got(p.sig); got != 2*p.items {
		t.Errorf("the pipeline got %d items, want %d", got, 2*p.items)
	}
	if n := mem.InFlight(); n != 0 {
		t.Errorf("%d bytes still held after the requests", n)
	}
}

// TestMemoryLimitCapsRequestSize checks that a request larger than the
// memory limit can ever hold is refused as too large on both transports,
// permanently (413; RESOURCE_EXHAUSTED without RetryInfo), counted as
// too_large, and that one just under that size is accepted.
func TestMemoryLimitCapsRequestSize(t *testing.T) {
	mem := memlimit.New(64<<10, nil) // requests may hold 32 KiB
	most := mem.MaxRequestSize(DefaultMaxRequestBodySize)
	s := newSink()
	r := startReceiverSettings(t, bothProtocols(), s.consumers(t, pipeline.SignalLogs), pipeline.Settings{Memory: mem})
	cc := dial(t, r.grpcAddr)
	f := func(body []byte, wantOK bool) {
		t.Helper()
		resp, msg := post(t, "http://"+r.httpAddr+DefaultLogsURLPath, contentTypeProto, "", bytes.NewReader(body))
		if wantOK && resp.StatusCode != http.StatusOK {
			t.Errorf("HTTP, %d-byte body (most %d): %d, want 200", len(body), most, resp.StatusCode)
		}
		if !wantOK && (resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(msg, []byte("memory_limit"))) {
			t.Errorf("HTTP, %d-byte body (most %d): %d %q, want 413 naming memory_limit", len(body), most, resp.StatusCode, msg)
		}
		p := payload{sig: pipeline.SignalLogs, proto: body}
		_, _, err := grpcExport(testContext(t), cc, p)
		st := status.Convert(err)
		if wantOK && err != nil {
			t.Errorf("gRPC, %d-byte message: %v", len(body), err)
		}
		if !wantOK {
			if st.Code() != codes.ResourceExhausted {
				t.Errorf("gRPC, %d-byte message (most %d): %v, want RESOURCE_EXHAUSTED", len(body), most, err)
			}
			for _, d := range st.Details() {
				if _, ok := d.(*errdetails.RetryInfo); ok {
					t.Errorf("gRPC, %d-byte message: RetryInfo on a request that can never fit", len(body))
				}
			}
		}
	}
	fits, over := logsRequest(t, int(most)-100), logsRequest(t, int(most)+100)
	f(fits, true)
	f(over, false)
	for _, tr := range []string{transportGRPC, transportHTTP} {
		if n := r.badRequests(pipeline.SignalLogs, tr, reasonTooLarge); n != 1 {
			t.Errorf("%s too_large refusals = %v, want 1", tr, n)
		}
	}
	if got := s.got(pipeline.SignalLogs); got != 2 {
		t.Errorf("the pipeline got %d records, want 2", got)
	}
	t.Logf("memory_limit 64 KiB: largest request %d bytes; one of %d bytes accepted, one of %d refused as too large on both transports", most, len(fits), len(over))
}

// TestZstdWindowIsCharged checks that the window a zstd body declares,
// which the decoder allocates whole, is charged before decoding: a small
// body streamed with an 8 MiB window is refused at the memory limit when
// less than its window is left, although its content would fit, and
// accepted when the window fits; a body that declares more content than
// the cap is refused unread.
func TestZstdWindowIsCharged(t *testing.T) {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	req := logsRequest(t, 200<<10)
	for i := 0; i < len(req); i += 64 << 10 {
		if _, err := w.Write(req[i:min(i+64<<10, len(req))]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil { // a streaming client: blocks before the end
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	body := buf.Bytes()
	var h zstd.Header
	if err := h.Decode(body); err != nil || h.WindowSize < 8<<20 {
		t.Fatalf("test body declares a window of %d (%v), want 8 MiB", h.WindowSize, err)
	}

	br := newBodyReader(DefaultMaxRequestBodySize)
	mem := memlimit.New(64<<20, nil) // requests may hold 32 MiB
	decode := func() badRequest {
		_, _, charge, bad := decodeHTTP(context.Background(), br, logsDef, contentTypeProto, "zstd", bytes.NewReader(body), int64(len(body)), mem)
		charge.Release()
		return bad
	}
	// Leave 6 MiB: room for the content charged at 6 bytes a byte
	// (1.2 MiB), not for the window.
	hold := int64(32<<20 - 6<<20)
	if err := mem.Acquire(hold); err != nil {
		t.Fatal(err)
	}
	bad := decode()
	t.Logf("zstd body of %d bytes (%d decompressed, window %d) with 6 MiB left: %d %s", len(body), len(req), h.WindowSize, bad.status, bad.msg)
	if bad.status != http.StatusTooManyRequests {
		t.Errorf("window larger than the room left: %d %q, want 429", bad.status, bad.msg)
	}
	mem.Release(hold)
	if bad := decode(); bad.status != 0 {
		t.Errorf("with room for the window: %d %q, want accepted", bad.status, bad.msg)
	}
	if n := mem.InFlight(); n != 0 {
		t.Errorf("%d bytes charged after the requests", n)
	}

	huge := zstdBytes(t, logsRequest(t, 30<<20)) // declares its content size
	_, _, charge, bad := decodeHTTP(context.Background(), br, logsDef, contentTypeProto, "zstd", bytes.NewReader(huge), int64(len(huge)), mem)
	charge.Release()
	if bad.status != http.StatusRequestEntityTooLarge {
		t.Errorf("zstd body declaring 30 MiB of content: %d %q, want 413", bad.status, bad.msg)
	}
}
