package lokiexporter

import (
	"context"
	"fmt"
	"time"

	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// EncodingPush is the Encoding of the exporter's Requests: a Loki
// push.PushRequest in protobuf. Its Compression is always snappy (block
// format), the only one Loki's push API takes for protobuf.
const EncodingPush sender.Encoding = "loki-push-proto"

// compressionSnappy is the Content-Encoding of every body.
const compressionSnappy = "snappy"

// reasonEncode is the failed-items reason for a batch that could not be
// encoded.
const reasonEncode = "encode"

// exporter is one Loki exporter instance, shared by every logs pipeline
// naming its ID. ConsumeLogs splits the batch by priority lane, translates
// and encodes each part once into a Request and puts it in the Output: the
// queue, drained by senders that POST it (or, with the queue disabled, the
// Sender directly).
type exporter struct {
	id    string
	tel   *selftelemetry.Metrics
	tr    *translator
	life  *sender.Lifecycle
	out   *sender.Output
	lanes *lanes.Classifier // nil without a queue
}

var (
	_ consumer.Logs      = (*exporter)(nil)
	_ pipeline.Component = (*exporter)(nil)
)

func newExporter(set pipeline.Settings, cfg *Config, client clientOptions) (*exporter, error) {
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		return nil, err
	}
	transport := newHTTPTransport(cfg, client)
	life, err := sender.NewLifecycle(set, sender.LifecycleSettings{
		Transport: transport,
		Priority:  cfg.Priority,
		Output: sender.OutputSettings{
			Queue:   cfg.Queue,
			Retry:   cfg.RetryOnFailure,
			Timeout: cfg.Timeout,
			Send:    transport.send,
			Split:   splitPush,
			// PushRequest's one field, streams, is repeated: bodies
			// concatenate; mergePush also gathers the entries of equal
			// streams.
			Mergeable:   true,
			Merge:       mergePush,
			Compress:    compressSnappy,
			Compression: compressionSnappy,
		},
	})
	if err != nil {
		return nil, err
	}
	return &exporter{id: set.ID.String(), tel: set.Telemetry, tr: tr, life: life, out: life.Output(), lanes: life.Lanes()}, nil
}

// Start prepares the HTTP client and opens the queue. It is idempotent; it
// fails after Shutdown (sender.Lifecycle).
func (e *exporter) Start(context.Context, pipeline.Host) error { return e.life.Start() }

// Shutdown stops the senders (a disk queue keeps what is unsent for the
// next run; a memory queue is drained within ctx's deadline), then closes
// idle connections. It is idempotent.
func (e *exporter) Shutdown(ctx context.Context) error { return e.life.Shutdown(ctx) }

// Capabilities implements consumer.Logs: the exporter only reads the data.
func (e *exporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeLogs queues ld (one record per priority lane it touches), or
// without a queue sends it; see sender.Output.Put for what the error
// means.
func (e *exporter) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	if e.lanes == nil {
		return e.consume(ctx, queue.LaneNormal, n, ld)
	}
	parts, items := e.lanes.SplitLogs(ld)
	var errs []error
	puts := make([]sender.Part, 0, len(parts))
	for l := range parts {
		if items[l] > 0 {
			r, err := e.encode(items[l], parts[l])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			puts = append(puts, sender.Part{Lane: queue.Lane(l), Request: r})
		}
	}
	return pipeline.JoinErrors(append(errs, e.out.PutAll(ctx, puts)))
}

func (e *exporter) consume(ctx context.Context, lane queue.Lane, items int, ld plog.Logs) error {
	r, err := e.encode(items, ld)
	if err != nil {
		return err
	}
	return e.out.Put(ctx, lane, r)
}

// encode encodes ld; a failure is counted and permanent.
func (e *exporter) encode(items int, ld plog.Logs) (sender.Request, error) {
	r, err := encode(e.tr, ld, items, time.Now())
	if err != nil {
		e.tel.ExporterFailed.WithLabelValues(e.id, string(pipeline.SignalLogs), reasonEncode).Add(float64(items))
		return sender.Request{}, consumererror.NewPermanent(fmt.Errorf("encode %d log records: %w", items, err))
	}
	return r, nil
}

// encode translates ld into a Request: the PushRequest in protobuf,
// uncompressed. The Output snappy-compresses each wire request
// (compressSnappy) once queued records are merged.
func encode(t *translator, ld plog.Logs, items int, now time.Time) (sender.Request, error) {
	req := t.translate(ld, now.UTC())
	raw, err := req.Marshal()
	if err != nil {
		return sender.Request{}, err
	}
	return sender.Request{
		Signal:   pipeline.SignalLogs,
		Items:    items,
		Body:     raw,
		Encoding: EncodingPush,
	}, nil
}

// compressSnappy is the wire compression of push bodies (snappy block
// format, the only one Loki takes for protobuf).
func compressSnappy(raw []byte) ([]byte, error) { return snappy.Encode(nil, raw), nil }
