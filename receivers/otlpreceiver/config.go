package otlpreceiver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

// Defaults for each protocol, applied when its section is named.
const (
	DefaultGRPCEndpoint       = "127.0.0.1:4317"
	DefaultHTTPEndpoint       = "127.0.0.1:4318"
	DefaultMaxRecvMsgSize     = 4 << 20  // 4MiB, as gRPC itself
	DefaultMaxRequestBodySize = 20 << 20 // 20MiB, as the OpenTelemetry Collector
	DefaultTracesURLPath      = "/v1/traces"
	DefaultMetricsURLPath     = "/v1/metrics"
	DefaultLogsURLPath        = "/v1/logs"
)

// maxMessageSize bounds max_recv_msg_size and max_request_body_size: a
// request is held in memory whole, and gRPC takes the limit as an int32.
const maxMessageSize = 1 << 30

// Config configures an OTLP receiver.
type Config struct {
	Protocols Protocols `yaml:"protocols"`
}

// Protocols holds the transports the receiver serves. Both are off by
// default; naming a section (`grpc:` alone is enough) enables it with its
// defaults.
type Protocols struct {
	GRPC *GRPCConfig `yaml:"grpc"`
	HTTP *HTTPConfig `yaml:"http"`
}

// GRPCConfig configures OTLP/gRPC.
type GRPCConfig struct {
	// Endpoint is the host:port to listen on. Default 127.0.0.1:4317; an
	// empty host (":4317") listens on every interface.
	Endpoint string `yaml:"endpoint"`
	// MaxRecvMsgSize caps one request message, after decompression.
	// Larger requests are answered RESOURCE_EXHAUSTED without RetryInfo,
	// which OTLP clients treat as permanent. Default 4MiB.
	MaxRecvMsgSize configs.ByteSize `yaml:"max_recv_msg_size"`
	// MaxConcurrentStreams caps the concurrent requests on one connection;
	// 0 leaves gRPC's default (no cap).
	MaxConcurrentStreams uint32 `yaml:"max_concurrent_streams"`
	// Keepalive tunes HTTP/2 keepalive and connection ageing; unset keeps
	// gRPC's defaults.
	Keepalive *KeepaliveConfig `yaml:"keepalive"`
	// TLS serves gRPC over TLS (mutual TLS with client_ca_file); nil:
	// plaintext. See internal/serverconfig.
	TLS *serverconfig.TLS `yaml:"tls"`
	// Auth requires credentials (`authorization` metadata) on every call;
	// nil: none.
	Auth *serverconfig.Auth `yaml:"auth"`
}

// server is the protocol's security blocks.
func (c *GRPCConfig) server() serverconfig.Blocks {
	return serverconfig.Blocks{TLS: c.TLS, Auth: c.Auth}
}

// SetDefaults implements configs.Defaulter.
func (c *GRPCConfig) SetDefaults() {
	*c = GRPCConfig{
		Endpoint:       DefaultGRPCEndpoint,
		MaxRecvMsgSize: DefaultMaxRecvMsgSize,
	}
}

// KeepaliveConfig is gRPC server keepalive, shaped as in the OpenTelemetry
// Collector.
type KeepaliveConfig struct {
	ServerParameters  *KeepaliveServerConfig      `yaml:"server_parameters"`
	EnforcementPolicy *KeepaliveEnforcementConfig `yaml:"enforcement_policy"`
}

// KeepaliveServerConfig is what the server does on its own side. A zero
// duration keeps gRPC's default for that field.
type KeepaliveServerConfig struct {
	// MaxConnectionIdle closes a connection idle for this long.
	MaxConnectionIdle time.Duration `yaml:"max_connection_idle"`
	// MaxConnectionAge closes a connection (with GOAWAY) after this long, so
	// that clients re-resolve and spread over gateway replicas.
	MaxConnectionAge time.Duration `yaml:"max_connection_age"`
	// MaxConnectionAgeGrace is how long in-flight requests get after
	// MaxConnectionAge before the connection is closed.
	MaxConnectionAgeGrace time.Duration `yaml:"max_connection_age_grace"`
	// Time pings a client after this long without activity.
	Time time.Duration `yaml:"time"`
	// Timeout closes the connection when a ping is not answered in time.
	Timeout time.Duration `yaml:"timeout"`
}

// KeepaliveEnforcementConfig is what the server demands of client pings.
type KeepaliveEnforcementConfig struct {
	// MinTime is the shortest interval between client pings; more frequent
	// pings close the connection. Zero keeps gRPC's default (5m).
	MinTime time.Duration `yaml:"min_time"`
	// PermitWithoutStream allows pings while no request is in flight.
	PermitWithoutStream bool `yaml:"permit_without_stream"`
}

// HTTPConfig configures OTLP/HTTP.
type HTTPConfig struct {
	// Endpoint is the host:port to listen on. Default 127.0.0.1:4318; an
	// empty host (":4318") listens on every interface.
	Endpoint string `yaml:"endpoint"`
	// MaxRequestBodySize caps a request body, both as sent and after
	// decompression (so a small compressed body cannot expand without
	// bound). Larger requests are answered 413. Default 20MiB.
	MaxRequestBodySize configs.ByteSize `yaml:"max_request_body_size"`
	// TracesURLPath, MetricsURLPath and LogsURLPath are the paths that take
	// each signal. Defaults /v1/traces, /v1/metrics, /v1/logs.
	TracesURLPath  string `yaml:"traces_url_path"`
	MetricsURLPath string `yaml:"metrics_url_path"`
	LogsURLPath    string `yaml:"logs_url_path"`
	// TLS serves HTTPS (mutual TLS with client_ca_file); nil: plain HTTP.
	// See internal/serverconfig.
	TLS *serverconfig.TLS `yaml:"tls"`
	// Auth requires credentials (Authorization header) on every request;
	// nil: none.
	Auth *serverconfig.Auth `yaml:"auth"`
	// CORS lets browser applications on the allowed origins send; nil: no
	// CORS headers.
	CORS *serverconfig.CORS `yaml:"cors"`
}

// server is the protocol's security blocks.
func (c *HTTPConfig) server() serverconfig.Blocks {
	return serverconfig.Blocks{TLS: c.TLS, Auth: c.Auth, CORS: c.CORS}
}

// SetDefaults implements configs.Defaulter.
func (c *HTTPConfig) SetDefaults() {
	*c = HTTPConfig{
		Endpoint:           DefaultHTTPEndpoint,
		MaxRequestBodySize: DefaultMaxRequestBodySize,
		TracesURLPath:      DefaultTracesURLPath,
		MetricsURLPath:     DefaultMetricsURLPath,
		LogsURLPath:        DefaultLogsURLPath,
	}
}

func createDefaultConfig() *Config {
	return &Config{}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	g, h := c.Protocols.GRPC, c.Protocols.HTTP
	if g == nil && h == nil {
		errs = append(errs, errors.New("protocols: must enable at least one of grpc, http"))
	}
	if g != nil {
		errs = append(errs, validateEndpoint("protocols.grpc.endpoint", g.Endpoint))
		errs = append(errs, validateSize("protocols.grpc.max_recv_msg_size", g.MaxRecvMsgSize))
		errs = append(errs, prefixed("protocols.grpc.", g.server().Validate()))
		if k := g.Keepalive; k != nil {
			if p := k.ServerParameters; p != nil {
				for _, d := range []struct {
					key string
					v   time.Duration
				}{
					{"max_connection_idle", p.MaxConnectionIdle},
					{"max_connection_age", p.MaxConnectionAge},
					{"max_connection_age_grace", p.MaxConnectionAgeGrace},
					{"time", p.Time},
					{"timeout", p.Timeout},
				} {
					if d.v < 0 {
						errs = append(errs, fmt.Errorf("protocols.grpc.keepalive.server_parameters.%s: must be ≥ 0 (got %s)", d.key, d.v))
					}
				}
			}
			if p := k.EnforcementPolicy; p != nil && p.MinTime < 0 {
				errs = append(errs, fmt.Errorf("protocols.grpc.keepalive.enforcement_policy.min_time: must be ≥ 0 (got %s)", p.MinTime))
			}
		}
	}
	if h != nil {
		errs = append(errs, validateEndpoint("protocols.http.endpoint", h.Endpoint))
		errs = append(errs, validateSize("protocols.http.max_request_body_size", h.MaxRequestBodySize))
		errs = append(errs, prefixed("protocols.http.", h.server().Validate()))
		seen := map[string]string{}
		for _, p := range []struct{ key, path string }{
			{"traces_url_path", h.TracesURLPath},
			{"metrics_url_path", h.MetricsURLPath},
			{"logs_url_path", h.LogsURLPath},
		} {
			switch {
			case !strings.HasPrefix(p.path, "/"):
				errs = append(errs, fmt.Errorf("protocols.http.%s: must start with '/' (got %q)", p.key, p.path))
			case seen[p.path] != "":
				errs = append(errs, fmt.Errorf("protocols.http.%s: %q is already used by %s", p.key, p.path, seen[p.path]))
			default:
				seen[p.path] = p.key
			}
		}
	}
	if g != nil && h != nil && g.Endpoint != "" && g.Endpoint == h.Endpoint && !strings.HasSuffix(g.Endpoint, ":0") {
		errs = append(errs, fmt.Errorf("protocols.http.endpoint: %q is also the grpc endpoint; each protocol needs its own port", h.Endpoint))
	}
	return errors.Join(errs...)
}

// prefixed puts prefix before each of the joined errors err holds.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return errors.Join(out...)
}

func validateEndpoint(key, endpoint string) error {
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		return fmt.Errorf("%s: want host:port, got %q", key, endpoint)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%s: invalid host %q", key, host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s: invalid port %q (want 0 to 65535)", key, port)
	}
	return nil
}

func validateSize(key string, v configs.ByteSize) error {
	if v <= 0 || v > maxMessageSize {
		return fmt.Errorf("%s: must be between 1B and 1GiB (got %s)", key, v)
	}
	return nil
}
