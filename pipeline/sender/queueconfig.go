package sender

import (
	"errors"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/internal/units"
	"github.com/outpost-edge/outpost/pipeline/queue"
)

// QueueConfig is the `queue` section of an exporter: the durable queue
// between the exporter's encoder and its senders. See pipeline/queue for
// the on-disk format and the guarantees.
type QueueConfig struct {
	// Enabled puts the queue in front of the senders (default true). When
	// false, a batch is sent on the caller's goroutine and the client's
	// acknowledgement waits for the far side's.
	Enabled bool `yaml:"enabled"`
	// Kind is disk (default: survives restarts, crashes and power cuts per
	// fsync) or memory (lost on exit; reserved out of memory_limit).
	Kind string `yaml:"kind"`
	// MaxBytes bounds the queue: bytes of segment files on disk, or bytes
	// held in memory. Default 256MiB.
	MaxBytes units.ByteSize `yaml:"max_bytes"`
	// MaxAge drops records older than this instead of sending them, and
	// ends the retries of a record once it is this old; 0 (default) keeps
	// records until they are delivered or refused for good.
	MaxAge time.Duration `yaml:"max_age"`
	// FullPolicy is what happens when the queue is full: block (default:
	// refuse new data, so receivers answer 429 / RESOURCE_EXHAUSTED) or
	// drop_oldest (drop the oldest records, lowest lane first).
	FullPolicy string `yaml:"full_policy"`
	// Fsync is when a disk queue forces its writes to stable storage:
	// interval (default: every FsyncInterval, so a power cut loses at most
	// that much acknowledged data; a crash of outpost alone loses nothing)
	// or always (before each batch is acknowledged: nothing acknowledged is
	// lost even on a power cut, at the cost of one fsync per batch).
	Fsync string `yaml:"fsync"`
	// FsyncInterval is the interval of `fsync: interval`. Default 1s.
	FsyncInterval time.Duration `yaml:"fsync_interval"`
	// Consumers is the number of senders draining the queue (default 1,
	// which delivers each lane in order; more send in parallel, and order
	// holds only within each sender).
	Consumers int `yaml:"consumers"`
	// UplinkWeight is this exporter's share of the uplink budget relative
	// to the other exporters that are waiting for it (default 1).
	UplinkWeight float64 `yaml:"uplink_weight"`
	// Batch is how senders merge queued records into wire requests.
	Batch BatchConfig `yaml:"batch"`
}

// Queue defaults.
const (
	DefaultQueueMaxBytes      = 256 << 20
	DefaultQueueFsyncInterval = time.Second
)

// DefaultQueueConfig returns the default queue: on disk, 256MiB, blocking
// when full, fsync every second, one sender.
func DefaultQueueConfig() QueueConfig {
	return QueueConfig{
		Enabled:       true,
		Kind:          string(queue.KindDisk),
		MaxBytes:      DefaultQueueMaxBytes,
		FullPolicy:    string(queue.FullBlock),
		Fsync:         string(queue.FsyncInterval),
		FsyncInterval: DefaultQueueFsyncInterval,
		Consumers:     1,
		UplinkWeight:  1,
		Batch:         DefaultBatchConfig(),
	}
}

// Validate reports every invalid field, named by its YAML key.
func (c QueueConfig) Validate() error {
	var errs []error
	switch queue.Kind(c.Kind) {
	case queue.KindDisk, queue.KindMemory:
	default:
		errs = append(errs, fmt.Errorf("kind: must be disk or memory, got %q", c.Kind))
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be positive, got %s", c.MaxBytes))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("max_age: must not be negative (0 means no limit), got %s", c.MaxAge))
	}
	switch queue.FullPolicy(c.FullPolicy) {
	case queue.FullBlock, queue.FullDropOldest:
	default:
		errs = append(errs, fmt.Errorf("full_policy: must be block or drop_oldest, got %q", c.FullPolicy))
	}
	switch queue.FsyncPolicy(c.Fsync) {
	case queue.FsyncAlways, queue.FsyncInterval:
	default:
		errs = append(errs, fmt.Errorf("fsync: must be always or interval, got %q", c.Fsync))
	}
	if c.FsyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("fsync_interval: must be positive, got %s", c.FsyncInterval))
	}
	if c.Consumers < 1 || c.Consumers > 64 {
		errs = append(errs, fmt.Errorf("consumers: must be between 1 and 64, got %d", c.Consumers))
	}
	if !(c.UplinkWeight > 0) {
		errs = append(errs, fmt.Errorf("uplink_weight: must be positive, got %g", c.UplinkWeight))
	}
	errs = append(errs, c.Batch.Validate())
	return errors.Join(errs...)
}

// DiskBytes is what the queue may keep on disk: MaxBytes for an enabled
// disk queue, else 0. Exporter configurations return it from
// StorageBytes (pipeline.StorageUser).
func (c QueueConfig) DiskBytes() int64 {
	if !c.Enabled || queue.Kind(c.Kind) != queue.KindDisk {
		return 0
	}
	return int64(c.MaxBytes)
}

// limits returns the queue.Limits of c.
func (c QueueConfig) limits() queue.Limits {
	return queue.Limits{
		MaxBytes:      int64(c.MaxBytes),
		MaxAge:        c.MaxAge,
		FullPolicy:    queue.FullPolicy(c.FullPolicy),
		Fsync:         queue.FsyncPolicy(c.Fsync),
		FsyncInterval: c.FsyncInterval,
	}
}
