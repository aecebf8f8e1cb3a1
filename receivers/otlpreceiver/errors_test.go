package otlpreceiver

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
)

func TestClassify(t *testing.T) {
	throttle := func(d time.Duration) error { return pipeline.NewThrottle(errors.New("full"), d) }
	partial := func(n int64) error { return &pipeline.PartialError{Rejected: n, Err: errors.New("old")} }
	permanent := consumererror.NewPermanent(errors.New("bad"))
	plain := errors.New("down")
	for _, tc := range []struct {
		name     string
		err      error
		kind     outcomeKind
		delay    time.Duration
		rejected int64
	}{
		{"nil", nil, outcomeAccepted, 0, 0},
		{"plain", plain, outcomeUnavailable, time.Second, 0},
		{"retryable consumererror", consumererror.NewRetryableError(plain), outcomeUnavailable, time.Second, 0},
		{"permanent", permanent, outcomePermanent, 0, 0},
		{"wrapped permanent", fmt.Errorf("export: %w", permanent), outcomePermanent, 0, 0},
		{"throttle", throttle(5 * time.Second), outcomeThrottled, 5 * time.Second, 0},
		{"throttle no hint", throttle(0), outcomeThrottled, time.Second, 0},
		{"throttle negative hint", throttle(-time.Second), outcomeThrottled, time.Second, 0},
		{"partial", partial(3), outcomePartial, 0, 3},
		{"partial negative", partial(-3), outcomePartial, 0, 0},
		{"join: retryable beats permanent", errors.Join(permanent, plain), outcomeUnavailable, time.Second, 0},
		{"join: throttle beats retryable", errors.Join(plain, throttle(2*time.Second)), outcomeThrottled, 2 * time.Second, 0},
		{"join: longest throttle", errors.Join(throttle(2*time.Second), throttle(7*time.Second)), outcomeThrottled, 7 * time.Second, 0},
		{"join: permanent beats partial", errors.Join(partial(2), permanent), outcomePermanent, 0, 0},
		{"join: partials add up", errors.Join(partial(2), partial(5)), outcomePartial, 0, 7},
		{"nested join", errors.Join(errors.Join(partial(1)), errors.Join(partial(1), throttle(time.Second))), outcomeThrottled, time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := classify(tc.err)
			if o.kind != tc.kind {
				t.Fatalf("kind %d, want %d", o.kind, tc.kind)
			}
			if o.retryable() && o.retryDelay() != tc.delay {
				t.Errorf("retry delay %v, want %v", o.retryDelay(), tc.delay)
			}
			if o.kind == outcomePartial && o.rejected != tc.rejected {
				t.Errorf("rejected %d, want %d", o.rejected, tc.rejected)
			}
			if tc.err != nil && o.message() == "" {
				t.Error("no message")
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "1",
		time.Millisecond:        "1",
		time.Second:             "1",
		1001 * time.Millisecond: "2",
		2 * time.Second:         "2",
		90 * time.Second:        "90",
	} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %q, want %q", d, got, want)
		}
	}
}
