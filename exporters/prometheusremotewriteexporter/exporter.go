package prometheusremotewriteexporter

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/queue"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// EncodingRW1 is the sender.Encoding of a queued body: a snappy-compressed
// (block format) prometheus.WriteRequest, remote write 1.0.
const EncodingRW1 sender.Encoding = "prometheus-remote-write-1.0"

// compressionSnappy is the only Content-Encoding remote write 1.0 allows.
const compressionSnappy = "snappy"

// reasonEncode is the failed-items reason for a request that could not be
// marshalled (it should not happen).
const reasonEncode = "encode"

// exporter is one remote-write exporter instance. ConsumeMetrics splits
// the batch by priority lane, translates each part once into a
// snappy-compressed WriteRequest and puts it in the Output: the queue,
// drained by senders that POST it (or, without a queue, the Sender
// directly).
type exporter struct {
	id    string
	tel   *selftelemetry.Metrics
	tr    *translator
	cl    *client
	life  *sender.Lifecycle
	out   *sender.Output
	lanes *lanes.Classifier // nil without a queue
}

var (
	_ consumer.Metrics   = (*exporter)(nil)
	_ pipeline.Component = (*exporter)(nil)
)

func newExporter(set pipeline.Settings, c *Config, cl *client) (*exporter, error) {
	if set.Telemetry == nil {
		set.Telemetry = selftelemetry.New()
	}
	life, err := sender.NewLifecycle(set, sender.LifecycleSettings{
		Transport: cl,
		Priority:  c.Priority,
		Output: sender.OutputSettings{
			Queue:   c.Queue,
			Retry:   c.RetryOnFailure,
			Timeout: c.Timeout,
			Send:    cl.send,
			// WriteRequest 1.0's fields (timeseries, metadata) are
			// repeated: bodies concatenate.
			Mergeable:   true,
			Compress:    compressSnappy,
			Compression: compressionSnappy,
		},
	})
	if err != nil {
		return nil, err
	}
	return &exporter{id: set.ID.String(), tel: set.Telemetry, tr: newTranslator(c), cl: cl, life: life, out: life.Output(), lanes: life.Lanes()}, nil
}

// Start prepares the HTTP client and opens the queue. It is idempotent; it
// fails after Shutdown (sender.Lifecycle).
func (e *exporter) Start(context.Context, pipeline.Host) error { return e.life.Start() }

// Shutdown stops the senders (a queued request stays queued for the next
// run), then closes idle connections. It is idempotent.
func (e *exporter) Shutdown(ctx context.Context) error { return e.life.Shutdown(ctx) }

// Capabilities implements consumer.Metrics: the exporter only reads.
func (e *exporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics translates md and queues (or sends) one request per
// priority lane it touches. The target_info series of every resource goes
// with the default lane's request, so that it stays in one lane and its
// samples reach Prometheus in order.
//
// Data points that cannot be sent (delta temporality, no timestamp, ...)
// are counted by reason and reported in a *pipeline.PartialError (OTLP
// partial success) when the rest was taken; see sender.Output.Put for the
// other errors.
func (e *exporter) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	if md.DataPointCount() == 0 {
		return nil
	}
	var errs []error
	dropped := map[string]int{}
	var puts []sender.Part
	if e.lanes == nil {
		b := e.tr.translate(md)
		errs = append(errs, e.put(ctx, queue.LaneNormal, b, dropped))
	} else {
		// target_info first: splitting may move md's data into the parts.
		def := e.lanes.Default()
		withInfo := e.tr.newBatch()
		withInfo.addTargetInfo(md)
		parts, items := e.lanes.SplitMetrics(md)
		for l := range parts {
			lane := queue.Lane(l)
			b := withInfo
			if lane != def {
				if items[l] == 0 {
					continue
				}
				b = e.tr.newBatch()
			}
			if items[l] > 0 {
				b.addMetrics(parts[l])
			}
			b.finish()
			r, ok, err := e.encode(b, dropped)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				puts = append(puts, sender.Part{Lane: lane, Request: r})
			}
		}
		// One request: stored all or none (sender.Output.PutAll).
		errs = append(errs, e.out.PutAll(ctx, puts))
	}
	err := pipeline.JoinErrors(errs)
	if n := sum(dropped); n > 0 {
		for reason, c := range dropped {
			e.tel.ExporterFailed.WithLabelValues(e.id, string(pipeline.SignalMetrics), reason).Add(float64(c))
		}
		if err == nil {
			err = &pipeline.PartialError{
				Rejected: int64(n),
				Err:      consumererror.NewPermanent(fmt.Errorf("%d of %d data points cannot go to Prometheus: %s", n, md.DataPointCount(), describe(dropped))),
			}
		}
	}
	return err
}

// put encodes b's request and hands it to the Output; b's dropped points
// are added to dropped.
func (e *exporter) put(ctx context.Context, lane queue.Lane, b *batch, dropped map[string]int) error {
	r, ok, err := e.encode(b, dropped)
	if err != nil || !ok {
		return err
	}
	return e.out.Put(ctx, lane, r)
}

// encode encodes b's request, adding b's dropped points to dropped; ok is
// false when b has no series to send. A failure is counted and permanent.
func (e *exporter) encode(b *batch, dropped map[string]int) (r sender.Request, ok bool, err error) {
	for r, n := range b.Dropped {
		dropped[r] += n
	}
	if len(b.req.Timeseries) == 0 {
		return sender.Request{}, false, nil
	}
	raw, err := b.req.Marshal()
	if err != nil {
		e.tel.ExporterFailed.WithLabelValues(e.id, string(pipeline.SignalMetrics), reasonEncode).Add(float64(b.Points))
		return sender.Request{}, false, consumererror.NewPermanent(fmt.Errorf("encode %d data points: %w", b.Points, err))
	}
	// Uncompressed: the Output snappy-compresses each wire request
	// (compressSnappy) once queued records are merged.
	return sender.Request{
		Signal:   pipeline.SignalMetrics,
		Items:    b.Points,
		Body:     raw,
		Encoding: EncodingRW1,
	}, true, nil
}

// compressSnappy is the wire compression of remote-write 1.0 bodies
// (snappy block format, the only one the protocol allows).
func compressSnappy(raw []byte) ([]byte, error) { return snappy.Encode(nil, raw), nil }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// describe lists counts by reason in a stable order.
func describe(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for r, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
