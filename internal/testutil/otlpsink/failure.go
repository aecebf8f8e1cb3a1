package otlpsink

import (
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outpost-edge/outpost/pipeline"
)

// Failure is how the sink answers a request it is told to fail. Either an
// error (Code or HTTPStatus set; each is derived from the other when zero)
// or, when both are zero and Rejected is positive, a partial success.
type Failure struct {
	// Code is the gRPC status code; zero derives it from HTTPStatus.
	Code codes.Code
	// HTTPStatus is the HTTP status; zero derives it from Code.
	HTTPStatus int
	// RetryAfter, when positive, is sent as a google.rpc.RetryInfo detail
	// (gRPC) and as a Retry-After header in whole seconds, rounded up
	// (HTTP).
	RetryAfter time.Duration
	// Message is the status message, or the partial success's
	// error_message; empty means "otlpsink: injected failure".
	Message string
	// Rejected makes a partial success that refuses this many items (at
	// most the request's count); the others are counted as received.
	Rejected int64
}

// FailFunc decides how to answer a request for a signal: nil accepts it.
// It is called once per request, concurrently.
type FailFunc func(sig pipeline.Signal) *Failure

// SetFail installs f (nil clears it); it applies to requests that arrive
// from now on.
func (s *Sink) SetFail(f FailFunc) {
	if f == nil {
		s.fail.Store(nil)
		return
	}
	s.fail.Store(&f)
}

// FailNext answers the next n requests, of any signal and transport, with
// f, and accepts the ones after.
func (s *Sink) FailNext(n int, f Failure) {
	var left atomic.Int64
	left.Store(int64(n))
	s.SetFail(func(pipeline.Signal) *Failure {
		if left.Add(-1) >= 0 {
			return &f
		}
		return nil
	})
}

// FailAlways answers every request with f until SetFail(nil).
func (s *Sink) FailAlways(f Failure) {
	s.SetFail(func(pipeline.Signal) *Failure { return &f })
}

// RequireAuthorization makes the sink answer 401 / UNAUTHENTICATED to
// every request whose Authorization header (gRPC: authorization metadata)
// is not exactly v, from now on, as a central side does once the
// credential it accepts has been rotated; "" accepts any request again.
// Such requests count as failed.
func (s *Sink) RequireAuthorization(v string) {
	if v == "" {
		s.requireAuth.Store(nil)
		return
	}
	s.requireAuth.Store(&v)
}

// authFailure returns the 401 for a request with Authorization got, or nil.
func (s *Sink) authFailure(got string) *Failure {
	want := s.requireAuth.Load()
	if want == nil || got == *want {
		return nil
	}
	return &Failure{Code: codes.Unauthenticated, HTTPStatus: http.StatusUnauthorized, Message: "otlpsink: credentials not accepted"}
}

// failure returns the answer for a request of sig, nil to accept it.
func (s *Sink) failure(sig pipeline.Signal) *Failure {
	p := s.fail.Load()
	if p == nil {
		return nil
	}
	return (*p)(sig)
}

func (f *Failure) isError() bool { return f.Code != codes.OK || f.HTTPStatus != 0 }

func (f *Failure) message() string {
	if f.Message != "" {
		return f.Message
	}
	return "otlpsink: injected failure"
}

func (f *Failure) code() codes.Code {
	if f.Code != codes.OK {
		return f.Code
	}
	switch s := f.HTTPStatus; {
	case s == http.StatusBadRequest, s == http.StatusRequestEntityTooLarge:
		return codes.InvalidArgument
	case s == http.StatusUnauthorized:
		return codes.Unauthenticated
	case s == http.StatusForbidden:
		return codes.PermissionDenied
	case s == http.StatusNotFound:
		return codes.NotFound
	case s == http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case s == http.StatusBadGateway, s == http.StatusServiceUnavailable:
		return codes.Unavailable
	case s == http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	case s == http.StatusNotImplemented:
		return codes.Unimplemented
	case s >= 500:
		return codes.Internal
	}
	return codes.InvalidArgument
}

func (f *Failure) httpStatus() int {
	if f.HTTPStatus != 0 {
		return f.HTTPStatus
	}
	switch f.Code {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.NotFound:
		return http.StatusNotFound
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// status is the gRPC status of an error Failure, with RetryInfo when asked.
func (f *Failure) status() *status.Status {
	st := status.New(f.code(), f.message())
	if f.RetryAfter > 0 {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(f.RetryAfter)}); err == nil {
			st = d
		}
	}
	return st
}
