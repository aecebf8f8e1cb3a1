package loadtest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"

	"github.com/outpost-edge/outpost/internal/grpccompress"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clientWire adds up OutPayload.WireLength on the client: what the sink
// must have counted for the same messages.
type clientWire struct{ n atomic.Int64 }

func (c *clientWire) HandleRPC(_ context.Context, st stats.RPCStats) {
	if p, ok := st.(*stats.OutPayload); ok {
		c.n.Add(int64(p.WireLength))
	}
}
func (*clientWire) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (*clientWire) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (*clientWire) HandleConn(context.Context, stats.ConnStats)                       {}

func knownTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 3 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("r", int64(r))
		for s := range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			for range r + s + 1 { // 1+2, 2+3, 3+4 spans: 15
				ss.Spans().AppendEmpty().SetName("span")
			}
		}
	}
	return td
}

func knownMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	g := sm.Metrics().AppendEmpty().SetEmptyGauge()
	g.DataPoints().AppendEmpty()
	g.DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptySum().DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
	sm.Metrics().AppendEmpty().SetName("no points")
	return md // 6 data points
}

func knownLogs() plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for range 4 {
		sl.LogRecords().AppendEmpty().Body().SetStr("a log line that compresses a log line that compresses")
	}
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	return ld // 5 records
}

// TestBenchSinkCounts sends known requests, uncompressed and with each
// compression the collectors use, and checks the sink's exact counts:
// items from the decoded requests, one request per call, and wire bytes
// equal to what gRPC put on the wire at the client (for an uncompressed
// message: its protobuf size plus the 5-byte gRPC message header).
func TestBenchSinkCounts(t *testing.T) {
	grpccompress.Register()
	tb, _ := ptraceotlp.NewExportRequestFromTraces(knownTraces()).MarshalProto()
	mb, _ := pmetricotlp.NewExportRequestFromMetrics(knownMetrics()).MarshalProto()
	lb, _ := plogotlp.NewExportRequestFromLogs(knownLogs()).MarshalProto()
	for _, compression := range []string{"", "gzip", "zstd"} {
		t.Run("compression="+compression, func(t *testing.T) {
			s, err := startBenchSink("")
			if err != nil {
				t.Fatal(err)
			}
			defer s.stop()
			cw := &clientWire{}
			opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithStatsHandler(cw)}
			if compression != "" {
				opts = append(opts, grpc.WithDefaultCallOptions(grpc.UseCompressor(compression)))
			}
			conn, err := grpc.NewClient(s.addr(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for range 2 {
				if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(knownTraces())); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(knownMetrics())); err != nil {
				t.Fatal(err)
			}
			if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(knownLogs())); err != nil {
				t.Fatal(err)
			}
			got := s.snapshot()
			want := sinkCounts{requests: 4, wireBytes: cw.n.Load(), items: [3]int64{sigTraces: 30, sigMetrics: 6, sigLogs: 5}}
			if got != want {
				t.Errorf("sink counted %+v, want %+v", got, want)
			}
			if got.total() != 41 {
				t.Errorf("total %d, want 41", got.total())
			}
			if compression == "" {
				if raw := int64(2*(len(tb)+5) + len(mb) + 5 + len(lb) + 5); got.wireBytes != raw {
					t.Errorf("uncompressed wire bytes %d, want %d", got.wireBytes, raw)
				}
			} else if raw := int64(2*len(tb) + len(mb) + len(lb)); got.wireBytes >= raw {
				t.Errorf("%s: wire bytes %d not below the raw %d", compression, got.wireBytes, raw)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	for _, tc := range []struct {
		d    []time.Duration
		q    float64
		want float64
	}{
		{ms(5, 1, 3, 2, 4), 0.5, 3},
		{ms(5, 1, 3, 2, 4), 0.99, 5},
		{ms(7), 0.99, 7},
		{ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 0.5, 5},
		{ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 0.9, 9},
	} {
		if got := percentile(tc.d, tc.q); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.d, tc.q, got, tc.want)
		}
	}
}

// TestProduceBacklogCounts checks that the backlog producer's acknowledged
// count is what arrives, for each signal, with a total that is not a
// multiple of its request size.
func TestProduceBacklogCounts(t *testing.T) {
	for _, signal := range []string{"traces", "metrics", "logs"} {
		s, err := startBenchSink("")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		acked, refused, err := produceBacklog(ctx, s.addr(), signal, 3, 1234)
		cancel()
		got := s.snapshot()
		s.stop()
		sig, _ := signalIndex(signal)
		if err != nil || acked != 1234 || refused != 0 || got.items[sig] != 1234 || got.total() != 1234 || got.requests != 13 {
			t.Errorf("%s: acked %d, refused %d, %v; sink %+v; want 1234 items in 13 requests", signal, acked, refused, err, got)
		}
	}
}
