package otlpreceiver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/outpost-edge/outpost/pipeline"
)

// payload is one signal's request, in both formats.
type payload struct {
	sig   pipeline.Signal
	path  string
	items int
	proto []byte
	json  []byte
	// partial decodes a response body and returns its partial_success.
	partial func(body []byte, f format) (rejected int64, msg string, err error)
}

func (p payload) body(f format) []byte {
	if f == formatJSON {
		return p.json
	}
	return p.proto
}

func payloads(t testing.TB) []payload {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tr := ptraceotlp.NewExportRequestFromTraces(makeTraces(5))
	mr := pmetricotlp.NewExportRequestFromMetrics(makeMetrics(7))
	lr := plogotlp.NewExportRequestFromLogs(makeLogs(3))
	unmarshal := func(r interface {
		UnmarshalProto([]byte) error
		UnmarshalJSON([]byte) error
	}, body []byte, f format) error {
		if f == formatJSON {
			return r.UnmarshalJSON(body)
		}
		return r.UnmarshalProto(body)
	}
	return []payload{
		{
			sig: pipeline.SignalTraces, path: "/v1/traces", items: 5,
			proto: must(tr.MarshalProto()), json: must(tr.MarshalJSON()),
			partial: func(body []byte, f format) (int64, string, error) {
				r := ptraceotlp.NewExportResponse()
				err := unmarshal(r, body, f)
				return r.PartialSuccess().RejectedSpans(), r.PartialSuccess().ErrorMessage(), err
			},
		},
		{
			sig: pipeline.SignalMetrics, path: "/v1/metrics", items: 7,
			proto: must(mr.MarshalProto()), json: must(mr.MarshalJSON()),
			partial: func(body []byte, f format) (int64, string, error) {
				r := pmetricotlp.NewExportResponse()
				err := unmarshal(r, body, f)
				return r.PartialSuccess().RejectedDataPoints(), r.PartialSuccess().ErrorMessage(), err
			},
		},
		{
			sig: pipeline.SignalLogs, path: "/v1/logs", items: 3,
			proto: must(lr.MarshalProto()), json: must(lr.MarshalJSON()),
			partial: func(body []byte, f format) (int64, string, error) {
				r := plogotlp.NewExportResponse()
				err := unmarshal(r, body, f)
				return r.PartialSuccess().RejectedLogRecords(), r.PartialSuccess().ErrorMessage(), err
			},
		},
	}
}

var allSignals = []pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs}

func contentType(f format) string {
	if f == formatJSON {
		return contentTypeJSON
	}
	return contentTypeProto
}

// post sends a request and returns the response with its body read.
func post(t testing.TB, url, ct, ce string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if ce != "" {
		req.Header.Set("Content-Encoding", ce)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// decodeStatus decodes a google.rpc.Status error body.
func decodeStatus(t testing.TB, resp *http.Response, body []byte) *spb.Status {
	t.Helper()
	st := &spb.Status{}
	var err error
	switch ct := resp.Header.Get("Content-Type"); ct {
	case contentTypeJSON:
		err = protojson.Unmarshal(body, st)
	case contentTypeProto:
		err = proto.Unmarshal(body, st)
	default:
		t.Fatalf("error response has Content-Type %q", ct)
	}
	if err != nil {
		t.Fatalf("decode status body %q: %v", body, err)
	}
	return st
}

func retryDelayOf(t testing.TB, st *spb.Status) time.Duration {
	t.Helper()
	for _, d := range st.GetDetails() {
		ri := &errdetails.RetryInfo{}
		if d.MessageIs(ri) {
			if err := d.UnmarshalTo(ri); err != nil {
				t.Fatal(err)
			}
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return -1
}

func TestHTTPSignals(t *testing.T) {
	s := newSink()
	r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
	encodings := []struct {
		name     string
		compress func(testing.TB, []byte) []byte
	}{
		{"", func(_ testing.TB, b []byte) []byte { return b }},
		{"gzip", gzipBytes},
		{"zstd", zstdBytes},
		{"deflate", deflateBytes},
	}
	want := map[pipeline.Signal]int{}
	for _, p := range payloads(t) {
		for _, f := range []format{formatProto, formatJSON} {
			for _, enc := range encodings {
				t.Run(fmt.Sprintf("%s/%s/%s", p.sig, contentType(f), enc.name), func(t *testing.T) {
					resp, body := post(t, "http://"+r.httpAddr+p.path, contentType(f)+"; charset=utf-8", enc.name,
						bytes.NewReader(enc.compress(t, p.body(f))))
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("status %d, body %q", resp.StatusCode, body)
					}
					if got := resp.Header.Get("Content-Type"); got != contentType(f) {
						t.Errorf("Content-Type %q, want %q", got, contentType(f))
					}
					rejected, msg, err := p.partial(body, f)
					if err != nil || rejected != 0 || msg != "" {
						t.Errorf("response %q: rejected %d, message %q, err %v", body, rejected, msg, err)
					}
					want[p.sig] += p.items
					if got := s.got(p.sig); got != want[p.sig] {
						t.Errorf("sink has %d items, want %d", got, want[p.sig])
					}
					if got := r.accepted(p.sig, transportHTTP); got != float64(want[p.sig]) {
						t.Errorf("accepted %v, want %d", got, want[p.sig])
					}
				})
			}
		}
	}
}

// errorCases is the mapping of pipeline errors that both transports share.
var errorCases = []struct {
	name       string
	err        error
	httpStatus int
	grpcCode   codes.Code
	retryDelay time.Duration // -1: no RetryInfo, no Retry-After
	retryAfter string
	reason     string // refused reason; "" for partial success
	rejected   int64  // partial success
}{
	{"throttle", pipeline.NewThrottle(errors.New("queue full"), 2*time.Second), 429, codes.ResourceExhausted, 2 * time.Second, "2", reasonThrottled, 0},
	{"throttle rounds up", pipeline.NewThrottle(errors.New("memory limit"), 1500*time.Millisecond), 429, codes.ResourceExhausted, 1500 * time.Millisecond, "2", reasonThrottled, 0},
	{"throttle without hint", pipeline.NewThrottle(errors.New("queue full"), 0), 429, codes.ResourceExhausted, time.Second, "1", reasonThrottled, 0},
	{"wrapped throttle", fmt.Errorf("exporter: %w", pipeline.NewThrottle(errors.New("429 upstream"), 3*time.Second)), 429, codes.ResourceExhausted, 3 * time.Second, "3", reasonThrottled, 0},
	{"retryable", errors.New("disk write failed"), 503, codes.Unavailable, time.Second, "1", reasonUnavailable, 0},
	{"permanent", consumererror.NewPermanent(errors.New("bad attribute")), 400, codes.InvalidArgument, -1, "", reasonPermanent, 0},
	{"joined retryable wins", errors.Join(consumererror.NewPermanent(errors.New("no")), errors.New("later")), 503, codes.Unavailable, time.Second, "1", reasonUnavailable, 0},
	{"partial", &pipeline.PartialError{Rejected: 2, Err: errors.New("2 spans too old")}, 200, codes.OK, -1, "", "", 2},
	{"partial caps rejected", &pipeline.PartialError{Rejected: 1000, Err: errors.New("all too old")}, 200, codes.OK, -1, "", "", -1},
}

func TestHTTPErrors(t *testing.T) {
	for _, tc := range errorCases {
		for _, f := range []format{formatProto, formatJSON} {
			t.Run(tc.name+"/"+contentType(f), func(t *testing.T) {
				s := newSink()
				r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
				s.setErr(tc.err)
				for _, p := range payloads(t) {
					resp, body := post(t, "http://"+r.httpAddr+p.path, contentType(f), "", bytes.NewReader(p.body(f)))
					if resp.StatusCode != tc.httpStatus {
						t.Fatalf("%s: status %d, want %d (body %q)", p.sig, resp.StatusCode, tc.httpStatus, body)
					}
					if got := resp.Header.Get("Content-Type"); got != contentType(f) {
						t.Errorf("%s: Content-Type %q, want %q", p.sig, got, contentType(f))
					}
					if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
						t.Errorf("%s: Retry-After %q, want %q", p.sig, got, tc.retryAfter)
					}
					wantRejected := tc.rejected
					if wantRejected < 0 {
						wantRejected = int64(p.items)
					}
					if tc.httpStatus == http.StatusOK {
						rejected, msg, err := p.partial(body, f)
						if err != nil {
							t.Fatal(err)
						}
						if rejected != wantRejected || msg == "" {
							t.Errorf("%s: partial success rejected %d, message %q; want %d and a message", p.sig, rejected, msg, wantRejected)
						}
						if got, want := r.accepted(p.sig, transportHTTP), float64(int64(p.items)-wantRejected); got != want {
							t.Errorf("%s: accepted %v, want %v", p.sig, got, want)
						}
						if got := r.refused(p.sig, transportHTTP, reasonRejected); got != float64(wantRejected) {
							t.Errorf("%s: refused{rejected} %v, want %d", p.sig, got, wantRejected)
						}
						continue
					}
					st := decodeStatus(t, resp, body)
					if codes.Code(st.GetCode()) != tc.grpcCode || st.GetMessage() == "" {
						t.Errorf("%s: status body code %v message %q, want code %v", p.sig, codes.Code(st.GetCode()), st.GetMessage(), tc.grpcCode)
					}
					if got := retryDelayOf(t, st); got != tc.retryDelay {
						t.Errorf("%s: RetryInfo delay %v, want %v", p.sig, got, tc.retryDelay)
					}
					if got := r.refused(p.sig, transportHTTP, tc.reason); got != float64(p.items) {
						t.Errorf("%s: refused{%s} %v, want %d", p.sig, tc.reason, got, p.items)
					}
					if got := r.accepted(p.sig, transportHTTP); got != 0 {
						t.Errorf("%s: accepted %v, want 0", p.sig, got)
					}
				}
			})
		}
	}
}

func TestHTTPBadRequests(t *testing.T) {
	const maxBody = 64 << 10
	cfg := bothProtocols()
	cfg.Protocols.HTTP.MaxRequestBodySize = maxBody
	s := newSink()
	r := startReceiver(t, cfg, s.consumers(t, allSignals...))
	p := payloads(t)[0]
	url := "http://" + r.httpAddr + p.path

	bomb := make([]byte, 4*maxBody) // compresses to a few hundred bytes
	validGzip := gzipBytes(t, p.proto)
	tooBig := bytes.Repeat([]byte{0}, maxBody+1)

	cases := []struct {
		name, ct, ce string
		body         io.Reader
		status       int
		reason       string
	}{
		{"garbage proto", contentTypeProto, "", strings.NewReader("\x0a\xff\xff\xff\xff\x0fgarbage"), 400, reasonDecode},
		{"wrong wire type", contentTypeProto, "", strings.NewReader("\x0b\x0c\x0d"), 400, reasonDecode},
		{"bad json", contentTypeJSON, "", strings.NewReader(`{"resourceSpans": [{`), 400, reasonDecode},
		{"json of wrong shape", contentTypeJSON, "", strings.NewReader(`{"resourceSpans": 7}`), 400, reasonDecode},
		{"bad gzip", contentTypeProto, "gzip", strings.NewReader("this is not gzip"), 400, reasonDecode},
		{"truncated gzip", contentTypeProto, "gzip", bytes.NewReader(validGzip[:len(validGzip)-6]), 400, reasonDecode},
		{"bad zstd", contentTypeProto, "zstd", strings.NewReader("this is not zstd"), 400, reasonDecode},
		{"bad deflate", contentTypeProto, "deflate", strings.NewReader("this is not zlib"), 400, reasonDecode},
		{"too large", contentTypeProto, "", bytes.NewReader(tooBig), 413, reasonTooLarge},
		{"too large chunked", contentTypeProto, "", io.MultiReader(bytes.NewReader(tooBig)), 413, reasonTooLarge},
		{"gzip bomb", contentTypeProto, "gzip", bytes.NewReader(gzipBytes(t, bomb)), 413, reasonTooLarge},
		{"zstd bomb", contentTypeProto, "zstd", bytes.NewReader(zstdBytes(t, bomb)), 413, reasonTooLarge},
		{"deflate bomb", contentTypeProto, "deflate", bytes.NewReader(deflateBytes(t, bomb)), 413, reasonTooLarge},
		{"text/plain", "text/plain", "", bytes.NewReader(p.proto), 415, reasonUnsupportedMediaType},
		{"no content type", "", "", bytes.NewReader(p.proto), 415, reasonUnsupportedMediaType},
		{"brotli", contentTypeProto, "br", bytes.NewReader(p.proto), 415, reasonUnsupportedEncoding},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := r.badRequests(p.sig, transportHTTP, tc.reason)
			resp, body := post(t, url, tc.ct, tc.ce, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tc.status, body)
			}
			st := decodeStatus(t, resp, body)
			if st.GetMessage() == "" {
				t.Error("error body has no message")
			}
			if got := r.badRequests(p.sig, transportHTTP, tc.reason); got != before+1 {
				t.Errorf("bad_requests{%s} %v, want %v", tc.reason, got, before+1)
			}
			// The server keeps serving.
			resp, body = post(t, url, contentTypeProto, "", bytes.NewReader(p.proto))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("good request after bad: status %d (body %q)", resp.StatusCode, body)
			}
		})
	}
	if got := r.accepted(p.sig, transportHTTP); got != float64(len(cases)*p.items) {
		t.Errorf("accepted %v, want %d", got, len(cases)*p.items)
	}
	if got := s.got(p.sig); got != len(cases)*p.items {
		t.Errorf("sink got %d, want %d: no bad request may reach the pipeline", got, len(cases)*p.items)
	}
}

func TestHTTPMethodAndPath(t *testing.T) {
	s := newSink()
	r := startReceiver(t, bothProtocols(), s.consumers(t, pipeline.SignalTraces))
	base := "http://" + r.httpAddr

	resp, err := http.Get(base + "/v1/traces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q, want 405 and POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if got := r.badRequests(pipeline.SignalTraces, transportHTTP, reasonMethodNotAllowed); got != 1 {
		t.Errorf("bad_requests{method_not_allowed} %v, want 1", got)
	}

	ps := payloads(t)
	for _, tc := range []struct {
		path   string
		body   []byte
		status int
	}{
		{"/v1/traces", ps[0].proto, 200},
		{"/v1/logs", ps[2].proto, 404},    // not wired
		{"/v1/metrics", ps[1].proto, 404}, // not wired
		{"/v1/traces/", ps[0].proto, 404},
		{"/", ps[0].proto, 404},
	} {
		resp, body := post(t, base+tc.path, contentTypeProto, "", bytes.NewReader(tc.body))
		if resp.StatusCode != tc.status {
			t.Errorf("POST %s: status %d, want %d (body %q)", tc.path, resp.StatusCode, tc.status, body)
		}
		if tc.status == 404 {
			if st := decodeStatus(t, resp, body); codes.Code(st.GetCode()) != codes.Unimplemented {
				t.Errorf("POST %s: status body code %v", tc.path, codes.Code(st.GetCode()))
			}
		}
	}
	if s.got(pipeline.SignalLogs) != 0 || s.got(pipeline.SignalMetrics) != 0 {
		t.Error("unwired signals reached the pipeline")
	}
}

func TestHTTPCustomPaths(t *testing.T) {
	cfg := bothProtocols()
	cfg.Protocols.GRPC = nil
	cfg.Protocols.HTTP.TracesURLPath = "/otlp/v1/traces"
	s := newSink()
	r := startReceiver(t, cfg, s.consumers(t, allSignals...))
	if g, _ := r.addrs(); g != nil {
		t.Errorf("gRPC is off but listens on %v", g)
	}
	p := payloads(t)[0]
	if resp, _ := post(t, "http://"+r.httpAddr+"/otlp/v1/traces", contentTypeProto, "", bytes.NewReader(p.proto)); resp.StatusCode != 200 {
		t.Errorf("custom path: status %d", resp.StatusCode)
	}
	if resp, _ := post(t, "http://"+r.httpAddr+"/v1/traces", contentTypeProto, "", bytes.NewReader(p.proto)); resp.StatusCode != 404 {
		t.Errorf("default path: status %d, want 404", resp.StatusCode)
	}
}

func TestHTTPEmptyRequestSkipsPipeline(t *testing.T) {
	s := newSink()
	s.setErr(errors.New("must not be called"))
	r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
	for _, f := range []format{formatProto, formatJSON} {
		body := []byte{}
		if f == formatJSON {
			body = []byte(`{}`)
		}
		resp, b := post(t, "http://"+r.httpAddr+"/v1/logs", contentType(f), "", bytes.NewReader(body))
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d body %q", contentType(f), resp.StatusCode, b)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[pipeline.SignalLogs] != 0 {
		t.Error("an empty request reached the pipeline")
	}
}
