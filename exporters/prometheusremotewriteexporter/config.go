package prometheusremotewriteexporter

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// DefaultTimeout bounds each send attempt.
const DefaultTimeout = 30 * time.Second

// Config is the configuration of the `prometheusremotewrite` exporter.
type Config struct {
	// Endpoint is the remote-write URL, for example
	// http://prometheus:9090/api/v1/write (required). The scheme decides
	// whether TLS is used.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every request (for example X-Scope-OrgID, or
	// an Authorization header when auth is not set). The protocol's own
	// headers cannot be set. Their values are never shown in logs.
	Headers clientconfig.Headers `yaml:"headers"`
	// Auth sends an Authorization header from a bearer token file or
	// basic credentials; the files are re-read when they change, so a
	// rotated token or password is used from the next request.
	Auth clientconfig.Auth `yaml:"auth"`
	// Timeout bounds each attempt (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures https:// endpoints; the URL scheme decides whether
	// TLS is used, so `insecure: true` with an https:// URL is an error.
	// The certificate, key and CA files are re-read when they change, and
	// apply from the next new connection.
	TLS clientconfig.TLS `yaml:"tls"`
	// RetryOnFailure is the retry policy for retryable failures (5xx,
	// 429, network errors).
	RetryOnFailure sender.RetryConfig `yaml:"retry_on_failure"`
	// Queue is the durable queue in front of the senders (on disk by
	// default). Keep queue.consumers at 1 (the default): Prometheus
	// refuses a sample older than the newest one of its series, so
	// requests must arrive in order.
	Queue sender.QueueConfig `yaml:"queue"`
	// Priority assigns data points to the queue's lanes.
	Priority lanes.Config `yaml:"priority"`

	// TranslationStrategy is how OTLP metric and attribute names become
	// Prometheus names, as Prometheus's own `otlp.translation_strategy`:
	// UnderscoreEscapingWithSuffixes (default), UnderscoreEscapingWithoutSuffixes,
	// NoUTF8EscapingWithSuffixes or NoTranslation.
	TranslationStrategy string `yaml:"translation_strategy"`
	// LabelNameUnderscoreSanitization prefixes `key` to a label name that
	// starts with a single underscore once escaped (`_private` becomes
	// `key_private`; `__reserved` is kept), as Prometheus's
	// `otlp.label_name_underscore_sanitization` (default true, as
	// Prometheus 3's default). Only applies to escaping strategies.
	LabelNameUnderscoreSanitization bool `yaml:"label_name_underscore_sanitization"`
	// LabelNamePreserveMultipleUnderscores keeps runs of underscores in
	// escaped label names (`a..b` becomes `a__b`, `__reserved` stays),
	// as Prometheus's `otlp.label_name_preserve_multiple_underscores`
	// (default true, as Prometheus 3's default); false collapses them
	// (`a_b`, `_reserved`) as the OpenTelemetry specification says. Only
	// applies to escaping strategies.
	LabelNamePreserveMultipleUnderscores bool `yaml:"label_name_preserve_multiple_underscores"`
	// Namespace, when set, prefixes every metric name (namespace_name).
	Namespace string `yaml:"namespace"`
	// ExternalLabels are added to every series that does not already have
	// the label (as Prometheus's global external_labels).
	ExternalLabels map[string]string `yaml:"external_labels"`
	// PromoteResourceAttributes lists resource attributes copied onto every
	// series of the resource as labels (they stay in target_info too).
	PromoteResourceAttributes []string `yaml:"promote_resource_attributes"`
	// ResourceToTelemetryConversion copies every resource attribute onto
	// every series (the OpenTelemetry Collector's option of that name;
	// Prometheus's `promote_all_resource_attributes`). Beware cardinality.
	ResourceToTelemetryConversion bool `yaml:"resource_to_telemetry_conversion"`
	// PromoteNodeAttributes copies outpost's node identity (the resource
	// attributes node.name, node.site and node.region, see the top-level
	// `node` section) onto every series as the labels node_name, node_site
	// and node_region (default true). Without it, series of two nodes whose
	// applications set no service.instance.id have the same labels and
	// overwrite each other in Prometheus, and a fleet dashboard cannot
	// group by node or site. Set it to false when the node labels come by
	// other means (external_labels, or relabelling centrally).
	PromoteNodeAttributes bool `yaml:"promote_node_attributes"`
	// TargetInfo sends, for each resource with attributes other than
	// service.name/namespace/instance.id, a target_info series (value 1)
	// carrying those attributes (default true).
	TargetInfo bool `yaml:"target_info"`
	// SendNativeHistograms sends OTLP exponential histograms as Prometheus
	// native histograms (default true; Prometheus 3 ingests them as is,
	// Prometheus 2.40+ needs --enable-feature=native-histograms). When
	// false their data points are dropped and counted (reason
	// native_histograms_disabled).
	SendNativeHistograms bool `yaml:"send_native_histograms"`
	// SendMetadata sends each metric family's type, unit and help in the
	// request (default true).
	SendMetadata bool `yaml:"send_metadata"`
	// SendMetadataInterval sends a metric family's metadata at most once
	// per interval (default 1m, as Prometheus's own remote write sends it:
	// metadata_config.send_interval), in the first request that carries
	// the family after the interval has passed; 0 sends it in every
	// request. Metadata is counted as sent when the request is queued.
	SendMetadataInterval time.Duration `yaml:"send_metadata_interval"`
}

// DefaultSendMetadataInterval is send_metadata_interval's default, that of
// Prometheus's metadata_config.send_interval.
const DefaultSendMetadataInterval = time.Minute

func createDefaultConfig() *Config {
	return &Config{
		Timeout:               DefaultTimeout,
		RetryOnFailure:        sender.DefaultRetryConfig(),
		Queue:                 sender.DefaultQueueConfig(),
		TranslationStrategy:   string(otlptranslator.UnderscoreEscapingWithSuffixes),
		TargetInfo:            true,
		PromoteNodeAttributes: true,
		SendNativeHistograms:  true,
		SendMetadata:          true,
		SendMetadataInterval:  DefaultSendMetadataInterval,
		// Prometheus 3's defaults for its own OTLP endpoint
		// (config.DefaultOTLPConfig), so that a series has the same labels
		// whichever way it reaches Prometheus.
		LabelNameUnderscoreSanitization:      true,
		LabelNamePreserveMultipleUnderscores: true,
	}
}

// StorageBytes is the disk the queue may use (pipeline.StorageUser).
func (c *Config) StorageBytes() int64 { return c.Queue.DiskBytes() }

// Validate reports every invalid field, named by its YAML key path.
func (c *Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("endpoint: required (for example http://prometheus:9090/api/v1/write)"))
	} else if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint: want an http:// or https:// URL, got %q", c.Endpoint))
	} else if u.Scheme == "http" && hasTLSFiles(c.TLS) {
		errs = append(errs, errors.New("tls: certificate settings with an http:// endpoint (use https://)"))
	} else if u.Scheme == "https" && c.TLS.Insecure {
		errs = append(errs, errors.New("tls.insecure: true contradicts an https:// endpoint (the URL scheme decides; use http:// for plaintext)"))
	}
	errs = append(errs, clientconfig.Prefixed("tls.", c.TLS.Validate()))
	errs = append(errs, clientconfig.ValidateHeaders(c.Headers, reservedHeader, c.Auth)...)
	errs = append(errs, clientconfig.Prefixed("auth.", c.Auth.Validate()))
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.SendMetadataInterval < 0 {
		errs = append(errs, fmt.Errorf("send_metadata_interval: must be 0 (every request) or positive, got %s", c.SendMetadataInterval))
	}
	switch otlptranslator.TranslationStrategyOption(c.TranslationStrategy) {
	case otlptranslator.UnderscoreEscapingWithSuffixes, otlptranslator.UnderscoreEscapingWithoutSuffixes,
		otlptranslator.NoUTF8EscapingWithSuffixes, otlptranslator.NoTranslation:
	default:
		errs = append(errs, fmt.Errorf("translation_strategy: want UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes or NoTranslation, got %q", c.TranslationStrategy))
	}
	if c.Namespace != "" && !model.LegacyValidation.IsValidMetricName(c.Namespace) {
		errs = append(errs, fmt.Errorf("namespace: %q is not a valid metric name prefix", c.Namespace))
	}
	for k, v := range c.ExternalLabels {
		switch {
		case !model.LegacyValidation.IsValidLabelName(k) || strings.HasPrefix(k, "__"):
			errs = append(errs, fmt.Errorf("external_labels.%s: invalid label name", k))
		case v == "":
			errs = append(errs, fmt.Errorf("external_labels.%s: empty value (an empty label is no label)", k))
		}
	}
	for i, a := range c.PromoteResourceAttributes {
		if a == "" {
			errs = append(errs, fmt.Errorf("promote_resource_attributes[%d]: empty", i))
		}
	}
	if c.ResourceToTelemetryConversion && len(c.PromoteResourceAttributes) > 0 {
		errs = append(errs, errors.New("promote_resource_attributes: set together with resource_to_telemetry_conversion, which already promotes every attribute"))
	}
	errs = append(errs,
		clientconfig.Prefixed("retry_on_failure.", c.RetryOnFailure.Validate()),
		clientconfig.Prefixed("queue.", c.Queue.Validate()),
		clientconfig.Prefixed("priority.", c.Priority.Validate()))
	return errors.Join(errs...)
}

func hasTLSFiles(t clientconfig.TLS) bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" || t.InsecureSkipVerify
}

// reservedHeader reports headers (in lower case) that the exporter sets
// per request: the HTTP ones every exporter sets and the protocol's
// version header.
func reservedHeader(k string) bool {
	return clientconfig.HTTPReservedHeader(k) || k == "x-prometheus-remote-write-version"
}
