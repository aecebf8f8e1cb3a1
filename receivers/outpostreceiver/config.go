package outpostreceiver

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Defaults.
const (
	DefaultCollectionInterval = time.Minute
	DefaultInitialDelay       = time.Second
)

// DefaultInclude selects outpost's own families and the process's (RSS,
// CPU seconds, open files, start time), not the Go runtime's go_*
// families (about 40 series that matter only when debugging outpost).
var DefaultInclude = []string{"outpost_.*", "process_.*"}

// Config configures an outpost receiver.
type Config struct {
	// CollectionInterval is the time between two readings (default 1m).
	CollectionInterval time.Duration `yaml:"collection_interval"`
	// InitialDelay is the wait after start before the first reading
	// (default 1s).
	InitialDelay time.Duration `yaml:"initial_delay"`
	// Include lists regular expressions, anchored at both ends as in
	// Prometheus relabelling, of the metric family names to read
	// (default outpost_.* and process_.*); Exclude removes names from
	// those (default none).
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

func createDefaultConfig() *Config {
	return &Config{
		CollectionInterval: DefaultCollectionInterval,
		InitialDelay:       DefaultInitialDelay,
		Include:            append([]string(nil), DefaultInclude...),
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.CollectionInterval <= 0 {
		errs = append(errs, fmt.Errorf("collection_interval: must be > 0 (got %s)", c.CollectionInterval))
	}
	if c.InitialDelay < 0 {
		errs = append(errs, fmt.Errorf("initial_delay: must be ≥ 0 (got %s)", c.InitialDelay))
	}
	if len(c.Include) == 0 {
		errs = append(errs, errors.New("include: must list at least one pattern"))
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"include", c.Include}, {"exclude", c.Exclude}} {
		for i, p := range l.list {
			if _, err := compile(p); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: invalid regular expression: %w", l.key, i, err))
			}
		}
	}
	return errors.Join(errs...)
}

// compile anchors a pattern at both ends.
func compile(p string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + p + ")$")
}
