package otlpexporter

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/otlpsend"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Compression names, as written in `compression:`.
const (
	CompressionGzip = otlpsend.CompressionGzip
	CompressionZstd = otlpsend.CompressionZstd
	CompressionNone = otlpsend.CompressionNone
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
	// Headers are sent as gRPC metadata with every request (for example a
	// tenant). Their values are never shown in logs.
	Headers clientconfig.Headers `yaml:"headers"`
	// Auth sends an `authorization` from a bearer token file or basic
	// credentials, re-read when the files change.
	Auth clientconfig.Auth `yaml:"auth"`
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
	if err := otlpsend.ValidateHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	errs = append(errs, clientconfig.Prefixed("tls.", c.TLS.Validate()))
	errs = append(errs, otlpsend.ValidateCommon(c.Compression, c.Headers, c.Auth, c.Timeout, c.RetryOnFailure, clientconfig.GRPCReservedHeader)...)
	errs = append(errs, clientconfig.Prefixed("queue.", c.Queue.Validate()), clientconfig.Prefixed("priority.", c.Priority.Validate()))
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
	// Headers are sent with every request. Their values are never shown
	// in logs.
	Headers clientconfig.Headers `yaml:"headers"`
	// Auth sends an Authorization header from a bearer token file or
	// basic credentials, re-read when the files change.
	Auth clientconfig.Auth `yaml:"auth"`
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
		u, err := otlpsend.ValidateURL(e.val)
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
	errs = append(errs, clientconfig.Prefixed("tls.", c.TLS.Validate()))
	if c.TLS.Insecure && https {
		errs = append(errs, errors.New("tls.insecure: true contradicts an https:// endpoint (the URL scheme decides; use http:// for plaintext)"))
	}
	errs = append(errs, otlpsend.ValidateCommon(c.Compression, c.Headers, c.Auth, c.Timeout, c.RetryOnFailure, clientconfig.HTTPReservedHeader)...)
	errs = append(errs, clientconfig.Prefixed("queue.", c.Queue.Validate()), clientconfig.Prefixed("priority.", c.Priority.Validate()))
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
