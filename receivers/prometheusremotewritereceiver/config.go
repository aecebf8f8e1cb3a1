package prometheusremotewritereceiver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

// Defaults.
const (
	// DefaultEndpoint is Prometheus's own port's neighbour: 9090 is
	// usually taken by Prometheus itself on the node.
	DefaultEndpoint = "127.0.0.1:9091"
	// DefaultURLPath is where Prometheus's remote_write url points.
	DefaultURLPath = "/api/v1/write"
	// DefaultMaxRequestBodySize caps a request after snappy decoding.
	// Prometheus sends at most max_samples_per_send (2000 by default)
	// samples per request, a few hundred KiB; 20MiB leaves room for
	// large native histograms and metadata.
	DefaultMaxRequestBodySize = 20 << 20
	// DefaultMetadataCacheSize is how many metric families' remote-write
	// 1.0 metadata are remembered.
	DefaultMetadataCacheSize = 10000
)

// maxMessageSize bounds max_request_body_size: a request is held in memory
// whole.
const maxMessageSize = 1 << 30

// Config configures a prometheusremotewrite receiver.
type Config struct {
	// Endpoint is the host:port to listen on. Default 127.0.0.1:9091; an
	// empty host (":9091") listens on every interface.
	Endpoint string `yaml:"endpoint"`
	// URLPath is the path that takes remote-write requests. Default
	// /api/v1/write, as Prometheus's own receiver.
	URLPath string `yaml:"url_path"`
	// MaxRequestBodySize caps a request body, both as sent (snappy) and
	// after decoding (so a small body cannot expand without bound).
	// Larger requests are answered 413. Default 20MiB.
	MaxRequestBodySize configs.ByteSize `yaml:"max_request_body_size"`
	// MetadataCacheSize is how many metric families' types, units and
	// help texts from remote-write 1.0 metadata are remembered, to type
	// the series of later requests (remote write 1.0 sends metadata
	// apart from samples, every metadata send_interval). When full,
	// metadata of further families is not remembered, and their series
	// are typed by name (see the package documentation). 0 disables the
	// cache. Default 10000.
	MetadataCacheSize int `yaml:"metadata_cache_size"`
	// TLS, when set, serves HTTPS (mutual TLS with client_ca_file); off:
	// plaintext. Prometheus's remote_write tls_config is the client side.
	// See internal/serverconfig.
	TLS *serverconfig.TLS `yaml:"tls"`
	// Auth, when set, requires a bearer token or basic credentials on
	// every request (Prometheus's remote_write authorization or
	// basic_auth). See internal/serverconfig.
	Auth *serverconfig.Auth `yaml:"auth"`
}

// server is the listener's security blocks.
func (c *Config) server() serverconfig.Blocks {
	return serverconfig.Blocks{TLS: c.TLS, Auth: c.Auth}
}

func createDefaultConfig() *Config {
	return &Config{
		Endpoint:           DefaultEndpoint,
		URLPath:            DefaultURLPath,
		MaxRequestBodySize: DefaultMaxRequestBodySize,
		MetadataCacheSize:  DefaultMetadataCacheSize,
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	if host, port, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: want host:port, got %q", c.Endpoint))
	} else {
		if strings.ContainsAny(host, " \t/") {
			errs = append(errs, fmt.Errorf("endpoint: invalid host %q", host))
		}
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("endpoint: invalid port %q (want 0 to 65535)", port))
		}
	}
	if !strings.HasPrefix(c.URLPath, "/") {
		errs = append(errs, fmt.Errorf("url_path: must start with '/' (got %q)", c.URLPath))
	}
	if c.MaxRequestBodySize <= 0 || c.MaxRequestBodySize > maxMessageSize {
		errs = append(errs, fmt.Errorf("max_request_body_size: must be between 1B and 1GiB (got %s)", c.MaxRequestBodySize))
	}
	if c.MetadataCacheSize < 0 || c.MetadataCacheSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("metadata_cache_size: must be between 0 and 1000000 (got %d)", c.MetadataCacheSize))
	}
	errs = append(errs, c.server().Validate())
	return errors.Join(errs...)
}
