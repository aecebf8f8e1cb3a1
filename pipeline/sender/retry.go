package sender

import (
	"errors"
	"fmt"
	"time"
)

// RetryConfig is the `retry_on_failure` section of an exporter: exponential
// backoff with jitter between attempts to send one request.
//
// The n-th retry waits InitialInterval·Multiplierⁿ⁻¹, capped at MaxInterval,
// and then spread uniformly by ±RandomizationFactor of itself (so with the
// defaults a 30s interval becomes a wait between 15s and 45s: the cap applies
// before the jitter, which keeps senders that fail together from retrying in
// step). A throttle hint from the far side (HTTP Retry-After, gRPC RetryInfo)
// replaces the backoff wait. No wait ends after MaxElapsedTime has passed
// since the first attempt: the last wait is shortened to end then, and a
// failure after that gives up.
type RetryConfig struct {
	// Enabled turns retries on; when false a request gets one attempt.
	Enabled bool `yaml:"enabled"`
	// InitialInterval is the wait before the first retry.
	InitialInterval time.Duration `yaml:"initial_interval"`
	// MaxInterval caps the wait between retries (before jitter).
	MaxInterval time.Duration `yaml:"max_interval"`
	// MaxElapsedTime bounds the time spent on one request, from its first
	// attempt; 0 means no bound (retry until delivered, refused for good,
	// or shut down).
	MaxElapsedTime time.Duration `yaml:"max_elapsed_time"`
	// Multiplier is the growth of the interval from one retry to the next
	// (at least 1).
	Multiplier float64 `yaml:"multiplier"`
	// RandomizationFactor is the jitter, a fraction in [0, 1] of the
	// interval.
	RandomizationFactor float64 `yaml:"randomization_factor"`
}

// Default retry settings.
const (
	DefaultInitialInterval     = 5 * time.Second
	DefaultMaxInterval         = 30 * time.Second
	DefaultMaxElapsedTime      = 300 * time.Second
	DefaultMultiplier          = 1.5
	DefaultRandomizationFactor = 0.5
)

// DefaultRetryConfig returns the default retry settings, with retries on.
func DefaultRetryConfig() RetryConfig {
	return RetryConfig{
		Enabled:             true,
		InitialInterval:     DefaultInitialInterval,
		MaxInterval:         DefaultMaxInterval,
		MaxElapsedTime:      DefaultMaxElapsedTime,
		Multiplier:          DefaultMultiplier,
		RandomizationFactor: DefaultRandomizationFactor,
	}
}

// Validate reports every invalid field, named by its YAML key. The fields
// are checked even when retries are disabled, so that turning them on
// cannot reveal a latent error.
func (c RetryConfig) Validate() error {
	var errs []error
	if c.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("initial_interval: must be positive, got %s", c.InitialInterval))
	}
	if c.MaxInterval <= 0 {
		errs = append(errs, fmt.Errorf("max_interval: must be positive, got %s", c.MaxInterval))
	} else if c.MaxInterval < c.InitialInterval {
		errs = append(errs, fmt.Errorf("max_interval: must be at least initial_interval (%s), got %s", c.InitialInterval, c.MaxInterval))
	}
	if c.MaxElapsedTime < 0 {
		errs = append(errs, fmt.Errorf("max_elapsed_time: must not be negative (0 means no limit), got %s", c.MaxElapsedTime))
	}
	if !(c.Multiplier >= 1) { // also catches NaN
		errs = append(errs, fmt.Errorf("multiplier: must be at least 1, got %g", c.Multiplier))
	}
	if !(c.RandomizationFactor >= 0 && c.RandomizationFactor <= 1) {
		errs = append(errs, fmt.Errorf("randomization_factor: must be between 0 and 1, got %g", c.RandomizationFactor))
	}
	return errors.Join(errs...)
}

// backoff computes the waits of one request's retries.
type backoff struct {
	cfg      RetryConfig
	interval time.Duration // the next interval before jitter; 0 before the first
}

// next returns the wait before the next retry; r is a uniform random number
// in [0, 1) that places the wait within the jitter range.
func (b *backoff) next(r float64) time.Duration {
	if b.interval == 0 {
		b.interval = b.cfg.InitialInterval
	}
	iv := b.interval
	// Grow in float and compare before converting: a large multiplier
	// could overflow time.Duration.
	grown := float64(iv) * b.cfg.Multiplier
	if grown >= float64(b.cfg.MaxInterval) {
		b.interval = b.cfg.MaxInterval
	} else {
		b.interval = time.Duration(grown)
	}
	return jitter(iv, b.cfg.RandomizationFactor, r)
}

// jitter spreads iv uniformly over [iv·(1−f), iv·(1+f)) as r goes over
// [0, 1).
func jitter(iv time.Duration, f, r float64) time.Duration {
	if f == 0 {
		return iv
	}
	delta := f * float64(iv)
	lo := float64(iv) - delta
	return time.Duration(lo + r*2*delta)
}
