package prometheusreceiver

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	promconfig "github.com/prometheus/prometheus/config"
	yamlv2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
)

// Config configures a prometheus receiver.
type Config struct {
	// Config is a Prometheus configuration in Prometheus's own syntax, as
	// in prometheus.yml: `global` (scrape_interval, scrape_timeout,
	// scrape_protocols, the limits...) and `scrape_configs`. It is parsed
	// by Prometheus's config package, strictly (an unknown key is an
	// error). Required, with at least one scrape config.
	Config *PrometheusConfig `yaml:"config"`
}

// PrometheusConfig is the `config:` section, parsed by Prometheus.
type PrometheusConfig struct {
	// Parsed is the configuration as Prometheus's config.Load returns it,
	// with its defaults applied.
	Parsed *promconfig.Config
}

// yamlLine matches the line numbers in errors of Prometheus's YAML
// decoder ("line 3: ").
var yamlLine = regexp.MustCompile(`line \d+: `)

// allowedSections are the top-level keys of prometheus.yml the receiver
// uses. The others (rule_files, alerting, remote_write, storage, ...)
// belong to a Prometheus server: outpost forwards through its exporters.
var allowedSections = []string{"global", "scrape_configs"}

// refusedGlobals are keys of `global` that Prometheus accepts but that
// would do nothing here; naming them is an error rather than silently
// ignored.
var refusedGlobals = map[string]string{
	"external_labels":     "set external_labels on the prometheusremotewrite exporter",
	"evaluation_interval": "outpost evaluates no rules",
	"rule_query_offset":   "outpost evaluates no rules",
	"query_log_file":      "outpost answers no queries",
}

// DecodeYAMLNode implements configs.NodeDecoder: it checks the top-level
// keys and parses the section with Prometheus's config.Load.
func (p *PrometheusConfig) DecodeYAMLNode(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("expected a mapping with global and scrape_configs (Prometheus's configuration syntax)")
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowedSections, k.Value) {
			errs = append(errs, fmt.Errorf("line %d: %s: not used by outpost (valid keys here: %s)", k.Line, k.Value, strings.Join(allowedSections, ", ")))
			continue
		}
		if k.Value == "scrape_configs" && v.Kind == yaml.SequenceNode {
			errs = append(errs, discoveryNotCompiled(v)...)
		}
		if k.Value == "global" && v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				if why, ok := refusedGlobals[v.Content[j].Value]; ok {
					errs = append(errs, fmt.Errorf("line %d: global.%s: not used by the prometheus receiver (%s)", v.Content[j].Line, v.Content[j].Value, why))
				}
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	src, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("re-encode for Prometheus's parser: %w", err)
	}
	cfg, err := promconfig.Load(string(src), slog.New(slog.DiscardHandler))
	if err != nil {
		// Prometheus's line numbers count in the re-encoded section, not
		// in the file: drop them (the error is reported at the section's
		// line, and Prometheus's messages name the field).
		msg := yamlLine.ReplaceAllString(err.Error(), "")
		return fmt.Errorf("prometheus configuration: %s", msg)
	}
	p.Parsed = cfg
	return nil
}

func createDefaultConfig() *Config { return &Config{} }

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	if c.Config == nil || c.Config.Parsed == nil {
		return errors.New("config: required: Prometheus's global and scrape_configs (as in prometheus.yml)")
	}
	var errs []error
	scs := c.Config.Parsed.ScrapeConfigs
	if len(scs) == 0 {
		errs = append(errs, errors.New("config.scrape_configs: at least one scrape config is required"))
	}
	for i, sc := range scs {
		if sc == nil {
			errs = append(errs, fmt.Errorf("config.scrape_configs[%d]: empty", i))
			continue
		}
		if sc.ScrapeFailureLogFile != "" {
			errs = append(errs, fmt.Errorf("config.scrape_configs[%d] (job %q): scrape_failure_log_file: not supported (failures are in the up series and the receiver's log)", i, sc.JobName))
		}
	}
	return errors.Join(errs...)
}

// EncodeYAMLNode implements configs.NodeEncoder (`outpost print-config`):
// the global section and the scrape configs as Prometheus prints them,
// its defaults filled in and its secrets shown as "<secret>", less the
// global keys this receiver refuses, so that the output loads again.
func (p *PrometheusConfig) EncodeYAMLNode() (*yaml.Node, error) {
	if p.Parsed == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	src, err := yamlv2.Marshal(struct {
		Global        promconfig.GlobalConfig    `yaml:"global"`
		ScrapeConfigs []*promconfig.ScrapeConfig `yaml:"scrape_configs"`
	}{p.Parsed.GlobalConfig, p.Parsed.ScrapeConfigs})
	if err != nil {
		return nil, fmt.Errorf("encode the prometheus configuration: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("encode the prometheus configuration: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("encode the prometheus configuration: not one document")
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "global" {
			continue
		}
		g := root.Content[i+1]
		kept := g.Content[:0]
		for j := 0; j+1 < len(g.Content); j += 2 {
			if _, refused := refusedGlobals[g.Content[j].Value]; !refused {
				kept = append(kept, g.Content[j], g.Content[j+1])
			}
		}
		g.Content = kept
	}
	return root, nil
}

// compiledDiscovery are the service discovery sections this binary has
// (the others would cost megabytes: docs/configuration.md, "prometheus").
var compiledDiscovery = []string{"static_configs", "file_sd_configs", "http_sd_configs", "dns_sd_configs"}

// discoveryNotCompiled names every *_sd_configs section of the scrape
// configs in seq that this binary lacks, so that the user reads why,
// rather than Prometheus's "field ... not found in type config.ScrapeConfig".
func discoveryNotCompiled(seq *yaml.Node) []error {
	var errs []error
	for i, sc := range seq.Content {
		if sc.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(sc.Content); j += 2 {
			key := sc.Content[j].Value
			if strings.HasSuffix(key, "_sd_configs") && !slices.Contains(compiledDiscovery, key) {
				errs = append(errs, fmt.Errorf("line %d: scrape_configs[%d].%s: this service discovery is not compiled into outpost (compiled in: %s)",
					sc.Content[j].Line, i, key, strings.Join(compiledDiscovery, ", ")))
			}
		}
	}
	return errs
}
