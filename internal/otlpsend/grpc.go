package otlpsend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/grpccompress"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// grpcMethod is the OTLP Export method for a signal.
func grpcMethod(sig pipeline.Signal) (string, bool) {
	switch sig {
	case pipeline.SignalTraces:
		return "/opentelemetry.proto.collector.trace.v1.TraceService/Export", true
	case pipeline.SignalMetrics:
		return "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", true
	case pipeline.SignalLogs:
		return "/opentelemetry.proto.collector.logs.v1.LogsService/Export", true
	}
	return "", false
}

const userAgent = "outpost"

// GRPCOptions configure a GRPC transport.
type GRPCOptions struct {
	// Endpoint is the server's host:port.
	Endpoint string
	// TLS secures the connection; nil is plaintext. Build it with
	// clientconfig.TLS.LoadReloading so that rotated files apply at the
	// next handshake.
	TLS *tls.Config
	// Headers are sent as metadata with every call.
	Headers map[string]string
	// Auth, when set, adds the `authorization` metadata of each call.
	Auth *clientconfig.Authorizer
}

// GRPC sends pre-encoded ExportRequests with ClientConn.Invoke. gRPC
// keeps one connection open for as long as it stays up (a new one after
// the server closes it, at its max connection age for instance); TLS files
// changed on disk apply from the next connection. It goes through the
// proxy of HTTPS_PROXY (and NO_PROXY) as grpc-go does by default, which
// reads the environment once per process.
type GRPC struct {
	endpoint string
	creds    credentials.TransportCredentials
	auth     *clientconfig.Authorizer
	md       metadata.MD // shared, read-only
	// Call options by the body's compression: "" sends plain protobuf;
	// gzip and zstd send a precompressed body under that grpc-encoding.
	callOpts map[string][]grpc.CallOption
	conn     atomic.Pointer[grpc.ClientConn]
}

var _ Transport = (*GRPC)(nil)

// NewGRPC returns a transport for o; Start connects it.
func NewGRPC(o GRPCOptions) *GRPC {
	t := &GRPC{endpoint: o.Endpoint, creds: insecure.NewCredentials(), auth: o.Auth}
	if o.TLS != nil {
		t.creds = credentials.NewTLS(o.TLS)
	}
	if len(o.Headers) > 0 {
		t.md = metadata.New(o.Headers) // lower-cases the keys
	}
	// Every compression a stored body may carry is ready, whatever the
	// configuration says now: a queue may hold bodies from an earlier one.
	grpccompress.Register()
	opts := []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})}
	if o.Auth != nil {
		opts = append(opts, grpc.PerRPCCredentials(o.Auth))
	}
	t.callOpts = map[string][]grpc.CallOption{
		"":                opts,
		grpccompress.Gzip: append(slices.Clip(opts), grpc.UseCompressor(grpccompress.Gzip)),
		grpccompress.Zstd: append(slices.Clip(opts), grpc.UseCompressor(grpccompress.Zstd)),
	}
	return t
}

// Start creates the client connection (gRPC connects lazily, at the first
// call).
func (t *GRPC) Start() error {
	conn, err := grpc.NewClient(t.endpoint,
		grpc.WithTransportCredentials(t.creds),
		grpc.WithUserAgent(userAgent),
		grpc.WithStatsHandler(wireStats{}),
	)
	if err != nil {
		return fmt.Errorf("grpc client for %s: %w", t.endpoint, err)
	}
	t.conn.Store(conn)
	return nil
}

// Close closes the connection.
func (t *GRPC) Close() error {
	if conn := t.conn.Swap(nil); conn != nil {
		return conn.Close()
	}
	return nil
}

// Send implements sender.SendFunc.
func (t *GRPC) Send(ctx context.Context, r sender.Request) error {
	opts, ok := t.callOpts[r.Compression]
	if r.Encoding != sender.EncodingProto || !ok {
		return consumererror.NewPermanent(fmt.Errorf("a %s body compressed with %q cannot go over gRPC", r.Encoding, r.Compression))
	}
	conn := t.conn.Load()
	if conn == nil {
		return errors.New("exporter not started, or shut down")
	}
	method, ok := grpcMethod(r.Signal)
	if !ok {
		return consumererror.NewPermanent(fmt.Errorf("unknown signal %q", r.Signal))
	}
	if t.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, t.md)
	}
	var msg any = r.Body
	if r.Compression != "" {
		msg = precompressed(r.Body)
	}
	var resp []byte
	// Nothing on the wire until gRPC reports the message sent (wireStats).
	sender.ReportWireBytes(ctx, 0)
	if err := conn.Invoke(ctx, method, msg, &resp, opts...); err != nil {
		return grpcError(t.endpoint, err)
	}
	return partialSuccess(r, resp, false)
}

// grpcError classifies a failed call (docs/exporters.md has the table).
// It follows the OTLP specification for the codes that say the data is at
// fault or the failure is transient, and keeps the data for the codes
// that say the endpoint is:
//
//   - UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS,
//     CANCELLED: retried (after the server's RetryInfo delay when it gives
//     one); an UNAVAILABLE from a failed TLS handshake or name resolution
//     also blocks the exporter (reason tls or dns);
//   - RESOURCE_EXHAUSTED with RetryInfo: a throttle; without it (the
//     server or grpc-go refusing a message larger than it takes), too
//     large (sender.ErrTooLarge), so the request is sent again in halves;
//   - UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, UNIMPLEMENTED (no such
//     service at this endpoint), UNKNOWN (what grpc-go makes of an HTTP
//     answer of a proxy it does not map): the exporter is blocked, the
//     data kept and retried;
//   - INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, INTERNAL (a
//     server that cannot decode the message) and any other code:
//     permanent.
func grpcError(endpoint string, err error) error {
	st, ok := status.FromError(err)
	werr := fmt.Errorf("export to %s: %w", endpoint, err)
	if !ok {
		return sender.NetError("export to "+endpoint, err) // not from the server: a local or network failure
	}
	retry := func(err error) error {
		if d, ok := retryDelay(st); ok {
			return pipeline.NewThrottle(err, d)
		}
		return err
	}
	switch st.Code() {
	case codes.Unavailable:
		if reason, ok := connBlockedReason(st.Message()); ok {
			return sender.NewBlocked(reason, retry(werr))
		}
		return retry(werr)
	case codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.DataLoss, codes.Canceled:
		// Canceled is retried: if our own context was cancelled the Sender
		// sees it and stops; otherwise it came from the far side or a proxy.
		return retry(werr)
	case codes.ResourceExhausted:
		if d, ok := retryDelay(st); ok {
			return pipeline.NewThrottle(werr, d)
		}
		return consumererror.NewPermanent(&sender.ReasonError{Reason: sender.ReasonTooLarge, Err: fmt.Errorf("%w: %w", sender.ErrTooLarge, werr)})
	case codes.Unauthenticated:
		return sender.NewBlocked(sender.BlockedUnauthorized, retry(werr))
	case codes.PermissionDenied:
		return sender.NewBlocked(sender.BlockedForbidden, retry(werr))
	case codes.NotFound, codes.Unimplemented:
		return sender.NewBlocked(sender.BlockedNotFound, retry(werr))
	case codes.Unknown:
		return sender.NewBlocked(sender.BlockedUnexpectedStatus, retry(werr))
	}
	return consumererror.NewPermanent(werr)
}

// connBlockedReason names, for an UNAVAILABLE status that grpc-go made
// from a failed connection, whether it failed at the TLS handshake or at
// name resolution. grpc-go keeps only the text of those errors, so the
// text decides the label; whether to retry is decided by the code alone.
func connBlockedReason(msg string) (string, bool) {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "authentication handshake failed"), strings.Contains(m, "tls:"), strings.Contains(m, "x509:"):
		return sender.BlockedTLS, true
	case strings.Contains(m, "name resolver error"), strings.Contains(m, "produced zero addresses"), strings.Contains(m, "no such host"):
		return sender.BlockedDNS, true
	case strings.Contains(m, "per-rpc creds failed"):
		return sender.BlockedCredentials, true
	}
	return "", false
}

// retryDelay returns the delay of a google.rpc.RetryInfo detail.
func retryDelay(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay := ri.GetRetryDelay().AsDuration()
			return max(delay, 0), true
		}
	}
	return 0, false
}

// rawCodec passes already-encoded protobuf through gRPC: Marshal takes the
// []byte body as is, and Unmarshal hands back the response bytes for
// partialSuccess to decode. Its name is "proto", so the server sees
// application/grpc+proto and decodes with its usual codec; it is only ever
// used through ForceCodecV2 on our calls, never registered.
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch b := v.(type) {
	case []byte:
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	case precompressed:
		return grpccompress.Precompressed(b), nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

// precompressed is a body already compressed with the call's compressor.
type precompressed []byte

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*p = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// wireStats reports each request's compressed size to the Sender, so that
// outpost_exporter_sent_bytes_total counts what went on the wire.
type wireStats struct{}

func (wireStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (wireStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.OutPayload); ok {
		sender.ReportWireBytes(ctx, p.WireLength)
	}
}

func (wireStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (wireStats) HandleConn(context.Context, stats.ConnStats) {}
