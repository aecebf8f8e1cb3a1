package otlpexporter

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Compression names, as written in `compression:`.
const (
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// DefaultTimeout bounds each send attempt.
const DefaultTimeout = 10 * time.Second

// Config is the configuration of the `otlp` exporter (OTLP/gRPC).
type Config struct {
	// Endpoint is the server's host:port, without a scheme (required).
	Endpoint string `yaml:"endpoint"`
	// TLS secures the connection; `insecure: true` means plaintext. The
	// default is TLS with the system's roots.
	TLS clientconfig.TLS `yaml:"tls"`
	// Compression is the gRPC message compression: gzip (default), zstd or
	// none. Use zstd towards another outpost or a Collector.
	Compression string `yaml:"compression"`
	// Headers are sent as gRPC metadata with every request (for example an
	// authorization token or a tenant).
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// RetryOnFailure is the retry policy for retryable failures.
	RetryOnFailure sender.RetryConfig `yaml:"retry_on_failure"`
	// Queue is the durable queue in front of the senders (on disk by
	// default).
	Queue sender.QueueConfig `yaml:"queue"`
	// Priority assigns items to the queue's lanes.
	Priority lanes.Config `yaml:"priority"`
}

func createDefaultConfig() *Config {
	return &Config{
		Compression:    CompressionGzip,
		Timeout:        DefaultTimeout,
		RetryOnFailure: sender.DefaultRetryConfig(),
		Queue:          sender.DefaultQueueConfig(),
	}
}

// Validate reports every invalid field, named by its YAML key path.
func (c *Config) Validate() error {
	var errs []error
	if err := validateHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	errs = append(errs, prefixed("tls.", c.TLS.Validate()))
	errs = append(errs, validateCommon(c.Compression, c.Headers, c.Timeout, c.RetryOnFailure, grpcReservedHeader)...)
	errs = append(errs, prefixed("queue.", c.Queue.Validate()), prefixed("priority.", c.Priority.Validate()))
	return errors.Join(errs...)
}

// StorageBytes is the disk the queue may use (pipeline.StorageUser).
func (c *Config) StorageBytes() int64 { return c.Queue.DiskBytes() }

// StorageBytes is the disk the queue may use (pipeline.StorageUser).
func (c *HTTPConfig) StorageBytes() int64 { return c.Queue.DiskBytes() }

// HTTPConfig is the configuration of the `otlphttp` exporter (OTLP/HTTP).
type HTTPConfig struct {
	// Endpoint is the base URL (http://host:4318 or https://...); the
	// signal paths /v1/traces, /v1/metrics and /v1/logs are appended.
	// Required unless a per-signal endpoint is set; a signal with neither
	// cannot be exported.
	Endpoint string `yaml:"endpoint"`
	// TracesEndpoint, MetricsEndpoint and LogsEndpoint are full URLs that
	// override Endpoint for one signal (used as is, nothing appended).
	TracesEndpoint  string `yaml:"traces_endpoint"`
	MetricsEndpoint string `yaml:"metrics_endpoint"`
	LogsEndpoint    string `yaml:"logs_endpoint"`
	// Encoding is the body's encoding: proto (default) or json.
	Encoding string `yaml:"encoding"`
	// Compression is the body's Content-Encoding: gzip (default), zstd or
	// none.
	Compression string `yaml:"compression"`
	// Headers are sent with every request.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures https:// endpoints; the URL scheme decides whether
	// TLS is used, so `insecure: true` with an https:// URL is an error.
	TLS clientconfig.TLS `yaml:"tls"`
	// RetryOnFailure is the retry policy for retryable failures.
	RetryOnFailure sender.RetryConfig `yaml:"retry_on_failure"`
	// Queue is the durable queue in front of the senders (on disk by
	// default).
	Queue sender.QueueConfig `yaml:"queue"`
	// Priority assigns items to the queue's lanes.
	Priority lanes.Config `yaml:"priority"`
}

func createDefaultHTTPConfig() *HTTPConfig {
	return &HTTPConfig{
		Encoding:       string(sender.EncodingProto),
		Compression:    CompressionGzip,
		Timeout:        DefaultTimeout,
		RetryOnFailure: sender.DefaultRetryConfig(),
		Queue:          sender.DefaultQueueConfig(),
	}
}

// Validate reports every invalid field, named by its YAML key path.
func (c *HTTPConfig) Validate() error {
	var errs []error
	if c.Endpoint == "" && c.TracesEndpoint == "" && c.MetricsEndpoint == "" && c.LogsEndpoint == "" {
		errs = append(errs, errors.New("endpoint: required (or traces_endpoint, metrics_endpoint, logs_endpoint)"))
	}
	https := false
	for _, e := range []struct{ key, val string }{
		{"endpoint", c.Endpoint},
		{"traces_endpoint", c.TracesEndpoint},
		{"metrics_endpoint", c.MetricsEndpoint},
		{"logs_endpoint", c.LogsEndpoint},
	} {
		if e.val == "" {
			continue
		}
		u, err := validateURL(e.val)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.key, err))
			continue
		}
		https = https || u.Scheme == "https"
	}
	switch sender.Encoding(c.Encoding) {
	case sender.EncodingProto, sender.EncodingJSON:
	default:
		errs = append(errs, fmt.Errorf("encoding: want proto or json, got %q", c.Encoding))
	}
	errs = append(errs, prefixed("tls.", c.TLS.Validate()))
	if c.TLS.Insecure && https {
		errs = append(errs, errors.New("tls.insecure: true contradicts an https:// endpoint (the URL scheme decides; use http:// for plaintext)"))
	}
	errs = append(errs, validateCommon(c.Compression, c.Headers, c.Timeout, c.RetryOnFailure, httpReservedHeader)...)
	errs = append(errs, prefixed("queue.", c.Queue.Validate()), prefixed("priority.", c.Priority.Validate()))
	return errors.Join(errs...)
}

// signalURL is where sig is posted, or "" if nowhere.
func (c *HTTPConfig) signalURL(sig string) string {
	var override string
	switch sig {
	case "traces":
		override = c.TracesEndpoint
	case "metrics":
		override = c.MetricsEndpoint
	case "logs":
		override = c.LogsEndpoint
	}
	if override != "" {
		return override
	}
	if c.Endpoint == "" {
		return ""
	}
	return strings.TrimSuffix(c.Endpoint, "/") + "/v1/" + sig
}

func validateCommon(compression string, headers map[string]string, timeout time.Duration, retry sender.RetryConfig, reserved func(string) bool) []error {
	var errs []error
	switch compression {
	case CompressionGzip, CompressionZstd, CompressionNone:
	default:
		errs = append(errs, fmt.Errorf("compression: want gzip, zstd or none, got %q", compression))
	}
	for k, v := range headers {
		switch {
		case !validHeaderName(k):
			errs = append(errs, fmt.Errorf("headers.%s: invalid header name", k))
		case reserved(strings.ToLower(k)):
			errs = append(errs, fmt.Errorf("headers.%s: set by the exporter itself", k))
		case !validHeaderValue(v):
			errs = append(errs, fmt.Errorf("headers.%s: value holds a control character", k))
		}
	}
	if timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", timeout))
	}
	errs = append(errs, prefixed("retry_on_failure.", retry.Validate()))
	return errs
}

func validateHostPort(endpoint string) error {
	if endpoint == "" {
		return errors.New("required (host:port)")
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil || host == "" || strings.Contains(endpoint, "://") {
		return fmt.Errorf("want host:port without a scheme, got %q", endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port in %q", endpoint)
	}
	return nil
}

func validateURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("no query, fragment or user info allowed in %q", s)
	}
	return u, nil
}

// grpcReservedHeader reports metadata keys that gRPC itself sets.
func grpcReservedHeader(k string) bool {
	return strings.HasPrefix(k, "grpc-") || k == "content-type" || k == "te" || k == "user-agent"
}

// httpReservedHeader reports headers that the exporter sets per request.
func httpReservedHeader(k string) bool {
	switch k {
	case "content-type", "content-encoding", "content-length", "transfer-encoding", "host", "connection":
		return true
	}
	return false
}

// validHeaderName reports whether k is an RFC 9110 token.
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// prefixed puts prefix before the key path of each error err joins.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return errors.Join(out...)
}
