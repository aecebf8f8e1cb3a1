package loadtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/outpost-edge/outpost/internal/grpccompress"
)

// benchSink is the OTLP/gRPC server that both outpost and the Collector
// export to in the side-by-side runs. It is deliberately plain: pdata's own
// gRPC services (what any OTLP backend built on the Collector's libraries
// runs), gzip and zstd decompression, no retention. It counts exactly:
//
//   - requests: Export calls that reached a handler, one per signal;
//   - items: spans, data points and log records of the decoded requests
//     (pdata's SpanCount, DataPointCount, LogRecordCount);
//   - wire bytes: the sum over received messages of gRPC's
//     stats.InPayload.WireLength on the server: the message as it crossed
//     the wire, compressed, with gRPC's 5-byte message header, without
//     HTTP/2 framing.
//
// Counters only grow; read them with snapshot and subtract.
type benchSink struct {
	ln  net.Listener
	srv *grpc.Server

	requests, wireBytes atomic.Int64
	items               [3]atomic.Int64 // by signalIndex

	stopOnce sync.Once
	served   chan struct{}
}

// sinkCounts is a reading of a benchSink's counters.
type sinkCounts struct {
	requests, wireBytes int64
	items               [3]int64
}

func (c sinkCounts) sub(o sinkCounts) sinkCounts {
	d := sinkCounts{requests: c.requests - o.requests, wireBytes: c.wireBytes - o.wireBytes}
	for i := range c.items {
		d.items[i] = c.items[i] - o.items[i]
	}
	return d
}

// total is the items of all signals.
func (c sinkCounts) total() int64 { return c.items[0] + c.items[1] + c.items[2] }

const (
	sigTraces = iota
	sigMetrics
	sigLogs
)

func signalIndex(signal string) (int, error) {
	switch signal {
	case "traces":
		return sigTraces, nil
	case "metrics":
		return sigMetrics, nil
	case "logs":
		return sigLogs, nil
	}
	return 0, fmt.Errorf("unknown signal %q (want traces, metrics or logs)", signal)
}

// startBenchSink listens on addr ("" or "127.0.0.1:0" for a free port) and
// serves until stop.
func startBenchSink(addr string) (*benchSink, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	grpccompress.Register() // zstd and gzip decompressors
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench sink: listen on %s: %w", addr, err)
	}
	s := &benchSink{ln: ln, served: make(chan struct{})}
	s.srv = grpc.NewServer(
		grpc.MaxRecvMsgSize(256<<20),
		grpc.StatsHandler(sinkStats{s}),
	)
	ptraceotlp.RegisterGRPCServer(s.srv, &traceService{s: s})
	pmetricotlp.RegisterGRPCServer(s.srv, &metricService{s: s})
	plogotlp.RegisterGRPCServer(s.srv, &logService{s: s})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// addr is the sink's host:port.
func (s *benchSink) addr() string { return s.ln.Addr().String() }

// stop closes the listener and every connection at once and waits for the
// server to end. It is idempotent.
func (s *benchSink) stop() {
	s.stopOnce.Do(func() {
		s.srv.Stop()
		<-s.served
	})
}

func (s *benchSink) snapshot() sinkCounts {
	c := sinkCounts{requests: s.requests.Load(), wireBytes: s.wireBytes.Load()}
	for i := range c.items {
		c.items[i] = s.items[i].Load()
	}
	return c
}

func (s *benchSink) count(sig, n int) {
	s.items[sig].Add(int64(n))
	s.requests.Add(1)
}

type traceService struct {
	ptraceotlp.UnimplementedGRPCServer
	s *benchSink
}

func (t *traceService) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	t.s.count(sigTraces, req.Traces().SpanCount())
	return ptraceotlp.NewExportResponse(), nil
}

type metricService struct {
	pmetricotlp.UnimplementedGRPCServer
	s *benchSink
}

func (m *metricService) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	m.s.count(sigMetrics, req.Metrics().DataPointCount())
	return pmetricotlp.NewExportResponse(), nil
}

type logService struct {
	plogotlp.UnimplementedGRPCServer
	s *benchSink
}

func (l *logService) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	l.s.count(sigLogs, req.Logs().LogRecordCount())
	return plogotlp.NewExportResponse(), nil
}

// sinkStats adds up the wire length of every message the server receives.
type sinkStats struct{ s *benchSink }

func (h sinkStats) HandleRPC(_ context.Context, st stats.RPCStats) {
	if p, ok := st.(*stats.InPayload); ok {
		h.s.wireBytes.Add(int64(p.WireLength))
	}
}

func (sinkStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (sinkStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (sinkStats) HandleConn(context.Context, stats.ConnStats) {}
