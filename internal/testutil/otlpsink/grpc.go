package otlpsink

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/pipeline"
)

// The OTLP gRPC services are registered by hand, with a codec that hands
// the handler the raw request bytes: the sink then decodes with pdata only
// when it must (see receive), and the bytes come from its buffer pool.
func (s *Sink) registerGRPC() {
	for _, svc := range []struct {
		name string
		sig  pipeline.Signal
	}{
		{"opentelemetry.proto.collector.trace.v1.TraceService", pipeline.SignalTraces},
		{"opentelemetry.proto.collector.metrics.v1.MetricsService", pipeline.SignalMetrics},
		{"opentelemetry.proto.collector.logs.v1.LogsService", pipeline.SignalLogs},
	} {
		s.grpcSrv.RegisterService(&grpc.ServiceDesc{
			ServiceName: svc.name,
			HandlerType: (*any)(nil),
			Methods:     []grpc.MethodDesc{{MethodName: "Export", Handler: s.grpcExport(svc.sig)}},
		}, s)
	}
}

func (s *Sink) grpcExport(sig pipeline.Signal) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		buf := s.getBuf()
		defer s.putBuf(buf)
		if err := dec(buf); err != nil {
			return nil, err
		}
		info := RequestInfo{Transport: TransportGRPC, Signal: sig, Encoding: "proto"}
		if ri, ok := ctx.Value(rpcInfoKey{}).(*rpcInfo); ok {
			info.Compression, info.WireBytes = ri.compression, ri.wireBytes
			if s.keepRequests() {
				info.Headers = ri.header
			}
		}
		if info.Headers == nil && s.keepRequests() {
			md, _ := metadata.FromIncomingContext(ctx)
			info.Headers = md
		}
		var authorization string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("authorization"); len(v) > 0 {
				authorization = v[0]
			}
		}
		resp, f, err := s.receive(&info, authorization, *buf, false)
		switch {
		case err != nil:
			return nil, status.Errorf(codes.InvalidArgument, "otlpsink: decode: %v", err)
		case f != nil:
			return nil, f.status().Err()
		}
		return resp, nil
	}
}

// rawCodec moves request and response bodies as bytes: Unmarshal appends
// the request to a *[]byte, Marshal sends a []byte as is. Named "proto", it
// serves application/grpc+proto, what every OTLP client sends.
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("otlpsink codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("otlpsink codec: cannot unmarshal into %T", v)
	}
	b := (*p)[:0]
	for _, buf := range data {
		b = append(b, buf.ReadOnlyData()...)
	}
	*p = b
	return nil
}

func (rawCodec) Name() string { return "proto" }

// rpcStats records, per RPC, what the handler cannot see: the compression
// the client used and the size of the message as it arrived.
type rpcStats struct{}

type rpcInfoKey struct{}

type rpcInfo struct {
	compression string
	header      metadata.MD
	wireBytes   int
}

func (rpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcInfoKey{}, &rpcInfo{})
}

func (rpcStats) HandleRPC(ctx context.Context, st stats.RPCStats) {
	ri, ok := ctx.Value(rpcInfoKey{}).(*rpcInfo)
	if !ok {
		return
	}
	switch st := st.(type) {
	case *stats.InHeader:
		if st.Compression != "identity" {
			ri.compression = st.Compression
		}
		ri.header = st.Header
	case *stats.InPayload:
		ri.wireBytes = st.CompressedLength
	}
}

func (rpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (rpcStats) HandleConn(context.Context, stats.ConnStats) {}
