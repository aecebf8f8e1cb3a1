package otlpreceiver

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// The OTLP/gRPC services. We describe them ourselves rather than register
// pdata's p*otlp servers: their generated handlers decode the request
// inside gRPC, so a malformed message would be answered INTERNAL and never
// seen, let alone counted. Here the handler gets the raw message bytes (see
// rawCodec), decodes them once with pdata, and answers INVALID_ARGUMENT.
var (
	traceServiceDesc = exportServiceDesc(
		"opentelemetry.proto.collector.trace.v1.TraceService",
		"opentelemetry/proto/collector/trace/v1/trace_service.proto")
	metricsServiceDesc = exportServiceDesc(
		"opentelemetry.proto.collector.metrics.v1.MetricsService",
		"opentelemetry/proto/collector/metrics/v1/metrics_service.proto")
	logsServiceDesc = exportServiceDesc(
		"opentelemetry.proto.collector.logs.v1.LogsService",
		"opentelemetry/proto/collector/logs/v1/logs_service.proto")
)

// grpcExporter is the server implementation registered for one service.
type grpcExporter interface {
	// admitRecv charges the memory limit for receiving one request
	// message, before gRPC reads it; see handler.admitRecv.
	admitRecv(ctx context.Context) (*memlimit.Charge, error)
	// recvFailed maps an error from receiving the request message.
	recvFailed(err error) error
	exportGRPC(ctx context.Context, req *grpcRequest) (*grpcResponse, error)
}

func exportServiceDesc(service, file string) *grpc.ServiceDesc {
	fullMethod := "/" + service + "/Export"
	return &grpc.ServiceDesc{
		ServiceName: service,
		HandlerType: (*grpcExporter)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Export",
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				e := srv.(grpcExporter)
				charge, err := e.admitRecv(ctx)
				if err != nil {
					return nil, err
				}
				// Held until the pipeline has answered, whatever an
				// interceptor does with the request.
				defer charge.Release()
				req := &grpcRequest{charge: charge}
				if err := dec(req); err != nil {
					return nil, e.recvFailed(err)
				}
				if interceptor == nil {
					return e.exportGRPC(ctx, req)
				}
				info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
				return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
					return e.exportGRPC(ctx, req.(*grpcRequest))
				})
			},
		}},
		Metadata: file,
	}
}

// grpcRequest holds a request message as received, still encoded, and its
// charge against the memory limit.
type grpcRequest struct {
	body   mem.Buffer
	charge *memlimit.Charge
}

// grpcResponse holds a response message, already encoded.
type grpcResponse struct {
	body []byte
}

// emptyResponse is the encoding of a response without partial success:
// no bytes at all.
var emptyResponse = &grpcResponse{}

// rawCodec passes request and response messages through as bytes, so that
// decoding happens once, in the handler, where its errors can be answered
// and counted. Other messages go to the proto codec.
type rawCodec struct {
	delegate encoding.CodecV2
}

func (c rawCodec) Name() string { return grpcproto.Name }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*grpcResponse); ok {
		if len(r.body) == 0 {
			return nil, nil
		}
		return mem.BufferSlice{mem.SliceBuffer(r.body)}, nil
	}
	return c.delegate.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*grpcRequest); ok {
		// gRPC frees data when we return; this keeps (a reference to) it
		// until the handler has decoded it. A message that arrived in one
		// buffer is not copied.
		r.body = data.MaterializeToBuffer(mem.DefaultBufferPool())
		return nil
	}
	return c.delegate.Unmarshal(data, v)
}

// grpcWindow is the receiver's HTTP/2 flow-control window of a stream
// and of a connection: what a client may send ahead of what the receiver
// has read, so also the most a connection buffers.
const grpcWindow = 1 << 20

func (r *receiver) newGRPCServer() *grpc.Server {
	g := r.cfg.Protocols.GRPC
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{delegate: encoding.GetCodecV2(grpcproto.Name)}),
		grpc.MaxRecvMsgSize(int(g.MaxRecvMsgSize)),
		// Streams run on GOMAXPROCS long-lived workers (grpc-go starts a
		// goroutine for a stream only when all are busy) instead of a new
		// goroutine each, whose stack grows again while decoding: under
		// many small requests (telemetrygen's defaults) outpost's CPU per
		// span fell from a median of 13.19 to 12.07 µs (7 alternating runs
		// each, the side-by-side load a).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		// Fixed flow-control windows of grpcWindow: grpc-go then runs no
		// BDP estimator (its PINGs, and the window it may grow to 16 MiB
		// a connection), and a client's stream of ~15 KB requests costs a
		// connection WINDOW_UPDATE every 256 KiB instead of about one a
		// request: the CPU per span fell from a median of 12.91 to 11.91
		// µs (3 alternating runs each, side-by-side load a, traces).
		grpc.InitialWindowSize(grpcWindow),
		grpc.InitialConnWindowSize(grpcWindow),
	}
	if g.MaxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(g.MaxConcurrentStreams))
	}
	if k := g.Keepalive; k != nil {
		if p := k.ServerParameters; p != nil {
			opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{
				MaxConnectionIdle:     p.MaxConnectionIdle,
				MaxConnectionAge:      p.MaxConnectionAge,
				MaxConnectionAgeGrace: p.MaxConnectionAgeGrace,
				Time:                  p.Time,
				Timeout:               p.Timeout,
			}))
		}
		if p := k.EnforcementPolicy; p != nil {
			opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
				MinTime:             p.MinTime,
				PermitWithoutStream: p.PermitWithoutStream,
			}))
		}
	}
	opts = append(opts, r.grpcSec.GRPCServerOptions(r.grpcDenied)...)
	s := grpc.NewServer(opts...)
	// Only wired signals: the others answer UNIMPLEMENTED.
	if r.traces != nil {
		s.RegisterService(traceServiceDesc, r.traces)
	}
	if r.metrics != nil {
		s.RegisterService(metricsServiceDesc, r.metrics)
	}
	if r.logs != nil {
		s.RegisterService(logsServiceDesc, r.logs)
	}
	return s
}

func (h *handler[T]) recvFailed(err error) error {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded:
		// The client gave up; not its request's fault.
		return err
	case codes.ResourceExhausted:
		// Over max_recv_msg_size. Without RetryInfo, OTLP clients do not
		// retry it.
		h.grpc.badTooLarge.Inc()
		h.rcv.limitedLog.Warn("grpc/"+reasonTooLarge, "refused an OTLP/gRPC request over max_recv_msg_size",
			"signal", h.def.signal, "error", err)
		return err
	default:
		// Undecompressable or truncated message.
		h.grpc.badDecode.Inc()
		h.rcv.limitedLog.Warn("grpc/"+reasonDecode, "refused an undecodable OTLP/gRPC request",
			"signal", h.def.signal, "error", err)
		return status.Error(codes.InvalidArgument, status.Convert(err).Message())
	}
}

func (h *handler[T]) exportGRPC(ctx context.Context, req *grpcRequest) (*grpcResponse, error) {
	var body []byte
	if req.body != nil {
		body = req.body.ReadOnlyData()
	}
	// From the worst case of receiving to what decoding the message takes;
	// the bytes stay charged until the pipeline has answered (the caller
	// releases them).
	if err := req.charge.Resize(int64(len(body)) * memlimit.Expansion); err != nil {
		if req.body != nil {
			req.body.Free()
			req.body = nil
		}
		return nil, h.memoryRefusal(err)
	}
	data, err := h.def.unmarshal(body, formatProto)
	if req.body != nil {
		req.body.Free()
		req.body = nil
	}
	if err != nil {
		h.grpc.badDecode.Inc()
		h.rcv.limitedLog.Warn("grpc/"+reasonDecode, "refused an undecodable OTLP/gRPC request",
			"signal", h.def.signal, "error", err)
		return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("decode %s request: %v", h.def.signal, err))
	}
	o := h.export(ctx, data, h.grpc)
	switch o.kind {
	case outcomeAccepted:
		return emptyResponse, nil
	case outcomePartial:
		b, err := h.partialResponse(o, formatProto)
		if err != nil {
			return nil, status.Error(codes.Internal, fmt.Sprintf("encode response: %v", err))
		}
		return &grpcResponse{body: b}, nil
	default:
		return nil, o.status().Err()
	}
}

// admitRecv charges the memory limit for receiving one message, before
// gRPC reads it: gRPC reads a whole message before the handler sees it, so
// the charge is the worst case of receiving, three times the largest
// message (the compressed message, its decompressed pieces, and the one
// contiguous copy the handler decodes from), or the whole capacity when
// that is less. While the limit is taken, the request waits for room, at
// most memoryRetryAfter and never past the client's deadline, holding no
// bytes, and is then refused with RESOURCE_EXHAUSTED and RetryInfo. Once
// received, exportGRPC brings the charge to the message's decoded size.
func (h *handler[T]) admitRecv(ctx context.Context) (*memlimit.Charge, error) {
	mem := h.rcv.memory
	capacity := mem.Capacity()
	if capacity == 0 {
		return nil, nil // unlimited: a nil Charge charges nothing
	}
	n := min(3*int64(h.rcv.cfg.Protocols.GRPC.MaxRecvMsgSize), capacity)
	wctx, cancel := context.WithTimeout(ctx, memoryRetryAfter)
	defer cancel()
	charge, err := mem.AdmitWait(wctx, n)
	if err != nil {
		return nil, h.memoryRefusal(err)
	}
	return charge, nil
}

// memoryRefusal counts, logs (rate-limited) and maps a refused charge: at
// the limit, RESOURCE_EXHAUSTED with RetryInfo; too large for the limit
// whatever else is in flight, RESOURCE_EXHAUSTED without RetryInfo, as a
// message over max_recv_msg_size.
func (h *handler[T]) memoryRefusal(err error) error {
	if errors.Is(err, memlimit.ErrTooLarge) {
		h.grpc.badTooLarge.Inc()
		h.rcv.limitedLog.Warn("grpc/"+reasonTooLarge, "refused an OTLP/gRPC request too large for memory_limit",
			"signal", h.def.signal, "error", err)
		return status.Error(codes.ResourceExhausted, memlimit.ErrTooLarge.Error())
	}
	h.grpc.badMemory.Inc()
	h.rcv.limitedLog.Info("grpc/"+reasonMemoryLimit, "refused a request at the memory limit; the client is asked to retry",
		"signal", h.def.signal, "error", err)
	return memoryLimitStatus(memoryRetryAfter).Err()
}

// grpcDenied counts and logs (rate-limited) a call refused for its
// credentials, under the signal its method serves.
func (r *receiver) grpcDenied(ctx context.Context, fullMethod string, err error) {
	var c *counters
	var signal string
	switch {
	case r.traces != nil && strings.HasPrefix(fullMethod, "/"+traceServiceDesc.ServiceName+"/"):
		c, signal = r.traces.grpc, string(r.traces.def.signal)
	case r.metrics != nil && strings.HasPrefix(fullMethod, "/"+metricsServiceDesc.ServiceName+"/"):
		c, signal = r.metrics.grpc, string(r.metrics.def.signal)
	case r.logs != nil && strings.HasPrefix(fullMethod, "/"+logsServiceDesc.ServiceName+"/"):
		c, signal = r.logs.grpc, string(r.logs.def.signal)
	}
	if c != nil {
		c.badAuth.Inc()
	}
	args := []any{"signal", signal, "method", fullMethod, "error", err}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		args = append(args, "peer", p.Addr.String())
	}
	r.limitedLog.Warn("grpc/"+reasonUnauthenticated, "refused an OTLP/gRPC call without valid credentials", args...)
}
