package throttleprocessor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// Default values of the configuration.
const (
	DefaultThreshold    = 100
	DefaultWindow       = time.Second
	DefaultKeepSeverity = "ERROR"
	DefaultMaxStreams   = 10000
)

// DefaultKeyFields is the stream key when key_fields is not set.
var DefaultKeyFields = []string{"resource.service.name"}

// Config is the throttle processor's configuration. threshold and window
// are Vector's `throttle` transform's (threshold, window_secs): each
// stream may pass threshold records per window, as a token bucket of
// threshold tokens refilled at threshold/window per second (the GCRA
// Vector uses is this bucket).
type Config struct {
	// Threshold is the records a stream may pass per window, and the burst
	// it may pass at once after being quiet (≥ 1).
	Threshold int `yaml:"threshold"`
	// Window is the time over which threshold records may pass (> 0).
	Window time.Duration `yaml:"window"`
	// KeyFields name the values that make up a stream's key:
	// `resource.<key>` (a resource attribute) or `attributes.<key>` (a
	// record attribute); the key is everything after the first dot, dots
	// included. A missing value counts as empty. Empty list: one stream.
	KeyFields []string `yaml:"key_fields"`
	// KeepSeverity: records at or above this severity are always kept and
	// take no tokens. One of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; ""
	// keeps none.
	KeepSeverity string `yaml:"keep_severity"`
	// MaxStreams bounds the token buckets kept (≥ 1). A bucket that has
	// refilled is forgotten when room is needed; while all are in use,
	// records of new streams share one overflow bucket of the same size.
	MaxStreams int `yaml:"max_streams"`
}

func createDefaultConfig() *Config {
	return &Config{
		Threshold:    DefaultThreshold,
		Window:       DefaultWindow,
		KeyFields:    append([]string(nil), DefaultKeyFields...),
		KeepSeverity: DefaultKeepSeverity,
		MaxStreams:   DefaultMaxStreams,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Threshold < 1 {
		errs = append(errs, fmt.Errorf("threshold: must be ≥ 1 (got %d)", c.Threshold))
	}
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window: must be > 0 (got %s)", c.Window))
	}
	for i, f := range c.KeyFields {
		if _, err := parseKeyField(f); err != nil {
			errs = append(errs, fmt.Errorf("key_fields[%d]: %w", i, err))
		}
	}
	if _, err := parseKeepSeverity(c.KeepSeverity); err != nil {
		errs = append(errs, fmt.Errorf("keep_severity: %w", err))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("max_streams: must be ≥ 1 (got %d)", c.MaxStreams))
	}
	return errors.Join(errs...)
}

// keyField is a parsed key_fields entry.
type keyField struct {
	resource bool
	key      string
}

func parseKeyField(s string) (keyField, error) {
	root, key, ok := strings.Cut(s, ".")
	if !ok || key == "" {
		return keyField{}, fmt.Errorf("%q: want resource.<key> or attributes.<key>", s)
	}
	switch root {
	case "resource":
		return keyField{resource: true, key: key}, nil
	case "attributes":
		return keyField{key: key}, nil
	}
	return keyField{}, fmt.Errorf("%q: want resource.<key> or attributes.<key>", s)
}

// severityNames maps the severity names of the OpenTelemetry log data
// model to the lowest severity number of their range.
var severityNames = map[string]plog.SeverityNumber{
	"TRACE": plog.SeverityNumberTrace,
	"DEBUG": plog.SeverityNumberDebug,
	"INFO":  plog.SeverityNumberInfo,
	"WARN":  plog.SeverityNumberWarn,
	"ERROR": plog.SeverityNumberError,
	"FATAL": plog.SeverityNumberFatal,
}

// parseKeepSeverity returns the lowest severity number always kept; 0
// (keep none) for "".
func parseKeepSeverity(s string) (plog.SeverityNumber, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := severityNames[strings.ToUpper(s)]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("%q: want one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, or \"\" to keep none", s)
}
