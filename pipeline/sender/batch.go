package sender

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/queue"
)

// ReasonUndecodable counts the items of a queued record whose stored body
// cannot be decompressed (a codec this binary does not know, or a body
// that does not match its recorded size): it cannot be sent.
const ReasonUndecodable = "undecodable"

// maxKeptMergeBuffer is the largest merge buffer a sender keeps between
// requests.
const maxKeptMergeBuffer = 8 << 20

// maxBudgetShare bounds a merged request, under an uplink budget, to the
// bytes the budget lets through in this time at its rate. A request that
// waits for the budget cannot give way to more important data that comes
// meanwhile, so a large request on a thin uplink (a 3 MiB request is
// minutes of a 16 KiB/s budget) would hold the high lane back that long.
const maxBudgetShare = 100 * time.Millisecond

// ratioEstimate is the compressed/raw size ratio of the last request of a
// signal, to turn the budget's bytes (compressed) into a bound on the raw
// bytes merged; 1 until a request was compressed.
type ratioEstimate struct{ bits atomic.Uint64 }

func (r *ratioEstimate) get() float64 {
	if b := r.bits.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	return 1
}

func (r *ratioEstimate) set(compressed, raw int) {
	if raw > 0 && compressed > 0 {
		r.bits.Store(math.Float64bits(min(float64(compressed)/float64(raw), 1)))
	}
}

// ratio returns the estimate of sig.
func (o *Output) ratio(sig string) *ratioEstimate {
	switch pipeline.Signal(sig) {
	case pipeline.SignalTraces:
		return &o.ratios[0]
	case pipeline.SignalMetrics:
		return &o.ratios[1]
	}
	return &o.ratios[2]
}

// rawBound is the most raw bytes a request of sig may merge: max_bytes,
// and under an uplink budget about maxBudgetShare of its rate.
func (o *Output) rawBound(sig string) int {
	bound := int(o.set.Queue.Batch.MaxBytes)
	if o.budget == nil {
		return bound
	}
	if rate := o.budget.Rate(); rate > 0 {
		share := rate * maxBudgetShare.Seconds() / o.ratio(sig).get()
		bound = min(bound, max(int(share), 1))
	}
	return bound
}

// drain is one sender: it reads records, most important lane first,
// merges consecutive records of the lane into one request (collect), and
// sends it until it is delivered, refused for good or expired. Records
// still unsent when the Output stops go back to the queue (and, on disk,
// stay there for the next run).
func (o *Output) drain(ctx context.Context) {
	var scratch []byte
	for {
		first, err := o.q.Read(ctx)
		if err != nil {
			return // stopped, or the queue closed
		}
		batch, err := o.collect(ctx, first)
		if err != nil {
			// Stopped while waiting for more: nothing was sent.
			for _, d := range batch {
				o.q.Nack(d)
			}
			return
		}
		var stopped bool
		scratch, stopped = o.sendBatch(batch, scratch)
		if stopped {
			return
		}
	}
}

// collect adds to first the records of its lane that may go in the same
// request: Mergeable, of the same signal and encoding, within max_size
// items and max_bytes uncompressed. It takes what is queued at once; while
// fewer than min_size items are gathered it waits for more until
// flush_timeout after first's creation, unless a more important lane has
// data. A record it read that does not fit goes back to the queue (Nack),
// first in its lane, so that the next Read still takes the most important
// lane first. On ctx's end it returns the records read and ctx's error.
func (o *Output) collect(ctx context.Context, first *queue.Delivery) ([]*queue.Delivery, error) {
	batch := []*queue.Delivery{first}
	cfg := o.set.Queue.Batch
	r := &first.Record
	if !r.Mergeable || r.WireReady || cfg.MaxSize <= 1 {
		return batch, nil
	}
	items, size := r.Items, r.RawSize
	maxBytes := o.rawBound(r.Signal)
	now := time.Now()
	created := r.Created
	if created.After(now) {
		created = now // a clock that went back: do not wait longer than flush_timeout
	}
	deadline := created.Add(cfg.FlushTimeout)
	for items < cfg.MaxSize && size < maxBytes {
		until := now // take only what is ready
		rctx := ctx
		// The high lane never waits for company: its data is the urgent
		// and the small part.
		if items < cfg.MinSize && r.Lane != queue.LaneHigh && o.flushCtx.Err() == nil {
			until, rctx = deadline, o.flushCtx // a wait that a shutdown flush ends
		}
		d, err := o.q.ReadLane(rctx, r.Lane, until)
		if err != nil {
			if ctx.Err() == nil && o.flushCtx.Err() != nil && !errors.Is(err, queue.ErrClosed) {
				break // draining a memory queue: send what is here
			}
			return batch, err
		}
		if d == nil {
			break
		}
		dr := &d.Record
		if !dr.Mergeable || dr.WireReady || dr.Signal != r.Signal || dr.Encoding != r.Encoding ||
			items+dr.Items > cfg.MaxSize || size+dr.RawSize > maxBytes {
			o.q.Nack(d)
			break
		}
		batch = append(batch, d)
		items += dr.Items
		size += dr.RawSize
	}
	return batch, nil
}

// sendBatch sends the records of batch as one request and acknowledges
// each record whose fate is settled (delivered, or refused for good and
// counted), putting the others back (Nack) if the Output stopped before.
// It returns scratch for reuse and whether the Output stopped.
func (o *Output) sendBatch(batch []*queue.Delivery, scratch []byte) ([]byte, bool) {
	set, scratch := o.records(batch, scratch[:0])
	if len(set.recs) == 0 {
		return scratch, false
	}
	r, err := set.build(0, len(set.recs))
	if err != nil {
		// The wire compression failed: nothing can be sent.
		for _, d := range set.recs {
			o.failRecord(d, "encode", err)
		}
		return scratch, false
	}
	// The send is not tied to the drain's context: on Shutdown an attempt
	// on the wire finishes (Sender.StopRetries) unless the deadline passes.
	err = o.sender.Send(context.Background(), r)
	stopped := err != nil && errors.Is(err, ErrStopped) && !consumererror.IsPermanent(err) && !final(err)
	for i, d := range set.recs {
		if stopped && !set.settled[i] {
			// Stopped before delivery: not delivered, not refused. It goes
			// back to the queue and will be sent again.
			o.q.Nack(d)
		} else {
			// Delivered, or refused for good, expired or out of retries:
			// the Sender counted which, and logged why.
			o.q.Ack(d)
		}
	}
	if cap(scratch) > maxKeptMergeBuffer {
		scratch = nil
	}
	return scratch, stopped
}

// failRecord counts a record that cannot be sent and acknowledges it.
func (o *Output) failRecord(d *queue.Delivery, reason string, err error) {
	rec := &d.Record
	o.set.Telemetry.ExporterFailed.WithLabelValues(o.set.Exporter, rec.Signal, reason).Add(float64(rec.Items))
	o.log.Error("queued record cannot be sent; dropped", "signal", rec.Signal, "items", rec.Items, "reason", reason, "error", err)
	o.q.Ack(d)
}

// records decompresses the batch's stored bodies, back to back in
// scratch, into a recordSet; a record that cannot be decompressed is
// counted (ReasonUndecodable) and acknowledged, and left out.
func (o *Output) records(batch []*queue.Delivery, scratch []byte) (*recordSet, []byte) {
	set := &recordSet{o: o, recs: make([]*queue.Delivery, 0, len(batch))}
	if len(batch) == 1 && batch[0].Record.WireReady {
		set.recs = append(set.recs, batch[0])
		set.settled = make([]bool, 1)
		return set, scratch
	}
	for _, d := range batch {
		rec := &d.Record
		start := len(scratch)
		var err error
		if rec.WireReady {
			// Only alone in a batch (collect), handled above.
			err = fmt.Errorf("a wire-ready record cannot be merged")
		} else {
			scratch, err = loadBody(scratch, rec.Compression, rec.Body, rec.RawSize)
		}
		if err != nil {
			o.failRecord(d, ReasonUndecodable, err)
			continue
		}
		set.recs = append(set.recs, d)
		set.bounds = append(set.bounds, [2]int{start, len(scratch)})
	}
	set.raw = scratch
	set.settled = make([]bool, len(set.recs))
	return set, scratch
}

// recordSet is the queued records a request was made of, kept so that the
// Sender can send them again in parts (along record boundaries) when the
// far side refuses the whole for its data.
type recordSet struct {
	o       *Output
	recs    []*queue.Delivery
	raw     []byte   // the decompressed bodies, back to back (nil for a wire-ready record)
	bounds  [][2]int // each record's body in raw
	settled []bool   // the Sender reached a final result for the record
}

// span is a range [lo, hi) of a recordSet's records: what a Request was
// made of.
type span struct {
	set    *recordSet
	lo, hi int
}

// build makes the request of records [lo, hi): their bodies concatenated
// (protobuf messages whose fields are all repeated concatenate into one
// valid message) and compressed once for the wire.
func (s *recordSet) build(lo, hi int) (Request, error) {
	first := &s.recs[lo].Record
	r := Request{
		Signal:   pipeline.Signal(first.Signal),
		Encoding: Encoding(first.Encoding),
		recs:     &span{set: s, lo: lo, hi: hi},
	}
	maxAge := s.o.set.Queue.MaxAge
	for _, d := range s.recs[lo:hi] {
		r.Items += d.Record.Items
		if maxAge > 0 {
			if exp := d.Record.Created.Add(maxAge); r.Expires.IsZero() || exp.Before(r.Expires) {
				r.Expires = exp
			}
		}
	}
	if s.raw == nil && first.WireReady {
		// Sent as it was stored (format version 1 records).
		r.Body, r.Compression = first.Body, first.Compression
		return r, nil
	}
	raw := s.raw[s.bounds[lo][0]:s.bounds[hi-1][1]]
	if merge := s.o.set.Merge; merge != nil && hi-lo > 1 {
		bodies := make([][]byte, 0, hi-lo)
		for _, b := range s.bounds[lo:hi] {
			bodies = append(bodies, s.raw[b[0]:b[1]])
		}
		merged, err := merge(nil, bodies)
		if err != nil {
			return Request{}, fmt.Errorf("merge %d %s records: %w", hi-lo, first.Signal, err)
		}
		raw = merged
	}
	if s.o.set.Compress == nil {
		r.Body = raw
		return r, nil
	}
	body, err := s.o.set.Compress(raw)
	if err != nil {
		return Request{}, fmt.Errorf("compress %d-byte %s request: %w", len(raw), first.Signal, err)
	}
	s.o.ratio(first.Signal).set(len(body), len(raw))
	r.Body, r.Compression = body, s.o.set.Compression
	return r, nil
}

// settle marks the records of sp as done with.
func (sp *span) settle() {
	for i := sp.lo; i < sp.hi; i++ {
		sp.set.settled[i] = true
	}
}

// sendRecordHalves sends r, a request of several queued records refused
// for good (or expired) as a whole, again as two requests of about half
// its records each, one after the other, so that a record the far side
// refuses for its data does not cost the items of the others (each half
// is split again if refused). Each half is counted on its own; the result
// is the halves' errors joined, as in sendHalves.
func (s *Sender) sendRecordHalves(ctx context.Context, r Request, m *signalMetrics, wire *wireBytes, refused error) error {
	sp := r.recs
	mid := sp.lo + (sp.hi-sp.lo)/2
	a, errA := sp.set.build(sp.lo, mid)
	b, errB := sp.set.build(mid, sp.hi)
	if err := errors.Join(errA, errB); err != nil {
		err = consumererror.NewPermanent(fmt.Errorf("%w (cannot rebuild the request in parts: %v)", refused, err))
		return s.failed(m.permanent, r, r.Items, ReasonPermanent, err)
	}
	if ok, suppressed := s.retryLog.allow(time.Now()); ok {
		s.log.Warn("merged request refused; sending its records again in halves to isolate the refused ones",
			"signal", r.Signal, "items", r.Items, "records", sp.hi-sp.lo,
			"halves", []int{a.Items, b.Items}, "error", refused, "suppressed", suppressed)
	}
	errA = s.send(ctx, a, m, wire)
	if !final(errA) {
		return errA
	}
	a.recs.settle()
	errB = s.send(ctx, b, m, wire)
	if !final(errB) {
		return errB
	}
	b.recs.settle()
	rejected := refusedItems(errA, a.Items) + refusedItems(errB, b.Items)
	joined := pipeline.JoinErrors([]error{errA, errB})
	if rejected == 0 || rejected >= r.Items {
		return joined
	}
	return &pipeline.PartialError{Rejected: int64(rejected), Err: consumererror.NewPermanent(
		fmt.Errorf("sent in parts after the far side refused the merged request; %d of %d items refused: %w", rejected, r.Items, joined))}
}

// multi reports whether r was made of several queued records.
func (r *Request) multi() bool { return r.recs != nil && r.recs.hi-r.recs.lo > 1 }

// record makes the queue record of an exporter's Request: an uncompressed
// body is stored with StorageCodec (and may be merged when sent); a body
// the exporter compressed itself is stored wire-ready, to be sent alone as
// it is.
func (o *Output) record(lane queue.Lane, now time.Time, r Request) (queue.Record, error) {
	rec := queue.Record{
		Lane:        lane,
		Created:     now,
		Items:       r.Items,
		Signal:      string(r.Signal),
		Encoding:    string(r.Encoding),
		Compression: r.Compression,
		Body:        r.Body,
	}
	if r.Compression != "" {
		rec.WireReady = true
		return rec, nil
	}
	body, err := storeBody(StorageCodec, r.Body)
	if err != nil {
		return queue.Record{}, consumererror.NewPermanent(fmt.Errorf("exporter %s: store %d %s: %w", o.set.Exporter, r.Items, r.Signal, err))
	}
	rec.Body, rec.Compression, rec.RawSize, rec.Mergeable = body, StorageCodec, len(r.Body), o.set.Mergeable
	return rec, nil
}

// wireRequest compresses an uncompressed Request for the wire (without a
// queue, each Request is sent on its own).
func (o *Output) wireRequest(r Request) (Request, error) {
	if r.Compression != "" || o.set.Compress == nil {
		return r, nil
	}
	body, err := o.set.Compress(r.Body)
	if err != nil {
		o.set.Telemetry.ExporterFailed.WithLabelValues(o.set.Exporter, string(r.Signal), "encode").Add(float64(r.Items))
		return Request{}, consumererror.NewPermanent(fmt.Errorf("exporter %s: compress %d %s: %w", o.set.Exporter, r.Items, r.Signal, err))
	}
	r.Body, r.Compression = body, o.set.Compression
	return r, nil
}
