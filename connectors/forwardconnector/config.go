package forwardconnector

// Config configures a forward connector. It has no settings; the section
// may be empty ("forward:" or "forward: {}").
type Config struct{}

func createDefaultConfig() *Config { return &Config{} }

// Validate reports every problem in the configuration: there is none to
// have.
func (c *Config) Validate() error { return nil }
