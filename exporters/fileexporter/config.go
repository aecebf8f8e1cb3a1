package fileexporter

import (
	"errors"
	"fmt"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

// FormatJSON is OTLP JSON, one Export*ServiceRequest per line.
const FormatJSON = "json"

// Config configures a file exporter.
type Config struct {
	// Path is the file written to. Required. Its directory is created if
	// missing.
	Path string `yaml:"path"`
	// Format is the encoding of each line; only "json" (OTLP JSON, the
	// OpenTelemetry Collector file exporter's format) for now.
	Format string `yaml:"format"`
	// FlushInterval is how often buffered lines are written to the file.
	// Default 1s; 0 writes every batch before ConsumeX returns.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// FSync makes every flush also fsync the file, so that what was flushed
	// survives a power cut. Default false.
	FSync bool `yaml:"fsync"`
	// Rotation, when set, caps the file's size. Naming the section
	// ("rotation: {}") enables it with its defaults.
	Rotation *Rotation `yaml:"rotation"`
}

// Rotation caps the size of the file: when a line would take the file past
// MaxSize, the file is renamed to <path>.1 (older backups shift up to
// <path>.2 ...), backups beyond MaxBackups are removed, and a new file is
// started. A single line larger than MaxSize gets a file of its own.
type Rotation struct {
	// MaxSize is the most a file may hold. Default 100MiB.
	MaxSize configs.ByteSize `yaml:"max_size"`
	// MaxBackups is how many rotated files are kept; 0 keeps none (the
	// full file is deleted). Default 5.
	MaxBackups int `yaml:"max_backups"`
}

// SetDefaults implements configs.Defaulter.
func (r *Rotation) SetDefaults() {
	r.MaxSize = 100 << 20
	r.MaxBackups = 5
}

func createDefaultConfig() *Config {
	return &Config{
		Format:        FormatJSON,
		FlushInterval: time.Second,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.Format != FormatJSON {
		errs = append(errs, fmt.Errorf("format: unsupported value %q (only %q is supported)", c.Format, FormatJSON))
	}
	if c.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("flush_interval: must not be negative, got %s", c.FlushInterval))
	}
	if r := c.Rotation; r != nil {
		if r.MaxSize <= 0 {
			errs = append(errs, fmt.Errorf("rotation.max_size: must be positive, got %s", r.MaxSize))
		}
		if r.MaxBackups < 0 {
			errs = append(errs, fmt.Errorf("rotation.max_backups: must not be negative, got %d", r.MaxBackups))
		}
	}
	return errors.Join(errs...)
}
