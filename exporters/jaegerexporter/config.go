package jaegerexporter

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/otlpsend"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Protocols, as written in `protocol:`.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http"
)

// Default endpoints of a Jaeger collector's OTLP receivers.
const (
	DefaultGRPCEndpoint = "127.0.0.1:4317"
	DefaultHTTPEndpoint = "http://127.0.0.1:4318"
)

// DefaultTimeout bounds each send attempt.
const DefaultTimeout = 10 * time.Second

// Config is the configuration of the `jaeger` exporter: OTLP to a Jaeger
// collector (v1.35 and later, and v2), which stores it natively.
type Config struct {
	// Protocol is grpc (default, the collector's port 4317) or http
	// (OTLP/HTTP protobuf, port 4318).
	Protocol string `yaml:"protocol"`
	// Endpoint is host:port for grpc, default 127.0.0.1:4317; a base URL
	// for http (http://host:4318 or https://...), default
	// http://127.0.0.1:4318, to which /v1/traces is appended.
	Endpoint string `yaml:"endpoint"`
	// TLS secures the connection. For grpc the default is TLS with the
	// system's roots, except towards a loopback endpoint (127.0.0.0/8,
	// ::1, localhost) with an empty tls block, which is plaintext, as a
	// local Jaeger listens; `insecure: true` is plaintext anywhere. For
	// http the URL's scheme decides.
	TLS clientconfig.TLS `yaml:"tls"`
	// Auth sends an Authorization from a bearer token file or basic
	// credentials, re-read when the files change.
	Auth clientconfig.Auth `yaml:"auth"`
	// Headers are sent with every request (gRPC metadata, or HTTP
	// headers). Their values are never shown in logs.
	Headers clientconfig.Headers `yaml:"headers"`
	// Compression is gzip (default), zstd or none. Jaeger's collector
	// takes all three, over both protocols.
	Compression string `yaml:"compression"`
	// Timeout bounds each attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// DefaultServiceName, when set, is given as service.name to resources
	// that have none (or an empty one). Jaeger files spans without it
	// under the service "missing-service-name" (Jaeger v2) or
	// "OTLPResourceNoServiceName" (v1), whatever sent them. Empty (the
	// default) leaves the data as it is.
	DefaultServiceName string `yaml:"default_service_name"`
	// RetryOnFailure is the retry policy for retryable failures.
	RetryOnFailure sender.RetryConfig `yaml:"retry_on_failure"`
	// Queue is the durable queue in front of the senders (on disk by
	// default).
	Queue sender.QueueConfig `yaml:"queue"`
	// Priority assigns spans to the queue's lanes.
	Priority lanes.Config `yaml:"priority"`
}

func createDefaultConfig() *Config {
	return &Config{
		Protocol:       ProtocolGRPC,
		Compression:    otlpsend.CompressionGzip,
		Timeout:        DefaultTimeout,
		RetryOnFailure: sender.DefaultRetryConfig(),
		Queue:          sender.DefaultQueueConfig(),
	}
}

// StorageBytes is the disk the queue may use (pipeline.StorageUser).
func (c *Config) StorageBytes() int64 { return c.Queue.DiskBytes() }

// endpoint is the configured endpoint, or the protocol's default.
func (c *Config) endpoint() string {
	switch {
	case c.Endpoint != "":
		return c.Endpoint
	case c.Protocol == ProtocolHTTP:
		return DefaultHTTPEndpoint
	}
	return DefaultGRPCEndpoint
}

// tracesURL is where OTLP/HTTP posts traces.
func (c *Config) tracesURL() string {
	return strings.TrimSuffix(c.endpoint(), "/") + "/v1/traces"
}

// plaintext reports whether gRPC goes without TLS: asked for, or a
// loopback endpoint with nothing in the tls block.
func (c *Config) plaintext() bool {
	if c.TLS.Insecure {
		return true
	}
	host, _, err := net.SplitHostPort(c.endpoint())
	return err == nil && c.TLS == (clientconfig.TLS{}) && isLoopback(host)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate reports every invalid field, named by its YAML key path.
func (c *Config) Validate() error {
	var errs []error
	reserved := clientconfig.GRPCReservedHeader
	switch c.Protocol {
	case ProtocolGRPC:
		if err := otlpsend.ValidateHostPort(c.endpoint()); err != nil {
			errs = append(errs, fmt.Errorf("endpoint: %w (protocol: grpc takes host:port)", err))
		}
	case ProtocolHTTP:
		reserved = clientconfig.HTTPReservedHeader
		u, err := otlpsend.ValidateURL(c.endpoint())
		if err != nil {
			errs = append(errs, fmt.Errorf("endpoint: %w (protocol: http takes a base URL)", err))
		} else if c.TLS.Insecure && u.Scheme == "https" {
			errs = append(errs, errors.New("tls.insecure: true contradicts an https:// endpoint (the URL scheme decides; use http:// for plaintext)"))
		}
	default:
		errs = append(errs, fmt.Errorf("protocol: want grpc or http, got %q", c.Protocol))
	}
	errs = append(errs, clientconfig.Prefixed("tls.", c.TLS.Validate()))
	errs = append(errs, otlpsend.ValidateCommon(c.Compression, c.Headers, c.Auth, c.Timeout, c.RetryOnFailure, reserved)...)
	if strings.TrimSpace(c.DefaultServiceName) != c.DefaultServiceName {
		errs = append(errs, errors.New("default_service_name: leading or trailing space"))
	}
	errs = append(errs, clientconfig.Prefixed("queue.", c.Queue.Validate()), clientconfig.Prefixed("priority.", c.Priority.Validate()))
	return errors.Join(errs...)
}
