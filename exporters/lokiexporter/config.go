package lokiexporter

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Body formats, as written in `body_format:`: how a map body becomes the
// line.
const (
	BodyJSON   = "json"
	BodyLogfmt = "logfmt"
)

// Resource attribute policies, as written in `resource_attributes:`: what
// happens to the resource attributes that are not stream labels.
const (
	ResourceMetadata = "metadata"
	ResourceDrop     = "drop"
)

// DefaultTimeout bounds each send attempt.
const DefaultTimeout = 10 * time.Second

// MaxLabels is the most stream labels `labels:` may define: Loki's default
// max_label_names_per_series.
const MaxLabels = 15

// ServiceUnknown is the service_name of a record without service.name, the
// value Loki itself uses.
const ServiceUnknown = "unknown_service"

// Config is the configuration of the `loki` exporter.
type Config struct {
	// Endpoint is the full URL of Loki's push API (required), for example
	// http://loki:3100/loki/api/v1/push. The scheme decides whether TLS is
	// used.
	Endpoint string `yaml:"endpoint"`
	// Tenant, when set, is sent as X-Scope-OrgID with every request (Loki
	// with auth_enabled). It applies to everything the exporter sends,
	// including what is already queued: it is part of the destination,
	// like the endpoint.
	Tenant string `yaml:"tenant"`
	// Labels are the stream labels, a short list of low-cardinality values.
	// Setting the list replaces the default one (service_name, node, site,
	// level). Every other attribute goes into structured metadata.
	Labels []Label `yaml:"labels"`
	// ResourceAttributes is what happens to the resource attributes that
	// are not labels: metadata (default: structured metadata of every
	// entry, as Loki's own OTLP endpoint does) or drop.
	ResourceAttributes string `yaml:"resource_attributes"`
	// BodyFormat is how a map body becomes the line: json (default) or
	// logfmt. String bodies are always the line verbatim.
	BodyFormat string `yaml:"body_format"`
	// Headers are sent with every request. Their values are never shown
	// in logs. Not Content-Type, Content-Encoding and the other headers
	// the exporter sets; not X-Scope-OrgID (use Tenant); not Authorization
	// when Auth is set.
	Headers clientconfig.Headers `yaml:"headers"`
	// Auth sends an Authorization header from a bearer token file or
	// basic credentials, re-read when the files change (from the next
	// request).
	Auth clientconfig.Auth `yaml:"auth"`
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures https:// endpoints; the URL scheme decides whether
	// TLS is used, so `insecure: true` with an https:// URL is an error.
	// The certificate, key and CA files are re-read when they change, from
	// the next new connection.
	TLS clientconfig.TLS `yaml:"tls"`
	// RetryOnFailure is the retry policy for retryable failures.
	RetryOnFailure sender.RetryConfig `yaml:"retry_on_failure"`
	// Queue is the durable queue in front of the senders (on disk by
	// default).
	Queue sender.QueueConfig `yaml:"queue"`
	// Priority assigns log records to the queue's lanes.
	Priority lanes.Config `yaml:"priority"`
}

// Label is one stream label: where its value comes from, and its name.
// Exactly one of Resource, Attribute and Severity is set.
type Label struct {
	// Label is the Loki label name. Default: the source attribute's name
	// sanitised (dots and every other character Loki does not allow become
	// underscores; `level` for Severity).
	Label string `yaml:"label"`
	// Resource takes the value from this resource attribute.
	Resource string `yaml:"resource"`
	// Attribute takes the value from this log record attribute.
	Attribute string `yaml:"attribute"`
	// Severity takes the value from the record's severity: the
	// SeverityNumber's name (trace, debug, info, warn, error, fatal), else
	// the SeverityText lower-cased.
	Severity bool `yaml:"severity"`
	// Default is the value when the source is absent or empty; "" leaves
	// the label out for that record.
	Default string `yaml:"default"`
}

// DefaultLabels are the stream labels without a `labels:` section.
func DefaultLabels() []Label {
	return []Label{
		{Label: "service_name", Resource: "service.name", Default: ServiceUnknown},
		{Label: "node", Resource: "node.name"},
		{Label: "site", Resource: "node.site"},
		{Label: "level", Severity: true},
	}
}

func createDefaultConfig() *Config {
	return &Config{
		Labels:             DefaultLabels(),
		ResourceAttributes: ResourceMetadata,
		BodyFormat:         BodyJSON,
		Timeout:            DefaultTimeout,
		RetryOnFailure:     sender.DefaultRetryConfig(),
		Queue:              sender.DefaultQueueConfig(),
	}
}

// StorageBytes is the disk the queue may use (pipeline.StorageUser).
func (c *Config) StorageBytes() int64 { return c.Queue.DiskBytes() }

// Validate reports every invalid field, named by its YAML key path.
func (c *Config) Validate() error {
	var errs []error
	https := false
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: required (the push URL, such as http://loki:3100/loki/api/v1/push)"))
	} else if u, err := validateURL(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	} else {
		https = u.Scheme == "https"
	}
	if c.Tenant != "" && !validHeaderValue(c.Tenant) {
		errs = append(errs, errors.New("tenant: holds a control character"))
	}
	if _, err := compileLabels(c.Labels); err != nil {
		errs = append(errs, err)
	}
	switch c.ResourceAttributes {
	case ResourceMetadata, ResourceDrop:
	default:
		errs = append(errs, fmt.Errorf("resource_attributes: want metadata or drop, got %q", c.ResourceAttributes))
	}
	switch c.BodyFormat {
	case BodyJSON, BodyLogfmt:
	default:
		errs = append(errs, fmt.Errorf("body_format: want json or logfmt, got %q", c.BodyFormat))
	}
	errs = append(errs, validateHeaders(c.Headers, c.Auth)...)
	errs = append(errs, clientconfig.Prefixed("auth.", c.Auth.Validate()))
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	errs = append(errs, clientconfig.Prefixed("tls.", c.TLS.Validate()))
	if c.TLS.Insecure && https {
		errs = append(errs, errors.New("tls.insecure: true contradicts an https:// endpoint (the URL scheme decides; use http:// for plaintext)"))
	}
	errs = append(errs, clientconfig.Prefixed("retry_on_failure.", c.RetryOnFailure.Validate()))
	errs = append(errs, clientconfig.Prefixed("queue.", c.Queue.Validate()), clientconfig.Prefixed("priority.", c.Priority.Validate()))
	return errors.Join(errs...)
}

// validateHeaders is clientconfig.ValidateHeaders (names, values, the
// headers the exporter sets, Authorization with auth) plus X-Scope-OrgID,
// which is refused: the tenant has its own key, so that it cannot be set
// twice. The errors are sorted, so that a configuration with several bad
// headers always reads the same.
func validateHeaders(h clientconfig.Headers, auth clientconfig.Auth) []error {
	errs := clientconfig.ValidateHeaders(h, clientconfig.HTTPReservedHeader, auth)
	for k := range h {
		if strings.EqualFold(k, "X-Scope-OrgID") {
			errs = append(errs, fmt.Errorf("headers.%s: use tenant", k))
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// labelSource is where a label's value comes from.
type labelSource uint8

const (
	fromResource labelSource = iota
	fromAttribute
	fromSeverity
)

// labelRule is a validated Label.
type labelRule struct {
	name   string // sanitised label name
	source labelSource
	key    string // attribute key (fromResource, fromAttribute)
	def    string
}

// compileLabels checks the `labels:` list and returns its rules sorted by
// label name, the order of a stream's labels.
func compileLabels(list []Label) ([]labelRule, error) {
	var errs []error
	if len(list) > MaxLabels {
		errs = append(errs, fmt.Errorf("labels: %d labels, at most %d (Loki's default max_label_names_per_series); put the rest in structured metadata", len(list), MaxLabels))
	}
	seen := map[string]int{}
	rules := make([]labelRule, 0, len(list))
	for i, l := range list {
		path := fmt.Sprintf("labels[%d]", i)
		var r labelRule
		n := 0
		if l.Resource != "" {
			n++
			r.source, r.key = fromResource, l.Resource
		}
		if l.Attribute != "" {
			n++
			r.source, r.key = fromAttribute, l.Attribute
		}
		if l.Severity {
			n++
			r.source = fromSeverity
		}
		if n != 1 {
			errs = append(errs, fmt.Errorf("%s: set exactly one of resource, attribute and severity", path))
			continue
		}
		switch {
		case l.Label != "":
			r.name = l.Label
			if sanitizeName(l.Label) != l.Label {
				errs = append(errs, fmt.Errorf("%s.label: %q is not a Loki label name ([a-zA-Z_][a-zA-Z0-9_]*); %q would do", path, l.Label, sanitizeName(l.Label)))
				continue
			}
		case r.source == fromSeverity:
			r.name = "level"
		default:
			r.name = sanitizeName(r.key)
		}
		if strings.HasPrefix(r.name, "__") {
			errs = append(errs, fmt.Errorf("%s.label: %q: names starting with __ are reserved by Loki", path, r.name))
			continue
		}
		if j, dup := seen[r.name]; dup {
			errs = append(errs, fmt.Errorf("%s: label %q already defined by labels[%d]", path, r.name, j))
			continue
		}
		seen[r.name] = i
		r.def = l.Default
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(rules, func(a, b labelRule) int { return strings.Compare(a.name, b.name) })
	return rules, nil
}

func validateURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", s)
	}
	if u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("no fragment or user info allowed in %q", s)
	}
	return u, nil
}

// validHeaderValue reports whether v may be a header value (the tenant):
// no control character but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
