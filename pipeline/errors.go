package pipeline

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// ThrottleError is a retryable error that asks the sender to slow down: a
// queue is full under `block`, the memory limit is reached, or the far side
// answered 429 / RESOURCE_EXHAUSTED. Receivers turn it into HTTP 429 with
// Retry-After and gRPC RESOURCE_EXHAUSTED with RetryInfo.
type ThrottleError struct {
	Err        error
	RetryAfter time.Duration // zero: no hint
}

// NewThrottle wraps err as a ThrottleError.
func NewThrottle(err error, retryAfter time.Duration) error {
	return &ThrottleError{Err: err, RetryAfter: retryAfter}
}

func (e *ThrottleError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %s)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *ThrottleError) Unwrap() error { return e.Err }

// IsThrottle reports whether err asks the sender to slow down, and the delay
// it suggests.
func IsThrottle(err error) (time.Duration, bool) {
	var te *ThrottleError
	if errors.As(err, &te) {
		return te.RetryAfter, true
	}
	return 0, false
}

// PartialError reports that some items of a request were refused for good
// and the rest accepted. Receivers report it as OTLP partial success.
type PartialError struct {
	Rejected int64
	Err      error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d items rejected: %v", e.Rejected, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// JoinErrors joins the errors of the parts of one batch (a fan-out's
// consumers, an exporter's lanes); nil entries are skipped. A retryable
// error wins over a permanent one: when some parts failed for a passing
// reason, the client must retry, or those parts are lost for good (the
// parts refused for good have been counted already, and parts that were
// stored are delivered twice, which at-least-once allows). A single error
// is returned as it is.
func JoinErrors(errs []error) error {
	var failed, retryable []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed = append(failed, err)
		if !consumererror.IsPermanent(err) {
			retryable = append(retryable, err)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(retryable) == 1:
		return retryable[0]
	case len(retryable) > 1:
		return errors.Join(retryable...)
	case len(failed) == 1:
		return failed[0]
	}
	return errors.Join(failed...)
}
