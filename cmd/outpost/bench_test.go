package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/testutil"
	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
	"github.com/outpost-edge/outpost/pipeline"
)

func benchTraces(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "line-3-plc")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("bench")
	now := time.Now()
	for i := 0; i < n; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("GET /cart")
		s.SetTraceID([16]byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		s.SetSpanID([8]byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(now))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Microsecond)))
		s.Attributes().PutStr("http.method", "GET")
		s.Attributes().PutInt("http.status_code", 200)
		s.Attributes().PutStr("http.url", fmt.Sprintf("https://shop.example/cart/%d", i))
	}
	return td
}

// BenchmarkPipelineTraces measures the whole in-process path with the real
// components: OTLP/gRPC decode in the receiver → batch → OTLP/gRPC encode
// and zstd compression in the exporter → an OTLP sink on loopback. Each op
// is one 1000-span request, sent by several concurrent clients.
func BenchmarkPipelineTraces(b *testing.B) {
	for _, compression := range []string{"none", "zstd", "gzip"} {
		b.Run(compression, func(b *testing.B) {
			sink := otlpsink.StartWith(b, otlpsink.Options{})
			recv := testutil.FreeAddr(b)
			cfg, err := configs.Parse("bench.yaml", []byte(fmt.Sprintf(`
receivers: {otlp: {protocols: {grpc: {endpoint: %s}}}}
processors: {batch: {send_batch_size: 8192}}
exporters: {otlp: {endpoint: %s, tls: {insecure: true}, compression: %s}}
service: {pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}}}
`, recv, sink.GRPCAddr(), compression)), components(), func(string) (string, bool) { return "", false })
			if err != nil {
				b.Fatal(err)
			}
			g, err := pipeline.Build(context.Background(), cfg.Graph, pipeline.BuildSettings{
				Factories: components(), Telemetry: selftelemetry.New(), StorageDir: b.TempDir(),
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := g.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer g.Shutdown(context.Background())
			conn, err := grpc.NewClient(recv, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := ptraceotlp.NewGRPCClient(conn)
			req := ptraceotlp.NewExportRequestFromTraces(benchTraces(1000))
			body, _ := req.MarshalProto()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.Export(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(sink.Spans())/time.Since(start).Seconds(), "spans/s")
		})
	}
}
