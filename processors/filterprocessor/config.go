package filterprocessor

import (
	"errors"
	"fmt"

	"github.com/outpost-edge/outpost/internal/itemmatch"
)

// Config is the filter processor's configuration: the legacy (non-OTTL)
// keys of the OpenTelemetry Collector contrib's filterprocessor. Each
// signal has its own include/exclude pair; a signal with none passes
// unchanged.
type Config struct {
	Spans   *SpanFilter   `yaml:"spans"`
	Metrics *MetricFilter `yaml:"metrics"`
	Logs    *LogFilter    `yaml:"logs"`
}

// SpanFilter selects spans with the attributes processor's match
// properties (match_type, services, span_names, attributes, resources,
// libraries).
type SpanFilter struct {
	Include *itemmatch.Properties `yaml:"include"`
	Exclude *itemmatch.Properties `yaml:"exclude"`
}

// MetricFilter selects metrics, or single data points.
type MetricFilter struct {
	Include *MetricProperties `yaml:"include"`
	Exclude *MetricProperties `yaml:"exclude"`
}

// MetricProperties is one metrics include or exclude block.
type MetricProperties struct {
	// MatchType is strict or regexp (the Collector's expr is not
	// supported).
	MatchType          string                `yaml:"match_type"`
	MetricNames        []string              `yaml:"metric_names"`
	ResourceAttributes []itemmatch.Attribute `yaml:"resource_attributes"`
	// DatapointAttributes is outpost's: when set, the block selects data
	// points (all listed attributes must match) rather than whole metrics.
	DatapointAttributes []itemmatch.Attribute `yaml:"datapoint_attributes"`
}

// LogFilter selects log records.
type LogFilter struct {
	Include *LogProperties `yaml:"include"`
	Exclude *LogProperties `yaml:"exclude"`
}

// LogProperties is one logs include or exclude block.
type LogProperties struct {
	MatchType          string                `yaml:"match_type"`
	ResourceAttributes []itemmatch.Attribute `yaml:"resource_attributes"`
	RecordAttributes   []itemmatch.Attribute `yaml:"record_attributes"`
	SeverityTexts      []string              `yaml:"severity_texts"`
	// SeverityNumber selects records at or above min (a severity name).
	SeverityNumber *itemmatch.SeverityNumber `yaml:"severity_number"`
	// Bodies are matched against the body as a string.
	Bodies []string `yaml:"bodies"`
}

func (p *MetricProperties) properties() *itemmatch.Properties {
	if p == nil {
		return nil
	}
	return &itemmatch.Properties{
		MatchType:   p.MatchType,
		MetricNames: p.MetricNames,
		Resources:   p.ResourceAttributes,
		Attributes:  p.DatapointAttributes,
	}
}

func (p *LogProperties) properties() *itemmatch.Properties {
	if p == nil {
		return nil
	}
	return &itemmatch.Properties{
		MatchType:         p.MatchType,
		Resources:         p.ResourceAttributes,
		Attributes:        p.RecordAttributes,
		LogSeverityTexts:  p.SeverityTexts,
		LogSeverityNumber: p.SeverityNumber,
		LogBodies:         p.Bodies,
	}
}

// metricNames and logNames give the properties' names in this
// configuration, for errors.
var (
	metricNames = itemmatch.KeyNames{"resources": "resource_attributes", "attributes": "datapoint_attributes"}
	logNames    = itemmatch.KeyNames{
		"resources": "resource_attributes", "attributes": "record_attributes",
		"log_severity_texts": "severity_texts", "log_severity_number": "severity_number", "log_bodies": "bodies",
	}
)

func createDefaultConfig() *Config { return &Config{} }

// filters compiles the three include/exclude pairs.
func (c *Config) filters() (spans, metrics, logs itemmatch.Filter, err error) {
	var errs []error
	if c.Spans != nil {
		if spans, err = itemmatch.CompileFilter(c.Spans.Include, c.Spans.Exclude, itemmatch.Spans, nil); err != nil {
			errs = append(errs, prefixed("spans", err))
		}
	}
	if c.Metrics != nil {
		if metrics, err = itemmatch.CompileFilter(c.Metrics.Include.properties(), c.Metrics.Exclude.properties(), itemmatch.Metrics, metricNames); err != nil {
			errs = append(errs, prefixed("metrics", err))
		}
	}
	if c.Logs != nil {
		if logs, err = itemmatch.CompileFilter(c.Logs.Include.properties(), c.Logs.Exclude.properties(), itemmatch.Logs, logNames); err != nil {
			errs = append(errs, prefixed("logs", err))
		}
	}
	if len(errs) == 0 && spans.Empty() && metrics.Empty() && logs.Empty() {
		errs = append(errs, errors.New("no include or exclude block under spans, metrics or logs: the filter would pass everything"))
	}
	return spans, metrics, logs, errors.Join(errs...)
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	_, _, _, err := c.filters()
	return err
}

// prefixed puts prefix before each of the joined errors in err, so that
// every line names its key path.
func prefixed(prefix string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, prefixed(prefix, e))
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s.%w", prefix, err)
}
