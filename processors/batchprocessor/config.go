package batchprocessor

import (
	"errors"
	"fmt"
	"time"
)

// maxInFlightLimit bounds max_in_flight: each allowed flush is served by
// one long-lived goroutine, so the setting is also the goroutine count.
const maxInFlightLimit = 64

// Config is the batch processor's configuration.
type Config struct {
	// SendBatchSize is the number of items (spans, metric data points, log
	// records) at which a batch is sent without waiting further. It is also
	// the point at which the pending batch is full: while every allowed
	// flush is in flight, callers wait rather than grow it further.
	SendBatchSize int `yaml:"send_batch_size"`
	// SendBatchMaxSize caps the items in one batch; larger requests are
	// split. 0 means no cap: one request is never split, so a batch may
	// exceed SendBatchSize by the size of the request that crossed it.
	// When set, it must be at least SendBatchSize.
	SendBatchMaxSize int `yaml:"send_batch_max_size"`
	// Timeout is the longest the oldest item of a batch waits before the
	// batch is sent regardless of its size. 0 sends every batch as soon as
	// a flush slot is free.
	Timeout time.Duration `yaml:"timeout"`
	// FlushWhenIdle sends the pending batch as soon as no flush of this
	// processor is in flight (group commit), so batching adds no latency at
	// low load and batches grow only while a previous flush is in flight.
	// false waits for SendBatchSize or Timeout, as the OpenTelemetry
	// Collector's batch processor does.
	FlushWhenIdle bool `yaml:"flush_when_idle"`
	// MaxInFlight is the number of batches that may be handed to the next
	// consumer at once (1 to 64).
	MaxInFlight int `yaml:"max_in_flight"`
}

func createDefaultConfig() *Config {
	return &Config{
		SendBatchSize:    8192,
		SendBatchMaxSize: 0,
		Timeout:          200 * time.Millisecond,
		FlushWhenIdle:    true,
		MaxInFlight:      2,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.SendBatchSize <= 0 {
		errs = append(errs, fmt.Errorf("send_batch_size: must be > 0 (got %d)", c.SendBatchSize))
	}
	if c.SendBatchMaxSize < 0 || (c.SendBatchMaxSize > 0 && c.SendBatchMaxSize < c.SendBatchSize) {
		errs = append(errs, fmt.Errorf("send_batch_max_size: must be 0 or ≥ send_batch_size (got %d, send_batch_size %d)",
			c.SendBatchMaxSize, c.SendBatchSize))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be ≥ 0 (got %s)", c.Timeout))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > maxInFlightLimit {
		errs = append(errs, fmt.Errorf("max_in_flight: must be between 1 and %d (got %d)", maxInFlightLimit, c.MaxInFlight))
	}
	return errors.Join(errs...)
}
