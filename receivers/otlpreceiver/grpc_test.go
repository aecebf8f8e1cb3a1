package otlpreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/internal/grpccompress"
	"github.com/outpost-edge/outpost/pipeline"
)

func newClientConn(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := newClientConn(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// grpcExport sends p's request with pdata's client for its signal and
// returns the partial success of the response.
func grpcExport(ctx context.Context, cc *grpc.ClientConn, p payload, opts ...grpc.CallOption) (rejected int64, msg string, err error) {
	switch p.sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(p.proto); err != nil {
			return 0, "", err
		}
		resp, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, req, opts...)
		if err != nil {
			return 0, "", err
		}
		return resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage(), nil
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(p.proto); err != nil {
			return 0, "", err
		}
		resp, err := pmetricotlp.NewGRPCClient(cc).Export(ctx, req, opts...)
		if err != nil {
			return 0, "", err
		}
		return resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage(), nil
	default:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(p.proto); err != nil {
			return 0, "", err
		}
		resp, err := plogotlp.NewGRPCClient(cc).Export(ctx, req, opts...)
		if err != nil {
			return 0, "", err
		}
		return resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage(), nil
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCSignals(t *testing.T) {
	s := newSink()
	r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
	cc := dial(t, r.grpcAddr)
	want := map[pipeline.Signal]int{}
	for _, compressor := range []string{"", gzip.Name, grpccompress.Zstd} {
		for _, p := range payloads(t) {
			t.Run(string(p.sig)+"/"+compressor, func(t *testing.T) {
				var opts []grpc.CallOption
				if compressor != "" {
					opts = append(opts, grpc.UseCompressor(compressor))
				}
				rejected, msg, err := grpcExport(testContext(t), cc, p, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if rejected != 0 || msg != "" {
					t.Errorf("partial success %d %q on a clean export", rejected, msg)
				}
				want[p.sig] += p.items
				if got := s.got(p.sig); got != want[p.sig] {
					t.Errorf("sink has %d, want %d", got, want[p.sig])
				}
				if got := r.accepted(p.sig, transportGRPC); got != float64(want[p.sig]) {
					t.Errorf("accepted %v, want %d", got, want[p.sig])
				}
			})
		}
	}
}

func TestGRPCErrors(t *testing.T) {
	s := newSink()
	r := startReceiver(t, bothProtocols(), s.consumers(t, allSignals...))
	cc := dial(t, r.grpcAddr)
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			s.setErr(tc.err)
			for _, p := range payloads(t) {
				refusedBefore := r.refused(p.sig, transportGRPC, tc.reason)
				acceptedBefore := r.accepted(p.sig, transportGRPC)
				rejectedBefore := r.refused(p.sig, transportGRPC, reasonRejected)
				rejected, msg, err := grpcExport(testContext(t), cc, p)
				if tc.grpcCode == codes.OK {
					if err != nil {
						t.Fatalf("%s: %v", p.sig, err)
					}
					want := tc.rejected
					if want < 0 {
						want = int64(p.items)
					}
					if rejected != want || msg == "" {
						t.Errorf("%s: partial success %d %q, want %d and a message", p.sig, rejected, msg, want)
					}
					if got := r.accepted(p.sig, transportGRPC) - acceptedBefore; got != float64(int64(p.items)-want) {
						t.Errorf("%s: accepted +%v, want +%d", p.sig, got, int64(p.items)-want)
					}
					if got := r.refused(p.sig, transportGRPC, reasonRejected) - rejectedBefore; got != float64(want) {
						t.Errorf("%s: refused{rejected} +%v, want +%d", p.sig, got, want)
					}
					continue
				}
				st := status.Convert(err)
				if st.Code() != tc.grpcCode {
					t.Fatalf("%s: code %v (%v), want %v", p.sig, st.Code(), err, tc.grpcCode)
				}
				var delay time.Duration = -1
				for _, d := range st.Details() {
					if ri, ok := d.(*errdetails.RetryInfo); ok {
						delay = ri.GetRetryDelay().AsDuration()
					}
				}
				if delay != tc.retryDelay {
					t.Errorf("%s: RetryInfo %v, want %v", p.sig, delay, tc.retryDelay)
				}
				if got := r.refused(p.sig, transportGRPC, tc.reason) - refusedBefore; got != float64(p.items) {
					t.Errorf("%s: refused{%s} +%v, want +%d", p.sig, tc.reason, got, p.items)
				}
			}
		})
	}
}

// rawCodecClient sends and receives bytes as they are.
type rawCodecClient struct{}

func (rawCodecClient) Name() string { return "proto" }
func (rawCodecClient) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodecClient) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func TestGRPCBadRequests(t *testing.T) {
	cfg := bothProtocols()
	cfg.Protocols.GRPC.MaxRecvMsgSize = 4 << 10
	s := newSink()
	r := startReceiver(t, cfg, s.consumers(t, pipeline.SignalTraces, pipeline.SignalMetrics))
	cc := dial(t, r.grpcAddr)
	ps := payloads(t)

	invoke := func(method string, body []byte) error {
		var out []byte
		return cc.Invoke(testContext(t), method, &body, &out, grpc.ForceCodecV2(rawCodecClient{}))
	}
	good := func() {
		t.Helper()
		if _, _, err := grpcExport(testContext(t), cc, ps[0]); err != nil {
			t.Fatalf("good request after bad: %v", err)
		}
	}

	err := invoke("/opentelemetry.proto.collector.trace.v1.TraceService/Export", []byte("\x0a\xff\xff\xff\xff\x0fgarbage"))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("garbage: %v, want InvalidArgument", err)
	}
	if got := r.badRequests(pipeline.SignalTraces, transportGRPC, reasonDecode); got != 1 {
		t.Errorf("bad_requests{decode} %v, want 1", got)
	}
	good()

	big := payload{sig: pipeline.SignalTraces}
	big.proto, _ = ptraceotlp.NewExportRequestFromTraces(makeTraces(200)).MarshalProto()
	_, _, err = grpcExport(testContext(t), cc, big)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("too large: %v, want ResourceExhausted", err)
	}
	for _, d := range status.Convert(err).Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			t.Error("too large carries RetryInfo: clients would retry it forever")
		}
	}
	if got := r.badRequests(pipeline.SignalTraces, transportGRPC, reasonTooLarge); got != 1 {
		t.Errorf("bad_requests{too_large} %v, want 1", got)
	}
	// Also when it is small on the wire but large decompressed.
	_, _, err = grpcExport(testContext(t), cc, big, grpc.UseCompressor(gzip.Name))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("too large gzip: %v, want ResourceExhausted", err)
	}
	good()

	// Logs are not wired.
	_, _, err = grpcExport(testContext(t), cc, ps[2])
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unwired logs: %v, want Unimplemented", err)
	}
	if got := s.got(pipeline.SignalTraces); got != 2*ps[0].items {
		t.Errorf("sink has %d spans, want %d", got, 2*ps[0].items)
	}
}

func TestGRPCOnly(t *testing.T) {
	cfg := bothProtocols()
	cfg.Protocols.HTTP = nil
	s := newSink()
	r := startReceiver(t, cfg, s.consumers(t, pipeline.SignalLogs))
	if _, h := r.addrs(); h != nil {
		t.Errorf("HTTP is off but listens on %v", h)
	}
	cc := dial(t, r.grpcAddr)
	if _, _, err := grpcExport(testContext(t), cc, payloads(t)[2]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := grpcExport(testContext(t), cc, payloads(t)[0]); status.Code(err) != codes.Unimplemented {
		t.Errorf("unwired traces: %v, want Unimplemented", err)
	}
	// Series exist only for what is served: logs over gRPC.
	if n := testutil.CollectAndCount(r.tel.ReceiverAccepted); n != 1 {
		t.Errorf("%d accepted series, want 1", n)
	}
	if n := testutil.CollectAndCount(r.tel.ReceiverBadRequests); n != 3 {
		t.Errorf("%d bad-request series, want 3 (decode, too_large, memory_limit)", n)
	}
}
