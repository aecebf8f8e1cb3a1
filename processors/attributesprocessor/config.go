package attributesprocessor

import (
	"errors"

	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/internal/itemmatch"
)

// Config is the attributes processor's configuration, with the keys of the
// OpenTelemetry Collector contrib's attributesprocessor.
type Config struct {
	// Include, when set, limits the actions to the items it matches.
	Include *itemmatch.Properties `yaml:"include"`
	// Exclude, when set, keeps the actions off the items it matches.
	Exclude *itemmatch.Properties `yaml:"exclude"`
	// Actions run in order on the attributes of each selected span, log
	// record or metric data point. At least one is required.
	Actions []attraction.Action `yaml:"actions"`
}

func createDefaultConfig() *Config { return &Config{} }

// Validate reports every problem in the configuration. Whether a match
// property applies to the pipeline's signal (log_bodies in a traces
// pipeline, say) is checked when the processor is created.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Actions) == 0 {
		errs = append(errs, errors.New("actions: at least one action is required"))
	} else if err := attraction.Validate("actions", c.Actions); err != nil {
		errs = append(errs, err)
	}
	if _, err := itemmatch.CompileFilter(c.Include, c.Exclude, itemmatch.Any, nil); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
