package loadtest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
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

// maxProbeSamples bounds the latencies a probe keeps (at the default 50 ms
// interval, 14 minutes of them); later calls are made but not recorded.
const maxProbeSamples = 1 << 14

// probe is an OTLP/gRPC client on pdata's official clients (ptraceotlp,
// pmetricotlp, plogotlp) that sends one-item requests of one signal, one at
// a time, every interval, and records how long each Export call took until
// the collector acknowledged it: the latency an application's SDK sees.
type probe struct {
	conn   *grpc.ClientConn
	export func(context.Context) error

	mu      sync.Mutex
	samples []time.Duration
	failed  int
	sent    int // acknowledged one-item requests

	cancel context.CancelFunc
	done   chan struct{}
}

func newProbe(addr, signal string) (*probe, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("probe: dial %s: %w", addr, err)
	}
	p := &probe{conn: conn, samples: make([]time.Duration, 0, 1024)}
	now := pcommon.NewTimestampFromTime(time.Now())
	switch signal {
	case "traces":
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "outpost-bench-probe")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName("probe")
		sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
		sp.SetStartTimestamp(now)
		sp.SetEndTimestamp(now)
		req, c := ptraceotlp.NewExportRequestFromTraces(td), ptraceotlp.NewGRPCClient(conn)
		p.export = func(ctx context.Context) error { _, err := c.Export(ctx, req); return err }
	case "metrics":
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "outpost-bench-probe")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("probe")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetIntValue(1)
		req, c := pmetricotlp.NewExportRequestFromMetrics(md), pmetricotlp.NewGRPCClient(conn)
		p.export = func(ctx context.Context) error { _, err := c.Export(ctx, req); return err }
	case "logs":
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "outpost-bench-probe")
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.Body().SetStr("probe")
		req, c := plogotlp.NewExportRequestFromLogs(ld), plogotlp.NewGRPCClient(conn)
		p.export = func(ctx context.Context) error { _, err := c.Export(ctx, req); return err }
	default:
		conn.Close()
		return nil, fmt.Errorf("probe: unknown signal %q", signal)
	}
	return p, nil
}

// once sends one request and returns its error; a success counts in sent
// and, when record is set, in the samples.
func (p *probe) once(ctx context.Context, record bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t0 := time.Now()
	err := p.export(ctx)
	d := time.Since(t0)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if record {
			p.failed++
		}
		return err
	}
	p.sent++
	if record && len(p.samples) < maxProbeSamples {
		p.samples = append(p.samples, d)
	}
	return nil
}

// waitReady sends requests until one is acknowledged or the timeout
// passes: the collector's receiver and pipeline are up.
func (p *probe) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := p.once(ctx, false)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no acknowledgement within %s: %w", timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// start sends a request every interval (the next one waits for the
// previous answer) until stop.
func (p *probe) start(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = p.once(ctx, true)
			}
		}
	}()
}

// stop ends the sending started by start and returns the latencies of the
// acknowledged calls and the number of failed ones.
func (p *probe) stop() ([]time.Duration, int) {
	if p.cancel != nil {
		p.cancel()
		<-p.done
		p.cancel = nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.samples...), p.failed
}

// acknowledged is the number of one-item requests the collector accepted.
func (p *probe) acknowledged() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

func (p *probe) close() { _ = p.conn.Close() }

// percentile is the nearest-rank q-quantile (0 < q ≤ 1) of d in
// milliseconds; NaN when d is empty. It sorts d.
func percentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	i := int(math.Ceil(q*float64(len(d)))) - 1
	i = max(0, min(i, len(d)-1))
	return float64(d[i]) / float64(time.Millisecond)
}
