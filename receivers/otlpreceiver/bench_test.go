package otlpreceiver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/outpost-edge/outpost/internal/grpccompress"
	"github.com/outpost-edge/outpost/pipeline"
)

const benchSpans = 100

func benchReceiver(b *testing.B) *testReceiver {
	s := newSink()
	return startReceiver(b, bothProtocols(), s.consumers(b, pipeline.SignalTraces))
}

// benchBody is a request body; size is its OTLP payload before
// compression, which is what b.SetBytes reports.
type benchBody struct {
	ct, ce string
	body   []byte
	size   int
}

func benchBodies(b *testing.B) map[string]benchBody {
	req := ptraceotlp.NewExportRequestFromTraces(makeTraces(benchSpans))
	pb, err := req.MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	js, err := req.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	return map[string]benchBody{
		"proto":      {contentTypeProto, "", pb, len(pb)},
		"proto+gzip": {contentTypeProto, "gzip", gzipBytes(b, pb), len(pb)},
		"proto+zstd": {contentTypeProto, "zstd", zstdBytes(b, pb), len(pb)},
		"json":       {contentTypeJSON, "", js, len(js)},
	}
}

// BenchmarkHTTPTraces posts 100-span requests over loopback; allocations
// include the client's.
func BenchmarkHTTPTraces(b *testing.B) {
	r := benchReceiver(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + r.httpAddr + "/v1/traces"
	for name, p := range benchBodies(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(p.size))
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(p.body))
				req.Header.Set("Content-Type", p.ct)
				if p.ce != "" {
					req.Header.Set("Content-Encoding", p.ce)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkHTTPTracesHandler runs the HTTP handler in process, without a
// network or a client: the receiver's own cost per request.
func BenchmarkHTTPTracesHandler(b *testing.B) {
	cfg := bothProtocols()
	comp, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: pipeline.MustID("otlp")}, cfg,
		newSink().consumers(b, pipeline.SignalTraces))
	if err != nil {
		b.Fatal(err)
	}
	r := comp.(*receiver)
	for name, p := range benchBodies(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(p.size))
			body := bytes.NewReader(p.body)
			req := httptest.NewRequest(http.MethodPost, "/v1/traces", body)
			req.Header.Set("Content-Type", p.ct)
			if p.ce != "" {
				req.Header.Set("Content-Encoding", p.ce)
			}
			w := &benchWriter{header: http.Header{}}
			for b.Loop() {
				body.Reset(p.body)
				req.Body = io.NopCloser(body)
				clear(w.header)
				w.code = 0
				r.traces.serveHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// benchWriter is a ResponseWriter that keeps only the status code.
type benchWriter struct {
	header http.Header
	code   int
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkGRPCTraces exports 100-span requests with pdata's gRPC client
// over loopback; allocations include the client's.
func BenchmarkGRPCTraces(b *testing.B) {
	r := benchReceiver(b)
	cc := dial(b, r.grpcAddr)
	client := ptraceotlp.NewGRPCClient(cc)
	req := ptraceotlp.NewExportRequestFromTraces(makeTraces(benchSpans))
	size, _ := req.MarshalProto()
	for _, compressor := range []string{"none", grpccompress.Zstd} {
		b.Run(compressor, func(b *testing.B) {
			var opts []grpc.CallOption
			if compressor != "none" {
				opts = append(opts, grpc.UseCompressor(compressor))
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(size)))
			ctx := context.Background()
			for b.Loop() {
				if _, err := client.Export(ctx, req, opts...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeTraces is the decoding alone; "pdata" is pdata's own
// UnmarshalProto of the same body, the floor for "proto".
func BenchmarkDecodeTraces(b *testing.B) {
	br := newBodyReader(DefaultMaxRequestBodySize)
	for name, p := range benchBodies(b) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(p.size))
			body := bytes.NewReader(p.body)
			for b.Loop() {
				body.Reset(p.body)
				td, _, _, bad := decodeHTTP(context.Background(), br, tracesDef, p.ct, p.ce, body, int64(len(p.body)), nil)
				if bad.status != 0 || td.SpanCount() != benchSpans {
					b.Fatal(bad.msg)
				}
			}
		})
	}
	b.Run("pdata", func(b *testing.B) {
		p := benchBodies(b)["proto"]
		b.ReportAllocs()
		b.SetBytes(int64(p.size))
		for b.Loop() {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(p.body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
