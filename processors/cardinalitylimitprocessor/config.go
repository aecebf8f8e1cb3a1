package cardinalitylimitprocessor

import (
	"errors"
	"fmt"
	"time"
)

// Default values of the configuration.
const (
	// DefaultLimit is the OpenTelemetry SDK's default cardinality limit.
	DefaultLimit       = 2000
	DefaultExpireAfter = 5 * time.Minute
	DefaultMaxSeries   = 50000
)

// Config is the cardinality_limit processor's configuration.
type Config struct {
	// Limit is the number of distinct point attribute sets each metric
	// stream (resource, scope, metric name and kind) may have (≥ 1);
	// points of further attribute sets are folded into the stream's one
	// overflow series.
	Limit int `yaml:"limit"`
	// ExpireAfter is how long a series may go unseen before it is
	// forgotten, freeing its room under limit and max_series (> 0).
	ExpireAfter time.Duration `yaml:"expire_after"`
	// MaxSeries bounds the series the processor tracks over all streams:
	// admitted series, overflow series and the overflowed cumulative
	// series whose last value it keeps (≥ limit).
	MaxSeries int `yaml:"max_series"`
}

func createDefaultConfig() *Config {
	return &Config{Limit: DefaultLimit, ExpireAfter: DefaultExpireAfter, MaxSeries: DefaultMaxSeries}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Limit < 1 {
		errs = append(errs, fmt.Errorf("limit: must be ≥ 1 (got %d)", c.Limit))
	}
	if c.ExpireAfter <= 0 {
		errs = append(errs, fmt.Errorf("expire_after: must be > 0 (got %s)", c.ExpireAfter))
	}
	if c.MaxSeries < c.Limit || c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("max_series: must be ≥ limit (got %d, limit %d)", c.MaxSeries, c.Limit))
	}
	return errors.Join(errs...)
}
