package debugexporter

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

// signalCounters are one signal's metric series, bound once at creation.
type signalCounters struct {
	sent      prometheus.Counter
	sentBytes prometheus.Counter
	failed    prometheus.Counter // reason "write"
}

type exporter struct {
	verbosity Verbosity
	logger    *slog.Logger
	now       func() time.Time

	// out is the stream written to, or nil to write through logger. outMu
	// keeps one batch's lines together when consumers run concurrently.
	out   io.Writer
	outMu sync.Mutex

	traces, metrics, logs signalBranch
}

// signalBranch is what the exporter keeps per signal: each signal is sampled
// on its own, so a flood of one does not hide the others.
type signalBranch struct {
	sampler  *sampler
	counters signalCounters
}

func newExporter(set pipeline.Settings, cfg *Config, out io.Writer) *exporter {
	e := &exporter{
		verbosity: cfg.Verbosity,
		logger:    set.Logger,
		now:       time.Now,
		out:       out,
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New() // counted, but seen by nobody
	}
	branch := func(sig pipeline.Signal) signalBranch {
		id, s := set.ID.String(), string(sig)
		return signalBranch{
			sampler: &sampler{initial: cfg.SamplingInitial, thereafter: cfg.SamplingThereafter},
			counters: signalCounters{
				sent:      tel.ExporterSent.WithLabelValues(id, s),
				sentBytes: tel.ExporterSentBytes.WithLabelValues(id, s),
				failed:    tel.ExporterFailed.WithLabelValues(id, s, "write"),
			},
		}
	}
	e.traces = branch(pipeline.SignalTraces)
	e.metrics = branch(pipeline.SignalMetrics)
	e.logs = branch(pipeline.SignalLogs)
	return e
}

func (e *exporter) Start(context.Context, pipeline.Host) error { return nil }

func (e *exporter) Shutdown(context.Context) error { return nil }

// Capabilities implements the consumer interfaces: the exporter only reads.
func (e *exporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (e *exporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	spans := td.SpanCount()
	if !e.traces.sampler.allow(e.now()) {
		e.traces.counters.sent.Add(float64(spans))
		return nil
	}
	attrs := []slog.Attr{
		slog.Int("resource_spans", td.ResourceSpans().Len()),
		slog.Int("spans", spans),
	}
	var body []byte
	switch e.verbosity {
	case VerbosityNormal:
		body = appendTracesNormal(nil, td)
	case VerbosityDetailed:
		body = appendTracesDetailed(nil, td)
	}
	e.emit(ctx, "Traces", attrs, body, spans, &e.traces.counters)
	return nil
}

func (e *exporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	points := md.DataPointCount()
	if !e.metrics.sampler.allow(e.now()) {
		e.metrics.counters.sent.Add(float64(points))
		return nil
	}
	attrs := []slog.Attr{
		slog.Int("resource_metrics", md.ResourceMetrics().Len()),
		slog.Int("metrics", md.MetricCount()),
		slog.Int("data_points", points),
	}
	var body []byte
	switch e.verbosity {
	case VerbosityNormal:
		body = appendMetricsNormal(nil, md)
	case VerbosityDetailed:
		body = appendMetricsDetailed(nil, md)
	}
	e.emit(ctx, "Metrics", attrs, body, points, &e.metrics.counters)
	return nil
}

func (e *exporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	records := ld.LogRecordCount()
	if !e.logs.sampler.allow(e.now()) {
		e.logs.counters.sent.Add(float64(records))
		return nil
	}
	attrs := []slog.Attr{
		slog.Int("resource_logs", ld.ResourceLogs().Len()),
		slog.Int("log_records", records),
	}
	var body []byte
	switch e.verbosity {
	case VerbosityNormal:
		body = appendLogsNormal(nil, ld)
	case VerbosityDetailed:
		body = appendLogsDetailed(nil, ld)
	}
	e.emit(ctx, "Logs", attrs, body, records, &e.logs.counters)
	return nil
}

// emit writes one batch: through the logger as a single record (the body,
// if any, in its "data" attribute), or to the stream as a header line
// followed by the body.
//
// A write error on the stream is counted and otherwise ignored: debug
// output is best effort, and returning an error would make the sender retry
// the batch into every other exporter of the pipeline.
func (e *exporter) emit(ctx context.Context, msg string, attrs []slog.Attr, body []byte, items int, c *signalCounters) {
	if e.out == nil {
		if len(body) > 0 {
			attrs = append(attrs, slog.String("data", string(body)))
		}
		e.logger.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
		c.sent.Add(float64(items))
		return
	}
	buf := make([]byte, 0, 128+len(body))
	buf = e.now().UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z07:00")
	buf = append(buf, ' ')
	buf = append(buf, msg...)
	for _, a := range attrs {
		buf = append(buf, ' ')
		buf = append(buf, a.Key...)
		buf = append(buf, '=')
		buf = append(buf, a.Value.String()...)
	}
	buf = append(buf, '\n')
	buf = append(buf, body...)
	e.outMu.Lock()
	n, err := e.out.Write(buf)
	e.outMu.Unlock()
	c.sentBytes.Add(float64(n))
	if err != nil {
		c.failed.Add(float64(items))
		return
	}
	c.sent.Add(float64(items))
}

// sampler decides which batches are written: in each wall-clock second the
// first initial batches, then every thereafter-th (none if it is 0). It is
// the Collector's log sampling, applied per batch and per signal.
type sampler struct {
	initial, thereafter int

	mu     sync.Mutex
	second int64
	n      int
}

func (s *sampler) allow(now time.Time) bool {
	sec := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec != s.second {
		s.second, s.n = sec, 0
	}
	s.n++
	if s.n <= s.initial {
		return true
	}
	return s.thereafter > 0 && (s.n-s.initial)%s.thereafter == 0
}
