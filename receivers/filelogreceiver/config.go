package filelogreceiver

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/outpost-edge/outpost/configs"
)

// Defaults, as the OpenTelemetry Collector's filelog receiver where it has
// the key.
const (
	DefaultPollInterval       = 200 * time.Millisecond
	DefaultFingerprintSize    = 1000 // bytes
	DefaultMaxLogSize         = 1 << 20
	DefaultMaxConcurrentFiles = 1024
	DefaultForceFlushPeriod   = 500 * time.Millisecond
	DefaultMaxBatchSize       = 1000 // lines
	DefaultEncoding           = "utf-8"
	StartAtBeginning          = "beginning"
	StartAtEnd                = "end"
)

// minFingerprintSize is the smallest fingerprint_size accepted: shorter
// prefixes make unrelated files (same header, same date) look alike.
const minFingerprintSize = 16

// Config configures a filelog receiver. Keys follow the OpenTelemetry
// Collector's filelog receiver where it has them.
type Config struct {
	// Include lists doublestar globs (`**` crosses directories) of the
	// files to read. At least one is required.
	Include []string `yaml:"include"`
	// Exclude lists globs of files not to read even when included.
	Exclude []string `yaml:"exclude"`
	// StartAt is where a file found at the very first poll (when no
	// checkpoint exists yet) is read from: `end` (default, as the
	// Collector) or `beginning`. Files found later, and every file after a
	// checkpoint exists, are read from their beginning.
	StartAt string `yaml:"start_at"`
	// PollInterval is the time between two scans of the globs. Default 200ms.
	PollInterval time.Duration `yaml:"poll_interval"`
	// FingerprintSize is how many of a file's first bytes identify it
	// across renames. Default 1000 (bytes), at least 16.
	FingerprintSize configs.ByteSize `yaml:"fingerprint_size"`
	// MaxLogSize caps one log record's body in bytes; a longer line is
	// split into several records (counted, reason `split`). Default 1MiB.
	MaxLogSize configs.ByteSize `yaml:"max_log_size"`
	// MaxConcurrentFiles caps the files open at once; a poll takes the
	// matched files in groups of this many. Default 1024.
	MaxConcurrentFiles int `yaml:"max_concurrent_files"`
	// MaxBatchSize caps the lines of one batch handed to the pipeline; the
	// checkpoint advances per accepted batch, so it is also the most lines
	// a crash can deliver twice per file. Default 1000.
	MaxBatchSize int `yaml:"max_batch_size"`
	// Encoding of the files: utf-8 (default), ascii, latin1 (iso-8859-1),
	// utf-16le, utf-16be, or nop (no splitting: up to max_log_size bytes
	// per record, body as bytes). Bytes that do not decode become U+FFFD
	// (counted, reason `invalid_encoding`), since OTLP strings are UTF-8.
	Encoding string `yaml:"encoding"`
	// ForceFlushPeriod is how long an unterminated last line waits for
	// its end before it is sent as it is. Default 500ms; 0 never sends an
	// unterminated line.
	ForceFlushPeriod time.Duration `yaml:"force_flush_period"`
	// Multiline splits records by a start or an end pattern instead of
	// newlines.
	Multiline MultilineConfig `yaml:"multiline"`
	// PreserveLeadingWhitespaces and PreserveTrailingWhitespaces keep the
	// whitespace the receiver otherwise trims from each record.
	PreserveLeadingWhitespaces  bool `yaml:"preserve_leading_whitespaces"`
	PreserveTrailingWhitespaces bool `yaml:"preserve_trailing_whitespaces"`
	// IncludeFileName adds the attribute log.file.name (default true),
	// IncludeFilePath log.file.path, and the _resolved variants the same
	// after following symbolic links.
	IncludeFileName         bool `yaml:"include_file_name"`
	IncludeFilePath         bool `yaml:"include_file_path"`
	IncludeFileNameResolved bool `yaml:"include_file_name_resolved"`
	IncludeFilePathResolved bool `yaml:"include_file_path_resolved"`
	// Compression of the files: "" (none), `gzip` (every file), `auto`
	// (gzip for files ending in .gz). A compressed file is read once,
	// whole; it must not grow.
	Compression string `yaml:"compression"`
	// Parser, when set, parses each record's body into attributes and
	// takes its timestamp and severity from parsed fields.
	Parser *ParserConfig `yaml:"parser"`
}

// MultilineConfig is one of line_start_pattern or line_end_pattern
// (regular expressions, Go RE2 syntax, matched in multi-line mode).
type MultilineConfig struct {
	LineStartPattern string `yaml:"line_start_pattern"`
	LineEndPattern   string `yaml:"line_end_pattern"`
	// OmitPattern drops the matched start or end pattern from the record.
	OmitPattern bool `yaml:"omit_pattern"`
}

// Parser types.
const (
	ParserJSON   = "json"
	ParserRegex  = "regex"
	ParserLogfmt = "logfmt"
)

// ParserConfig parses each record's body. The fields parsed become the
// record's attributes (the body stays the original line unless body_from
// names a field).
type ParserConfig struct {
	// Type is json (a JSON object per record), regex (named capture
	// groups of Regex) or logfmt (key=value pairs).
	Type string `yaml:"type"`
	// Regex is the pattern of the regex parser (Go RE2 syntax); its named
	// groups become attributes, unmatched groups are left out.
	Regex string `yaml:"regex"`
	// BodyFrom names a parsed field whose value becomes the body (and
	// which is then not repeated as an attribute).
	BodyFrom string `yaml:"body_from"`
	// Timestamp takes the record's timestamp from a parsed field.
	Timestamp *TimestampConfig `yaml:"timestamp"`
	// Severity takes the record's severity from a parsed field.
	Severity *SeverityConfig `yaml:"severity"`
}

// Timestamp layout types, as the Collector's time parser.
const (
	LayoutStrptime = "strptime"
	LayoutGotime   = "gotime"
	LayoutEpoch    = "epoch"
)

// TimestampConfig parses a field into the record's timestamp.
type TimestampConfig struct {
	// ParseFrom is the parsed field holding the time.
	ParseFrom string `yaml:"parse_from"`
	// LayoutType is strptime (default; %Y-%m-%dT%H:%M:%S.%f%z style, see
	// docs), gotime (a Go reference layout such as 2006-01-02T15:04:05Z07:00)
	// or epoch (layout s, ms, us, ns, or s.ms / s.us / s.ns for seconds with
	// a fraction).
	LayoutType string `yaml:"layout_type"`
	// Layout is the time layout in the syntax of LayoutType.
	Layout string `yaml:"layout"`
	// Location is the IANA time zone of times without an offset. Default UTC.
	Location string `yaml:"location"`
}

// SeverityConfig parses a field into the record's severity number and text.
type SeverityConfig struct {
	// ParseFrom is the parsed field holding the level. Its text becomes
	// the severity text; the number comes from Mapping, then from the
	// default names (trace, debug, info, notice, warn, warning, error,
	// err, critical, crit, fatal, alert, emerg, panic, any case) and
	// OpenTelemetry's own numbers 1..24.
	ParseFrom string `yaml:"parse_from"`
	// Mapping maps a level text (any case) to an OpenTelemetry severity
	// name (trace, debug, info, warn, error, fatal, optionally with a
	// digit 2..4 such as error3).
	Mapping map[string]string `yaml:"mapping"`
}

func createDefaultConfig() *Config {
	return &Config{
		StartAt:            StartAtEnd,
		PollInterval:       DefaultPollInterval,
		FingerprintSize:    DefaultFingerprintSize,
		MaxLogSize:         DefaultMaxLogSize,
		MaxConcurrentFiles: DefaultMaxConcurrentFiles,
		MaxBatchSize:       DefaultMaxBatchSize,
		Encoding:           DefaultEncoding,
		ForceFlushPeriod:   DefaultForceFlushPeriod,
		IncludeFileName:    true,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Include) == 0 {
		errs = append(errs, errors.New("include: at least one glob is required"))
	}
	for i, g := range c.Include {
		if !doublestar.ValidatePathPattern(g) {
			errs = append(errs, fmt.Errorf("include[%d]: invalid glob %q", i, g))
		}
	}
	for i, g := range c.Exclude {
		if !doublestar.ValidatePathPattern(g) {
			errs = append(errs, fmt.Errorf("exclude[%d]: invalid glob %q", i, g))
		}
	}
	if c.StartAt != StartAtBeginning && c.StartAt != StartAtEnd {
		errs = append(errs, fmt.Errorf("start_at: must be beginning or end (got %q)", c.StartAt))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll_interval: must be > 0 (got %s)", c.PollInterval))
	}
	if c.FingerprintSize < minFingerprintSize || c.FingerprintSize > 1<<20 {
		errs = append(errs, fmt.Errorf("fingerprint_size: must be between %d and 1MiB (got %d)", minFingerprintSize, c.FingerprintSize))
	}
	if c.MaxLogSize <= 0 || c.MaxLogSize > 64<<20 {
		errs = append(errs, fmt.Errorf("max_log_size: must be between 1 and 64MiB (got %d)", c.MaxLogSize))
	}
	if c.MaxConcurrentFiles < 1 {
		errs = append(errs, fmt.Errorf("max_concurrent_files: must be ≥ 1 (got %d)", c.MaxConcurrentFiles))
	}
	if c.MaxBatchSize < 1 || c.MaxBatchSize > 100000 {
		errs = append(errs, fmt.Errorf("max_batch_size: must be between 1 and 100000 (got %d)", c.MaxBatchSize))
	}
	if c.ForceFlushPeriod < 0 {
		errs = append(errs, fmt.Errorf("force_flush_period: must be ≥ 0 (got %s)", c.ForceFlushPeriod))
	}
	enc, err := lookupEncoding(c.Encoding)
	if err != nil {
		errs = append(errs, fmt.Errorf("encoding: %w", err))
	}
	m := c.Multiline
	if m.LineStartPattern != "" && m.LineEndPattern != "" {
		errs = append(errs, errors.New("multiline: set only one of line_start_pattern, line_end_pattern"))
	}
	for key, p := range map[string]string{"line_start_pattern": m.LineStartPattern, "line_end_pattern": m.LineEndPattern} {
		if p == "" {
			continue
		}
		if _, err := regexp.Compile(p); err != nil {
			errs = append(errs, fmt.Errorf("multiline.%s: %w", key, err))
		}
		if err == nil && enc.nop {
			errs = append(errs, fmt.Errorf("multiline.%s: not with encoding nop", key))
		}
	}
	switch c.Compression {
	case "", "gzip", "auto":
	default:
		errs = append(errs, fmt.Errorf("compression: must be gzip or auto, or unset (got %q)", c.Compression))
	}
	if c.Parser != nil {
		if _, err := newParser(c.Parser); err != nil {
			errs = append(errs, fmt.Errorf("parser: %w", err))
		}
	}
	return errors.Join(errs...)
}
