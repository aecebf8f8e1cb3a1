package debugexporter

import (
	"errors"
	"fmt"
)

// Verbosity is how much of each batch the exporter writes.
type Verbosity string

// The verbosity levels.
const (
	// VerbosityBasic writes one line per batch with its counts.
	VerbosityBasic Verbosity = "basic"
	// VerbosityNormal adds one line per resource and scope, summarising it.
	VerbosityNormal Verbosity = "normal"
	// VerbosityDetailed writes every span, data point and log record.
	VerbosityDetailed Verbosity = "detailed"
)

// Output is where the exporter writes.
type Output string

// The outputs.
const (
	// OutputLogger writes through the component's logger (at info), so the
	// lines carry the usual component attributes and go wherever outpost's
	// own logs go.
	OutputLogger Output = "logger"
	// OutputStdout writes plain text to the process's standard output.
	OutputStdout Output = "stdout"
	// OutputStderr writes plain text to the process's standard error.
	OutputStderr Output = "stderr"
)

// Config configures a debug exporter.
type Config struct {
	// Verbosity is basic (default), normal or detailed.
	Verbosity Verbosity `yaml:"verbosity"`
	// SamplingInitial is how many batches of each signal are written in each
	// one-second window before sampling starts. Default 2.
	SamplingInitial int `yaml:"sampling_initial"`
	// SamplingThereafter: once SamplingInitial batches of a signal have been
	// written in the current second, only every SamplingThereafter-th
	// further batch is; 0 writes no more until the next second. Default 1
	// (every batch), as in the OpenTelemetry Collector; raise it to bound
	// log volume under load. Every batch is counted whether written or not.
	SamplingThereafter int `yaml:"sampling_thereafter"`
	// Output is logger (default), stdout or stderr.
	Output Output `yaml:"output"`
}

func createDefaultConfig() *Config {
	return &Config{
		Verbosity:          VerbosityBasic,
		SamplingInitial:    2,
		SamplingThereafter: 1,
		Output:             OutputLogger,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch c.Verbosity {
	case VerbosityBasic, VerbosityNormal, VerbosityDetailed:
	default:
		errs = append(errs, fmt.Errorf("verbosity: unknown value %q (want basic, normal or detailed)", c.Verbosity))
	}
	if c.SamplingInitial < 0 {
		errs = append(errs, fmt.Errorf("sampling_initial: must not be negative, got %d", c.SamplingInitial))
	}
	if c.SamplingThereafter < 0 {
		errs = append(errs, fmt.Errorf("sampling_thereafter: must not be negative, got %d", c.SamplingThereafter))
	}
	switch c.Output {
	case OutputLogger, OutputStdout, OutputStderr:
	default:
		errs = append(errs, fmt.Errorf("output: unknown value %q (want logger, stdout or stderr)", c.Output))
	}
	return errors.Join(errs...)
}
