package syslogreceiver

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Retry of a batch the pipeline refused with a retryable error (TCP only):
// the wait starts at retryInitial and doubles up to retryMax. The
// pipeline's own hint (5 s for a full queue) is not waited out in full:
// there is no client to pass it to, and an append that fails costs little.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 2 * time.Second
)

// entry is one message on its way to a batch, with the memory it is
// charged for (nil when memory_limit is off).
type entry struct {
	msg    message
	charge *memlimit.Charge
}

// outcomeKind is what the pipeline made of a batch.
type outcomeKind uint8

const (
	outcomeAccepted outcomeKind = iota
	outcomePartial              // some items refused for good
	outcomePermanent
	outcomeUnavailable // retryable
	outcomeThrottled   // retryable: back-pressure
)

// classify maps a consumer error to an outcome; errors joined by a fan-out
// are classified one by one and the most retryable wins, so that a batch
// one pipeline could still take is sent again (at least once).
func classify(err error) (outcomeKind, int64) {
	if err == nil {
		return outcomeAccepted, 0
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		kind, rejected := outcomeAccepted, int64(0)
		for _, e := range j.Unwrap() {
			k, r := classify(e)
			if k == outcomePartial && kind == outcomePartial {
				rejected += r
			} else if k > kind {
				kind, rejected = k, r
			}
		}
		return kind, rejected
	}
	if pe, ok := errors.AsType[*pipeline.PartialError](err); ok {
		return outcomePartial, max(pe.Rejected, 0)
	}
	if _, ok := pipeline.IsThrottle(err); ok {
		return outcomeThrottled, 0
	}
	if consumererror.IsPermanent(err) {
		return outcomePermanent, 0
	}
	return outcomeUnavailable, 0
}

// batcher collects the messages of one transport into batches and hands
// them to the pipeline on its own goroutine. Its input channel holds at
// most one batch; when the pipeline is slow, senders block (TCP readers)
// or see it full (the UDP reader, which drops).
type batcher struct {
	r         *receiver
	transport string
	// retry: a batch refused with a retryable error is sent again until it
	// is taken or the receiver is stopped for good (TCP: what was read
	// from a connection has been acknowledged by TCP and exists nowhere
	// else). Without retry (UDP) it is counted as refused and dropped.
	retry bool
	in    chan entry
	c     *counters
	// refusing is set while the pipeline refuses this batcher's batches
	// (from a retryable refusal to the next batch it takes): the UDP reader
	// then drops rather than waits.
	refusing atomic.Bool

	pending []entry // the batch being collected
}

func newBatcher(r *receiver, transport string, retry bool) *batcher {
	b := &batcher{
		r:         r,
		transport: transport,
		retry:     retry,
		in:        make(chan entry, r.cfg.Batch.SendBatchSize),
		c:         r.newCounters(transport),
	}
	b.pending = make([]entry, 0, r.cfg.Batch.SendBatchSize)
	return b
}

// build makes the batch's logs. It is called again for each retry: the
// pipeline owns what it is given, and a processor may have changed a batch
// that an exporter then refused.
func (b *batcher) build() plog.Logs {
	logs := plog.NewLogs()
	records := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	records.EnsureCapacity(len(b.pending))
	for i := range b.pending {
		b.pending[i].msg.appendTo(records.AppendEmpty(), b.r.loc)
	}
	return logs
}

// run batches until in is closed, then flushes what it holds.
func (b *batcher) run() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	for {
		select {
		case e, ok := <-b.in:
			if !ok {
				b.flush()
				return
			}
			b.pending = append(b.pending, e)
			if len(b.pending) >= b.r.cfg.Batch.SendBatchSize {
				if armed {
					timer.Stop()
					armed = false
				}
				b.flush()
			} else if !armed {
				timer.Reset(b.r.cfg.Batch.Timeout)
				armed = true
			}
		case <-timer.C:
			armed = false
			b.flush()
		}
	}
}

// flush hands the batch to the pipeline, counts the outcome and releases
// the batch's memory.
func (b *batcher) flush() {
	n := len(b.pending)
	if n == 0 {
		return
	}
	defer func() {
		for i := range b.pending {
			b.pending[i].charge.Release()
			b.pending[i] = entry{}
		}
		b.pending = b.pending[:0]
	}()
	wait := retryInitial
	for {
		kind, rejected := classify(b.r.consume(b.r.runCtx, b.build()))
		switch kind {
		case outcomeAccepted:
			b.refusing.Store(false)
			b.c.accepted.Add(float64(n))
			return
		case outcomePartial:
			b.refusing.Store(false)
			rejected = min(rejected, int64(n))
			b.c.accepted.Add(float64(int64(n) - rejected))
			b.c.refused(reasonRejected).Add(float64(rejected))
			b.r.limitedLog.Warn("rejected", "pipeline refused part of a syslog batch for good", "transport", b.transport, "rejected", rejected)
			return
		case outcomePermanent:
			b.c.refused(reasonPermanent).Add(float64(n))
			b.r.limitedLog.Warn("permanent", "pipeline refused a syslog batch for good", "transport", b.transport, "items", n)
			return
		}
		b.refusing.Store(true)
		reason := reasonUnavailable
		if kind == outcomeThrottled {
			reason = reasonThrottled
		}
		if !b.retry {
			b.c.refused(reason).Add(float64(n))
			b.r.limitedLog.Warn("udp-"+reason, "pipeline refused a syslog batch received over UDP; it is dropped (UDP senders cannot be asked to resend)",
				"reason", reason, "items", n)
			return
		}
		b.r.limitedLog.Info("tcp-"+reason, "pipeline refused a syslog batch received over TCP; reading from connections pauses and the batch is retried",
			"reason", reason, "items", n, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-b.r.abandon:
			t.Stop()
			b.c.refused(reasonShutdown).Add(float64(n))
			b.r.logger.Warn("syslog receiver stopped before the pipeline took a batch read over TCP; it is lost", "items", n)
			return
		}
		wait = min(wait*2, retryMax)
	}
}

// counters are the metric series of one transport.
type counters struct {
	accepted prometheus.Counter
	refusedV map[string]prometheus.Counter
	badV     map[string]prometheus.Counter
}

func (c *counters) refused(reason string) prometheus.Counter { return c.refusedV[reason] }
func (c *counters) bad(reason string) prometheus.Counter     { return c.badV[reason] }

// consumeFunc is the pipeline's ConsumeLogs.
type consumeFunc func(context.Context, plog.Logs) error
