package sender

import (
	"errors"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/internal/units"
)

// BatchConfig is the `queue.batch` section of an exporter: how senders
// merge consecutive queued records of one lane, signal and encoding into
// one wire request (compressed once) when they send. Batching happens
// after the client's acknowledgement (the records are already queued), so
// none of these settings delays a client; they trade delivery latency and
// request size on the uplink. Names as in the OpenTelemetry Collector's
// exporter batching (exporterhelper `sending_queue.batch`), counted in
// items (spans, data points, log records).
type BatchConfig struct {
	// MinSize is the number of items a sender waits for, at most
	// FlushTimeout, before it sends a request; a request is sent at once
	// when MinSize items or more are queued, or more important data is
	// waiting. The high lane never waits. Default 8192; 0 never waits.
	MinSize int `yaml:"min_size"`
	// MaxSize bounds the items of one request: records are added while the
	// sum stays at or below it. A record larger than MaxSize on its own is
	// sent alone, unsplit. Default 16384; 1 sends each record on its own.
	MaxSize int `yaml:"max_size"`
	// MaxBytes bounds the uncompressed body of one request (the far
	// side's receive limit is on it: 4 MiB by default for gRPC servers,
	// Loki and Prometheus alike). Default 3MiB. A record larger on its own
	// is sent alone. Under an uplink budget a request is also kept to about
	// 100 ms of the budget's rate (compressed; the ratio of the previous
	// request estimates it), since a request waiting for the budget holds
	// more important data back.
	MaxBytes units.ByteSize `yaml:"max_bytes"`
	// FlushTimeout is how long a record (of the normal or low lane) may
	// wait, from its creation, for others to join it while fewer than
	// MinSize items are queued.
	// Default 1s; 0 sends what is queued at once.
	FlushTimeout time.Duration `yaml:"flush_timeout"`
}

// Batch defaults (see BatchConfig for why).
const (
	DefaultBatchMinSize      = 8192
	DefaultBatchMaxSize      = 16384
	DefaultBatchMaxBytes     = 3 << 20
	DefaultBatchFlushTimeout = time.Second
	// maxBatchBytes bounds max_bytes: a sender holds up to twice that
	// (records and the compressed request) per consumer.
	maxBatchBytes = 64 << 20
)

// DefaultBatchConfig returns the default batching.
func DefaultBatchConfig() BatchConfig {
	return BatchConfig{
		MinSize:      DefaultBatchMinSize,
		MaxSize:      DefaultBatchMaxSize,
		MaxBytes:     DefaultBatchMaxBytes,
		FlushTimeout: DefaultBatchFlushTimeout,
	}
}

// Validate reports every invalid field, named by its YAML key under
// batch.
func (c BatchConfig) Validate() error {
	var errs []error
	if c.MinSize < 0 {
		errs = append(errs, fmt.Errorf("batch.min_size: must not be negative, got %d", c.MinSize))
	}
	if c.MaxSize < 1 {
		errs = append(errs, fmt.Errorf("batch.max_size: must be at least 1, got %d", c.MaxSize))
	} else if c.MinSize > c.MaxSize {
		errs = append(errs, fmt.Errorf("batch.min_size: must not exceed batch.max_size (%d), got %d", c.MaxSize, c.MinSize))
	}
	if c.MaxBytes <= 0 || c.MaxBytes > maxBatchBytes {
		errs = append(errs, fmt.Errorf("batch.max_bytes: must be between 1 and 64MiB, got %s", c.MaxBytes))
	}
	if c.FlushTimeout < 0 {
		errs = append(errs, fmt.Errorf("batch.flush_timeout: must not be negative, got %s", c.FlushTimeout))
	}
	return errors.Join(errs...)
}
