package otlpexporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// reasonEncode is the failed-items reason for a batch that could not be
// encoded.
const reasonEncode = "encode"

// transport is one wire protocol: it makes one attempt to deliver a
// ready-to-send Request (a sender.SendFunc) and classifies the outcome.
type transport interface {
	start() error
	send(ctx context.Context, r sender.Request) error
	close() error
}

// exporter is one OTLP exporter instance, shared by every pipeline naming
// its ID. ConsumeX encodes the batch once into a Request and hands it to
// the Sender, which calls the transport.
type exporter struct {
	id    string
	tel   *selftelemetry.Metrics
	enc   encoder
	tr    transport
	send  *sender.Sender
	mu    sync.Mutex // guards state
	state int        // stateCreated, stateStarted, stateStopped
}

const (
	stateCreated = iota
	stateStarted
	stateStopped
)

var (
	_ consumer.Traces    = (*exporter)(nil)
	_ consumer.Metrics   = (*exporter)(nil)
	_ consumer.Logs      = (*exporter)(nil)
	_ pipeline.Component = (*exporter)(nil)
)

func newExporter(set pipeline.Settings, enc encoder, tr transport, timeout time.Duration, retry sender.RetryConfig) (*exporter, error) {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	e := &exporter{id: set.ID.String(), tel: set.Telemetry, enc: enc, tr: tr}
	s, err := sender.New(sender.Settings{
		Exporter:  e.id,
		Logger:    set.Logger,
		Telemetry: set.Telemetry,
		Retry:     retry,
		Timeout:   timeout,
		Send:      tr.send,
	})
	if err != nil {
		return nil, err
	}
	e.send = s
	return e, nil
}

// Start prepares the connection (gRPC dials lazily, on the first send). It
// is idempotent; it fails after Shutdown.
func (e *exporter) Start(context.Context, pipeline.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateStarted:
		return nil
	case stateStopped:
		return fmt.Errorf("exporter %s: start after shutdown", e.id)
	}
	if err := e.tr.start(); err != nil {
		return fmt.Errorf("exporter %s: %w", e.id, err)
	}
	e.state = stateStarted
	return nil
}

// Shutdown cancels sends in progress (their callers get a retryable error;
// without a queue, in-flight data is the caller's to keep), waits for them
// within ctx's deadline and closes the connection. It is idempotent.
func (e *exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == stateStopped {
		return nil
	}
	started := e.state == stateStarted
	e.state = stateStopped
	err := e.send.Shutdown(ctx)
	if started {
		err = errors.Join(err, e.tr.close())
	}
	if err != nil {
		return fmt.Errorf("exporter %s: %w", e.id, err)
	}
	return nil
}

// Capabilities implements consumer.Traces, Metrics and Logs: the exporter
// only reads the data.
func (e *exporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces encodes td once and sends it; see sender.Sender.Send for
// what the error means.
func (e *exporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	n := td.SpanCount()
	if n == 0 {
		return nil
	}
	return e.consume(ctx, pipeline.SignalTraces, n, ptraceotlp.NewExportRequestFromTraces(td))
}

// ConsumeMetrics encodes md once and sends it.
func (e *exporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	n := md.DataPointCount()
	if n == 0 {
		return nil
	}
	return e.consume(ctx, pipeline.SignalMetrics, n, pmetricotlp.NewExportRequestFromMetrics(md))
}

// ConsumeLogs encodes ld once and sends it.
func (e *exporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	return e.consume(ctx, pipeline.SignalLogs, n, plogotlp.NewExportRequestFromLogs(ld))
}

func (e *exporter) consume(ctx context.Context, sig pipeline.Signal, items int, req exportRequest) error {
	r, err := e.enc.encode(sig, items, req)
	if err != nil {
		e.tel.ExporterFailed.WithLabelValues(e.id, string(sig), reasonEncode).Add(float64(items))
		return consumererror.NewPermanent(fmt.Errorf("encode %d %s: %w", items, sig, err))
	}
	// This is where the durable queue will go: it stores r and a worker
	// pool replays it through e.send.Send.
	return e.send.Send(ctx, r)
}

// exportRequest is what the p*otlp ExportRequest types share.
type exportRequest interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// encoder turns a batch into a ready-to-send Request.
type encoder struct {
	encoding sender.Encoding
	// compressor compresses the body; nil leaves it as is (for gRPC, which
	// compresses each message itself, and for `compression: none`).
	compressor *bodyCompressor
}

func (e encoder) encode(sig pipeline.Signal, items int, req exportRequest) (sender.Request, error) {
	var body []byte
	var err error
	if e.encoding == sender.EncodingJSON {
		body, err = req.MarshalJSON()
	} else {
		body, err = req.MarshalProto()
	}
	if err != nil {
		return sender.Request{}, err
	}
	r := sender.Request{Signal: sig, Items: items, Body: body, Encoding: e.encoding}
	if e.compressor != nil {
		if r.Body, err = e.compressor.compress(body); err != nil {
			return sender.Request{}, err
		}
		r.Compression = e.compressor.name
	}
	return r, nil
}
