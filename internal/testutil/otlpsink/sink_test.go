package otlpsink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/internal/grpccompress"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func traces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetName("op")
		sp.SetTraceID([16]byte{1, byte(i)})
		sp.SetSpanID([8]byte{2, byte(i)})
	}
	return td
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestGRPC(t *testing.T) {
	s := Start(t)
	conn := dial(t, s.GRPCAddr(), nil)
	grpccompress.Register()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "X-Tenant", "acme")

	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(traces(7)), grpc.UseCompressor(grpccompress.Zstd)); err != nil {
		t.Fatal(err)
	}
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	if _, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md)); err != nil {
		t.Fatal(err)
	}
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
		t.Fatal(err)
	}
	if s.Spans() != 7 || s.DataPoints() != 1 || s.LogRecords() != 1 || s.RequestCount() != 3 {
		t.Fatalf("counts %d/%d/%d/%d", s.Spans(), s.DataPoints(), s.LogRecords(), s.RequestCount())
	}
	reqs := s.Requests()
	if len(reqs) != 3 || reqs[0].Compression != "zstd" || reqs[1].Compression != "" || reqs[0].Header("x-tenant") != "acme" ||
		reqs[0].Transport != TransportGRPC || reqs[0].Items != 7 || reqs[0].WireBytes == 0 {
		t.Fatalf("records %+v", reqs)
	}
	if got := s.Logs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str(); got != "hello" {
		t.Fatalf("kept log %q", got)
	}
}

func TestGRPCFailures(t *testing.T) {
	s := Start(t)
	client := ptraceotlp.NewGRPCClient(dial(t, s.GRPCAddr(), nil))
	s.FailNext(1, Failure{Code: codes.ResourceExhausted, RetryAfter: 2 * time.Second, Message: "slow down"})
	_, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(3)))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || st.Message() != "slow down" || len(st.Details()) != 1 ||
		st.Details()[0].(*errdetails.RetryInfo).GetRetryDelay().AsDuration() != 2*time.Second {
		t.Fatalf("got %v %v", st, st.Details())
	}
	s.FailNext(1, Failure{HTTPStatus: http.StatusServiceUnavailable})
	if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(3))); status.Code(err) != codes.Unavailable {
		t.Fatalf("503 as gRPC: %v", err)
	}
	s.FailNext(1, Failure{Rejected: 2, Message: "too old"})
	resp, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(3)))
	if err != nil || resp.PartialSuccess().RejectedSpans() != 2 || resp.PartialSuccess().ErrorMessage() != "too old" {
		t.Fatalf("partial: %v %v", resp, err)
	}
	if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(3))); err != nil {
		t.Fatal(err)
	}
	if s.Spans() != 1+3 || s.FailedCount() != 2 || s.RequestCount() != 4 {
		t.Fatalf("spans %d failed %d requests %d", s.Spans(), s.FailedCount(), s.RequestCount())
	}
}

func post(t *testing.T, client *http.Client, url, ct, ce string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Tenant", "acme")
	if ce != "" {
		req.Header.Set("Content-Encoding", ce)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestHTTP(t *testing.T) {
	s := Start(t)
	client := &http.Client{}
	t.Cleanup(client.CloseIdleConnections)
	req := ptraceotlp.NewExportRequestFromTraces(traces(5))
	pb, _ := req.MarshalProto()
	js, _ := req.MarshalJSON()
	enc, _ := zstd.NewWriter(nil)
	defer enc.Close()

	if r := post(t, client, s.HTTPURL()+"/v1/traces", "application/x-protobuf", "zstd", enc.EncodeAll(pb, nil)); r.StatusCode != 200 {
		t.Fatalf("proto+zstd: %d", r.StatusCode)
	}
	r := post(t, client, s.HTTPURL()+"/v1/traces", "application/json", "", js)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("json: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if s.Spans() != 10 {
		t.Fatalf("spans %d", s.Spans())
	}
	last, _ := s.LastRequest()
	if last.Encoding != "json" || last.Compression != "" || last.Header("X-TENANT") != "acme" || last.Transport != TransportHTTP {
		t.Fatalf("last %+v", last)
	}

	s.FailNext(1, Failure{Code: codes.ResourceExhausted, RetryAfter: 1500 * time.Millisecond})
	r = post(t, client, s.HTTPURL()+"/v1/traces", "application/x-protobuf", "", pb)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("429: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := post(t, client, s.HTTPURL()+"/v1/traces", "text/plain", "", pb); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %d", r.StatusCode)
	}
	if r := post(t, client, s.HTTPURL()+"/v1/traces", "application/x-protobuf", "gzip", pb); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad gzip: %d", r.StatusCode)
	}
	s.SetFail(func(sig pipeline.Signal) *Failure {
		if sig == pipeline.SignalLogs {
			return &Failure{HTTPStatus: 400, Message: "no logs here"}
		}
		return nil
	})
	r = post(t, client, s.HTTPURL()+"/v1/logs", "application/json", "", []byte(`{}`))
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 400 || !bytes.Contains(body, []byte("no logs here")) {
		t.Fatalf("logs: %d %s", r.StatusCode, body)
	}
	s.SetFail(nil)
	if s.Spans() != 10 || s.FailedCount() != 2 {
		t.Fatalf("spans %d failed %d", s.Spans(), s.FailedCount())
	}
}

func TestBoundsAndReset(t *testing.T) {
	s := StartWith(t, Options{KeepItems: 10, KeepRequests: 2})
	client := ptraceotlp.NewGRPCClient(dial(t, s.GRPCAddr(), nil))
	for range 3 {
		if _, err := client.Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(4))); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitSpans(t, 12, time.Second)
	if len(s.Traces()) != 2 || len(s.Requests()) != 2 || s.Spans() != 12 {
		t.Fatalf("kept %d batches, %d records, %d spans", len(s.Traces()), len(s.Requests()), s.Spans())
	}
	s.Reset()
	if len(s.Traces()) != 0 || s.Spans() != 0 || len(s.Requests()) != 0 {
		t.Fatal("not reset")
	}
	if _, ok := s.LastRequest(); ok {
		t.Fatal("LastRequest after Reset")
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, err := WriteTestCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := StartWith(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	pem, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	clientTLS := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	conn := dial(t, s.GRPCAddr(), credentials.NewTLS(clientTLS))
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(traces(1))); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	t.Cleanup(client.CloseIdleConnections)
	pb, _ := ptraceotlp.NewExportRequestFromTraces(traces(1)).MarshalProto()
	if r := post(t, client, s.HTTPURL()+"/v1/traces", "application/x-protobuf", "", pb); r.StatusCode != 200 {
		t.Fatalf("https: %d", r.StatusCode)
	}
	if s.Spans() != 2 {
		t.Fatalf("spans %d", s.Spans())
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
