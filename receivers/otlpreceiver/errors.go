package otlpreceiver

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
)

// defaultRetryDelay is the retry hint sent with a retryable error that
// carries none of its own.
const defaultRetryDelay = time.Second

// outcomeKind is what the pipeline made of a request, ordered so that when
// a fan-out joins several errors the larger kind decides the answer: a
// retryable failure anywhere makes the client resend the whole request
// (at-least-once), since a permanent answer would lose the items that one
// pipeline could still take.
type outcomeKind uint8

const (
	outcomeAccepted    outcomeKind = iota // nil: every item accepted
	outcomePartial                        // *pipeline.PartialError: some items refused for good
	outcomePermanent                      // consumererror permanent: the request refused for good
	outcomeUnavailable                    // any other error: retry later
	outcomeThrottled                      // *pipeline.ThrottleError: slow down, retry later
)

// outcome is the classified result of handing a request to the pipeline.
type outcome struct {
	kind       outcomeKind
	retryAfter time.Duration // outcomeThrottled: the hint, 0 if none
	rejected   int64         // outcomePartial: items refused
	err        error
}

// classify maps a consumer error to the answer the client gets. Errors
// joined by a fan-out (errors.Join) are classified one by one and combined.
func classify(err error) outcome {
	if err == nil {
		return outcome{}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var o outcome
		for _, e := range j.Unwrap() {
			o = o.combine(classify(e))
		}
		o.err = err
		return o
	}
	if pe, ok := errors.AsType[*pipeline.PartialError](err); ok {
		return outcome{kind: outcomePartial, rejected: max(pe.Rejected, 0), err: err}
	}
	if d, ok := pipeline.IsThrottle(err); ok {
		return outcome{kind: outcomeThrottled, retryAfter: max(d, 0), err: err}
	}
	if consumererror.IsPermanent(err) {
		return outcome{kind: outcomePermanent, err: err}
	}
	return outcome{kind: outcomeUnavailable, err: err}
}

func (o outcome) combine(p outcome) outcome {
	if o.kind == outcomePartial && p.kind == outcomePartial {
		o.rejected += p.rejected
		return o
	}
	if o.kind == outcomeThrottled && p.kind == outcomeThrottled {
		o.retryAfter = max(o.retryAfter, p.retryAfter)
		return o
	}
	if p.kind > o.kind {
		return p
	}
	return o
}

// retryDelay is the delay suggested to the client for a retryable outcome.
func (o outcome) retryDelay() time.Duration {
	if o.kind == outcomeThrottled && o.retryAfter > 0 {
		return o.retryAfter
	}
	return defaultRetryDelay
}

// msgMemoryLimit answers a request refused at memory_limit.
const msgMemoryLimit = serverconfig.MsgMemoryLimit

// message is the error text sent to the client: by the outcome's kind
// only, never the pipeline's error text (see serverconfig.ClientMessage;
// the kind here is the one classify chose among joined errors).
func (o outcome) message() string {
	switch o.kind {
	case outcomeAccepted:
		return ""
	case outcomePartial:
		return serverconfig.MsgPartial
	case outcomePermanent:
		return serverconfig.MsgPermanent
	case outcomeThrottled:
		return serverconfig.MsgThrottled
	default:
		return serverconfig.MsgUnavailable
	}
}

// retryAfterSeconds formats d for the Retry-After header: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}

// grpcCode is the gRPC status code of a failed outcome, per the OTLP
// specification.
func (o outcome) grpcCode() codes.Code {
	switch o.kind {
	case outcomeAccepted, outcomePartial:
		return codes.OK
	case outcomePermanent:
		return codes.InvalidArgument
	case outcomeThrottled:
		return codes.ResourceExhausted
	default:
		return codes.Unavailable
	}
}

// httpStatus is the HTTP status code of an outcome, per the OTLP/HTTP
// specification.
func (o outcome) httpStatus() int {
	switch o.kind {
	case outcomeAccepted, outcomePartial:
		return http.StatusOK
	case outcomePermanent:
		return http.StatusBadRequest
	case outcomeThrottled:
		return http.StatusTooManyRequests
	default:
		return http.StatusServiceUnavailable
	}
}

// retryable reports whether the client should send the request again.
func (o outcome) retryable() bool {
	return o.kind == outcomeThrottled || o.kind == outcomeUnavailable
}

// status is the google.rpc.Status of a failed outcome; retryable ones carry
// a RetryInfo detail, which OTLP/gRPC clients need to retry
// RESOURCE_EXHAUSTED at all.
func (o outcome) status() *status.Status {
	st := status.New(o.grpcCode(), o.message())
	if !o.retryable() {
		return st
	}
	withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(o.retryDelay())})
	if err != nil {
		return st
	}
	return withInfo
}

// memoryLimitStatus is RESOURCE_EXHAUSTED with a RetryInfo of d: the
// answer to a request refused at the memory limit before it reached the
// pipeline.
func memoryLimitStatus(d time.Duration) *status.Status {
	st := status.New(codes.ResourceExhausted, msgMemoryLimit)
	if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)}); err == nil {
		return withInfo
	}
	return st
}
