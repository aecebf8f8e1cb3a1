package resourceprocessor

import (
	"errors"

	"github.com/outpost-edge/outpost/internal/attraction"
)

// Config is the resource processor's configuration, with the keys of the
// OpenTelemetry Collector contrib's resourceprocessor.
type Config struct {
	// Attributes are the actions run in order on every resource's
	// attributes. At least one is required.
	Attributes []attraction.Action `yaml:"attributes"`
}

func createDefaultConfig() *Config { return &Config{} }

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	if len(c.Attributes) == 0 {
		return errors.New("attributes: at least one action is required")
	}
	return attraction.Validate("attributes", c.Attributes)
}
