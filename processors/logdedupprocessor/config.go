package logdedupprocessor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

// Default values of the configuration.
const (
	DefaultInterval          = 10 * time.Second
	DefaultLogCountAttribute = "log_count"
	DefaultTimezone          = "UTC"
	DefaultMaxBytes          = 16 << 20
)

// Config is the log_dedup processor's configuration. The keys are the
// OpenTelemetry Collector contrib log_dedup processor's, less `conditions`
// (OTTL, which outpost does not carry), `include_fields` and
// `metadata_keys`, plus max_bytes.
type Config struct {
	// Interval is how long identical records are gathered before one record
	// standing for all of them is sent on (> 0).
	Interval time.Duration `yaml:"interval"`
	// LogCountAttribute is the attribute of an emitted record that holds
	// the number of records it stands for (an int).
	LogCountAttribute string `yaml:"log_count_attribute"`
	// Timezone is the IANA time zone in which first_observed_timestamp and
	// last_observed_timestamp are written (RFC 3339 strings).
	Timezone string `yaml:"timezone"`
	// ExcludeFields are fields that do not count when comparing records and
	// are removed from every record: `attributes.<key>` or
	// `body.<key>` (the body must then be a map), nested keys joined by
	// `.`, a `.` inside a key written `\.`. The whole body cannot be
	// excluded.
	ExcludeFields []string `yaml:"exclude_fields"`
	// MaxBytes bounds the estimated memory of the held records (see the
	// package documentation for the estimate). A record that is not
	// identical to a held one and does not fit is passed on at once.
	MaxBytes configs.ByteSize `yaml:"max_bytes"`
}

func createDefaultConfig() *Config {
	return &Config{
		Interval:          DefaultInterval,
		LogCountAttribute: DefaultLogCountAttribute,
		Timezone:          DefaultTimezone,
		MaxBytes:          DefaultMaxBytes,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("interval: must be > 0 (got %s)", c.Interval))
	}
	if c.LogCountAttribute == "" {
		errs = append(errs, errors.New("log_count_attribute: must not be empty"))
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil {
		errs = append(errs, fmt.Errorf("timezone: %w", err))
	}
	for i, f := range c.ExcludeFields {
		if _, err := parseField(f); err != nil {
			errs = append(errs, fmt.Errorf("exclude_fields[%d]: %w", i, err))
		}
	}
	if c.MaxBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must be > 0 (got %s)", c.MaxBytes))
	}
	return errors.Join(errs...)
}

// fieldPath is a parsed exclude_fields entry.
type fieldPath struct {
	body bool     // in the body (a map); else in the attributes
	keys []string // nested keys, at least one
}

// parseField parses `attributes.a.b` or `body.a\.b`.
func parseField(s string) (fieldPath, error) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '.':
			cur.WriteByte('.')
			i++
		case s[i] == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	var p fieldPath
	switch parts[0] {
	case "body":
		p.body = true
	case "attributes":
	default:
		return p, fmt.Errorf("%q: must start with \"body.\" or \"attributes.\" (got %q)", s, parts[0])
	}
	if len(parts) < 2 {
		return p, fmt.Errorf("%q: names no field (the whole body or all attributes cannot be excluded)", s)
	}
	for _, k := range parts[1:] {
		if k == "" {
			return p, fmt.Errorf("%q: empty key", s)
		}
	}
	p.keys = parts[1:]
	return p, nil
}
