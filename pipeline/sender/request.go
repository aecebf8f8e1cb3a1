package sender

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/outpost-edge/outpost/pipeline"
)

// Encoding is the serialisation of a Request body.
type Encoding string

// The encodings.
const (
	EncodingProto Encoding = "proto" // OTLP protobuf
	EncodingJSON  Encoding = "json"  // OTLP JSON
)

// Request is one ready-to-send request: the body is encoded once, by the
// exporter, in its wire format, and sent as is on every attempt.
//
// A Request is immutable once made: the Sender and the send function must not
// modify Body, which may be shared with a queue that stores it.
type Request struct {
	// Signal is the kind of telemetry in Body.
	Signal pipeline.Signal
	// Items is the number of spans, metric data points or log records in
	// Body; the exporter metrics count it.
	Items int
	// Body is the encoded request, already compressed as Compression says.
	Body []byte
	// Encoding is how Body is serialised.
	Encoding Encoding
	// Compression is the content encoding already applied to Body ("gzip",
	// "zstd"), or "" when Body is not compressed. A send function must label
	// the body from this field, not from its current configuration: a
	// stored Request may have been made under another one.
	Compression string
	// Expires, when set, is the time after which the Request is no longer
	// worth sending (its creation plus the queue's max_age): retries stop
	// then and its items count as failed with reason "expired".
	Expires time.Time

	// recs, set by an Output, are the queued records the request was made
	// of (see sendRecordHalves).
	recs *span
}

// SendFunc makes one attempt to deliver r. It must honour ctx (the Sender
// sets a per-attempt deadline on it and cancels it on shutdown) and return
// an error classified as the package documentation describes.
type SendFunc func(ctx context.Context, r Request) error

// wireBytesKey carries a *wireBytes in the context of a Send.
type wireBytesKey struct{}

// wireBytes holds the wire size reported for the current attempt.
type wireBytes struct {
	n   atomic.Int64
	set atomic.Bool // false until the send function reports
}

func (w *wireBytes) reset() {
	w.set.Store(false)
	w.n.Store(0)
}

// load returns the bytes reported for the attempt, or -1 if none were.
func (w *wireBytes) load() int64 {
	if !w.set.Load() {
		return -1
	}
	return w.n.Load()
}

// ReportWireBytes lets a send function report the number of body bytes
// that went on the wire for the attempt in progress (0 when it failed
// before sending anything: a connection refused, a DNS or TLS failure; the
// compressed size when the transport compresses Body itself, as gRPC does).
// The Sender gives the unused part of the attempt's uplink grant back,
// counts the number in outpost_uplink_bytes_total, and, when the attempt
// delivered, in outpost_exporter_sent_bytes_total. A send function that
// reports nothing is taken to have sent len(Body). It must be called with
// the attempt's context, or one derived from it, before the send function
// returns. It does nothing for a context that does not come from a Sender.
func ReportWireBytes(ctx context.Context, n int) {
	if w, ok := ctx.Value(wireBytesKey{}).(*wireBytes); ok {
		w.n.Store(int64(n))
		w.set.Store(true)
	}
}

// addWireBytes adds n to the bytes reported for the attempt in progress.
func addWireBytes(ctx context.Context, n int) {
	if w, ok := ctx.Value(wireBytesKey{}).(*wireBytes); ok {
		w.n.Add(int64(n))
		w.set.Store(true)
	}
}

// ReasonError names why a request was refused for good, more precisely
// than ReasonPermanent: a send function wraps its permanent error in one
// (either way round: consumererror.NewPermanent(&ReasonError{...}) or a
// ReasonError around a permanent error) and the Sender counts the request's
// items in outpost_exporter_failed_items_total under Reason instead of
// "permanent". Reason must be a short, fixed, documented token (it is a
// label value); "" means ReasonPermanent. It does not make an error
// permanent by itself: a ReasonError around a retryable error is retried.
type ReasonError struct {
	Reason string
	Err    error
}

func (e *ReasonError) Error() string { return e.Err.Error() }

func (e *ReasonError) Unwrap() error { return e.Err }
