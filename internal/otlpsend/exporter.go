package otlpsend

import (
	"context"
	"fmt"
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
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// reasonEncode is the failed-items reason for a batch that could not be
// encoded.
const reasonEncode = "encode"

// Transport is one wire protocol: it makes one attempt to deliver a
// ready-to-send Request (a sender.SendFunc) and classifies the outcome;
// Start and Close are the sender.Transport the exporter's Lifecycle runs.
// GRPC and HTTP are the two there are.
type Transport interface {
	sender.Transport
	Send(ctx context.Context, r sender.Request) error
}

// Options are the parts of an OTLP exporter's configuration that shape the
// Exporter itself (the Transport takes the rest).
type Options struct {
	// Encoding of the bodies: proto (the only one gRPC takes) or json.
	Encoding sender.Encoding
	// Compression of the bodies: CompressionGzip, CompressionZstd or
	// CompressionNone.
	Compression string
	// FastestZstd encodes zstd at its fastest level (as gRPC's own zstd
	// compressor does) rather than the default level.
	FastestZstd bool
	// Timeout bounds each attempt.
	Timeout time.Duration
	// Retry, Queue and Priority are the exporter's `retry_on_failure`,
	// `queue` and `priority` sections.
	Retry    sender.RetryConfig
	Queue    sender.QueueConfig
	Priority lanes.Config
}

// Exporter is one OTLP exporter instance, shared by every pipeline naming
// its ID. ConsumeX splits the batch by priority lane, encodes each part
// once into a Request and puts it in the Output: the queue, drained by
// senders that call the transport (or, with the queue disabled, the
// Sender directly).
type Exporter struct {
	id    string
	tel   *selftelemetry.Metrics
	enc   encoder
	life  *sender.Lifecycle
	out   *sender.Output
	lanes *lanes.Classifier // nil without a queue
}

var (
	_ consumer.Traces    = (*Exporter)(nil)
	_ consumer.Metrics   = (*Exporter)(nil)
	_ consumer.Logs      = (*Exporter)(nil)
	_ pipeline.Component = (*Exporter)(nil)
)

// New returns an exporter sending through tr. It starts nothing: Start
// does.
func New(set pipeline.Settings, tr Transport, o Options) (*Exporter, error) {
	// The body is encoded uncompressed: the Output compresses it once
	// per wire request, after merging queued records (wire).
	enc := encoder{encoding: o.Encoding}
	var wire *bodyCompressor
	if o.Compression != CompressionNone && o.Compression != "" {
		wire = newBodyCompressor(o.Compression, o.FastestZstd)
	}
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	oset := sender.OutputSettings{
		Queue:     o.Queue,
		Retry:     o.Retry,
		Timeout:   o.Timeout,
		Send:      tr.Send,
		Split:     SplitRequest,
		Mergeable: o.Encoding != sender.EncodingJSON,
	}
	if wire != nil {
		oset.Compress, oset.Compression = wire.compress, wire.name
	}
	life, err := sender.NewLifecycle(set, sender.LifecycleSettings{
		Transport: tr,
		Priority:  o.Priority,
		Output:    oset,
	})
	if err != nil {
		return nil, err
	}
	return &Exporter{id: set.ID.String(), tel: set.Telemetry, enc: enc, life: life, out: life.Output(), lanes: life.Lanes()}, nil
}

// Start prepares the connection (gRPC dials lazily, on the first send),
// then opens the queue and starts the senders. It is idempotent; it fails
// after Shutdown (sender.Lifecycle).
func (e *Exporter) Start(context.Context, pipeline.Host) error { return e.life.Start() }

// Shutdown stops the senders, cancelling sends in progress: a queued record
// stays queued (a disk queue keeps it for the next run, or for the
// exporter that replaces this one on a reload); without a queue the caller
// gets a retryable error and keeps its data. A memory queue is first
// drained within ctx's deadline. Then the connection is closed. It is
// idempotent.
func (e *Exporter) Shutdown(ctx context.Context) error { return e.life.Shutdown(ctx) }

// Capabilities implements consumer.Traces, Metrics and Logs: the exporter
// only reads the data.
func (e *Exporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces queues td (one record per priority lane it touches), or
// without a queue sends it; see sender.Output.Put for what the error
// means.
func (e *Exporter) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if td.SpanCount() == 0 {
		return nil
	}
	if e.lanes == nil {
		return e.consume(ctx, pipeline.SignalTraces, queue.LaneNormal, td.SpanCount(), ptraceotlp.NewExportRequestFromTraces(td))
	}
	parts, items := e.lanes.SplitTraces(td)
	var errs []error
	puts := make([]sender.Part, 0, len(parts))
	for l := range parts {
		if items[l] > 0 {
			r, err := e.encode(pipeline.SignalTraces, items[l], ptraceotlp.NewExportRequestFromTraces(parts[l]))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			puts = append(puts, sender.Part{Lane: queue.Lane(l), Request: r})
		}
	}
	return pipeline.JoinErrors(append(errs, e.out.PutAll(ctx, puts)))
}

// ConsumeMetrics queues or sends md, as ConsumeTraces does.
func (e *Exporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if md.DataPointCount() == 0 {
		return nil
	}
	if e.lanes == nil {
		return e.consume(ctx, pipeline.SignalMetrics, queue.LaneNormal, md.DataPointCount(), pmetricotlp.NewExportRequestFromMetrics(md))
	}
	parts, items := e.lanes.SplitMetrics(md)
	var errs []error
	puts := make([]sender.Part, 0, len(parts))
	for l := range parts {
		if items[l] > 0 {
			r, err := e.encode(pipeline.SignalMetrics, items[l], pmetricotlp.NewExportRequestFromMetrics(parts[l]))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			puts = append(puts, sender.Part{Lane: queue.Lane(l), Request: r})
		}
	}
	return pipeline.JoinErrors(append(errs, e.out.PutAll(ctx, puts)))
}

// ConsumeLogs queues or sends ld, as ConsumeTraces does.
func (e *Exporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	if ld.LogRecordCount() == 0 {
		return nil
	}
	if e.lanes == nil {
		return e.consume(ctx, pipeline.SignalLogs, queue.LaneNormal, ld.LogRecordCount(), plogotlp.NewExportRequestFromLogs(ld))
	}
	parts, items := e.lanes.SplitLogs(ld)
	var errs []error
	puts := make([]sender.Part, 0, len(parts))
	for l := range parts {
		if items[l] > 0 {
			r, err := e.encode(pipeline.SignalLogs, items[l], plogotlp.NewExportRequestFromLogs(parts[l]))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			puts = append(puts, sender.Part{Lane: queue.Lane(l), Request: r})
		}
	}
	return pipeline.JoinErrors(append(errs, e.out.PutAll(ctx, puts)))
}

func (e *Exporter) consume(ctx context.Context, sig pipeline.Signal, lane queue.Lane, items int, req exportRequest) error {
	r, err := e.encode(sig, items, req)
	if err != nil {
		return err
	}
	return e.out.Put(ctx, lane, r)
}

// encode encodes req; a failure is counted and permanent.
func (e *Exporter) encode(sig pipeline.Signal, items int, req exportRequest) (sender.Request, error) {
	r, err := e.enc.encode(sig, items, req)
	if err != nil {
		e.tel.ExporterFailed.WithLabelValues(e.id, string(sig), reasonEncode).Add(float64(items))
		return sender.Request{}, consumererror.NewPermanent(fmt.Errorf("encode %d %s: %w", items, sig, err))
	}
	return r, nil
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
