package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// backlogBatch is the items per request of the backlog producer:
// telemetrygen's default batch size, the shape of load a.
const backlogBatch = 100

// produceBacklog sends total items of signal to addr in requests of
// backlogBatch items shaped like telemetrygen's (see genRequest), from
// workers goroutines, each waiting for its previous acknowledgement, as
// fast as the collector acknowledges them. A refused request is sent again
// after 100 ms, as an SDK's retry would. It returns the items acknowledged
// (exactly: the harness, unlike telemetrygen's trace SDK, never drops an
// item on its side) and the refused calls.
//
// The harness produces the backlog itself, not with telemetrygen, because
// telemetrygen's trace generator goes through the OpenTelemetry SDK's batch
// span processor, which drops spans when its queue is full: run flat out,
// the count acknowledged by the collector would be unknown, and so would
// what the drain must deliver.
func produceBacklog(ctx context.Context, addr, signal string, workers int, total int64) (acked, refused int64, err error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, 0, fmt.Errorf("backlog producer: dial %s: %w", addr, err)
	}
	defer conn.Close()
	var export func(context.Context, *rand.Rand, int) error
	switch signal {
	case "traces":
		c := ptraceotlp.NewGRPCClient(conn)
		export = func(ctx context.Context, r *rand.Rand, n int) error {
			_, err := c.Export(ctx, ptraceotlp.NewExportRequestFromTraces(genTraces(r, n)))
			return err
		}
	case "metrics":
		c := pmetricotlp.NewGRPCClient(conn)
		export = func(ctx context.Context, _ *rand.Rand, n int) error {
			_, err := c.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(genMetrics(n)))
			return err
		}
	case "logs":
		c := plogotlp.NewGRPCClient(conn)
		export = func(ctx context.Context, _ *rand.Rand, n int) error {
			_, err := c.Export(ctx, plogotlp.NewExportRequestFromLogs(genLogs(n)))
			return err
		}
	default:
		return 0, 0, fmt.Errorf("backlog producer: unknown signal %q", signal)
	}
	var next, done, failed atomic.Int64 // items claimed, acknowledged; refused calls
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				end := next.Add(backlogBatch)
				n := int(min(backlogBatch, total-(end-backlogBatch)))
				if n <= 0 {
					return
				}
				for {
					if ctx.Err() != nil {
						errOnce.Do(func() { firstErr = ctx.Err() })
						return
					}
					cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err := export(cctx, r, n)
					cancel()
					if err == nil {
						done.Add(int64(n))
						break
					}
					failed.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return done.Load(), failed.Load(), fmt.Errorf("backlog producer: %d of %d items acknowledged: %w", done.Load(), total, firstErr)
	}
	return done.Load(), failed.Load(), nil
}

// genTraces makes n spans the way telemetrygen's trace generator does by
// default: traces of a client span "lets-go" and its server child
// "okey-dokey-0", 123 µs each, with the same attributes, random IDs, under
// one resource (service.name telemetrygen) and scope.
func genTraces(r *rand.Rand, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("telemetrygen")
	spans := ss.Spans()
	spans.EnsureCapacity(n)
	start := time.Now()
	var parent pcommon.SpanID
	var tid pcommon.TraceID
	for i := range n {
		sp := spans.AppendEmpty()
		var sid pcommon.SpanID
		putRandom(r, sid[:])
		end := start.Add(123 * time.Microsecond)
		if i%2 == 0 {
			putRandom(r, tid[:])
			parent = sid
			sp.SetName("lets-go")
			sp.SetKind(ptrace.SpanKindClient)
			sp.Attributes().PutStr("network.peer.address", "1.2.3.4")
			sp.Attributes().PutStr("peer.service", "telemetrygen-server")
		} else {
			sp.SetParentSpanID(parent)
			sp.SetName("okey-dokey-0")
			sp.SetKind(ptrace.SpanKindServer)
			sp.Attributes().PutStr("network.peer.address", "1.2.3.4")
			sp.Attributes().PutStr("peer.service", "telemetrygen-client")
		}
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
	return td
}

func putRandom(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// genMetrics makes n gauge metrics "gen" of one data point each, as
// telemetrygen's metrics generator does by default.
func genMetrics(n int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := range n {
		m := ms.AppendEmpty()
		m.SetName("gen")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(now)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(i))
	}
	return md
}

// genLogs makes n log records as telemetrygen's logs generator does by
// default: body "the message", severity Info, attribute app=server.
func genLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "telemetrygen")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := pcommon.NewTimestampFromTime(time.Now())
	for range n {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetObservedTimestamp(now)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("Info")
		lr.Body().SetStr("the message")
		lr.Attributes().PutStr("app", "server")
		lr.SetDroppedAttributesCount(1)
	}
	return ld
}
