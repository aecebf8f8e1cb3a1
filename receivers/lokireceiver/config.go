package lokireceiver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

// Defaults of the HTTP protocol, applied when its section is named.
const (
	// DefaultHTTPEndpoint is the OpenTelemetry Collector's loki receiver
	// port, on loopback as every outpost default.
	DefaultHTTPEndpoint = "127.0.0.1:3500"
	// DefaultMaxRequestBodySize caps a push body after decompression;
	// Loki's own distributor takes up to 100MiB, clients send a few MiB.
	DefaultMaxRequestBodySize = 20 << 20
)

// maxMessageSize bounds max_request_body_size: a request is held in
// memory whole.
const maxMessageSize = 1 << 30

// Config configures a loki receiver. The keys are those of the
// OpenTelemetry Collector's loki receiver.
type Config struct {
	Protocols Protocols `yaml:"protocols"`
	// UseIncomingTimestamp keeps each entry's timestamp as the record's
	// time. Default true (the Collector's default is false): at the edge a
	// client's backlog may arrive hours late, and its lines must keep
	// their time. When false the record's time is left unset and only the
	// observed time (arrival) is set.
	UseIncomingTimestamp bool `yaml:"use_incoming_timestamp"`
}

// Protocols holds the transports the receiver serves; only HTTP, which
// every Loki client speaks. Naming `http:` enables it with its defaults.
type Protocols struct {
	HTTP *HTTPConfig `yaml:"http"`
}

// HTTPConfig configures Loki's HTTP push API.
type HTTPConfig struct {
	// Endpoint is the host:port to listen on. Default 127.0.0.1:3500; an
	// empty host (":3500") listens on every interface.
	Endpoint string `yaml:"endpoint"`
	// MaxRequestBodySize caps a request body, both as sent and after
	// decompression (snappy, gzip, deflate), so that a small body cannot
	// expand without bound. Larger requests are answered 413. Default
	// 20MiB.
	MaxRequestBodySize configs.ByteSize `yaml:"max_request_body_size"`
	// TLS, when set, serves HTTPS (mutual TLS with client_ca_file); off:
	// plaintext. See internal/serverconfig.
	TLS *serverconfig.TLS `yaml:"tls"`
	// Auth, when set, requires a bearer token or basic credentials on
	// every push (the Loki clients' bearer_token or basic_auth). See
	// internal/serverconfig.
	Auth *serverconfig.Auth `yaml:"auth"`
}

// server is the listener's security blocks.
func (c *HTTPConfig) server() serverconfig.Blocks {
	return serverconfig.Blocks{TLS: c.TLS, Auth: c.Auth}
}

// SetDefaults implements configs.Defaulter.
func (c *HTTPConfig) SetDefaults() {
	*c = HTTPConfig{Endpoint: DefaultHTTPEndpoint, MaxRequestBodySize: DefaultMaxRequestBodySize}
}

func createDefaultConfig() *Config {
	return &Config{UseIncomingTimestamp: true}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	h := c.Protocols.HTTP
	if h == nil {
		return errors.New("protocols: must enable http (the only protocol served)")
	}
	var errs []error
	host, port, err := net.SplitHostPort(h.Endpoint)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("protocols.http.endpoint: want host:port, got %q", h.Endpoint))
	case strings.ContainsAny(host, " \t/"):
		errs = append(errs, fmt.Errorf("protocols.http.endpoint: invalid host %q", host))
	default:
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("protocols.http.endpoint: invalid port %q (want 0 to 65535)", port))
		}
	}
	if v := h.MaxRequestBodySize; v <= 0 || v > maxMessageSize {
		errs = append(errs, fmt.Errorf("protocols.http.max_request_body_size: must be between 1B and 1GiB (got %s)", v))
	}
	if err := h.server().Validate(); err != nil {
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("protocols.http.%w", e))
		}
	}
	return errors.Join(errs...)
}

// unjoin is the errors an errors.Join made, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
