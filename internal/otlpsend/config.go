package otlpsend

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Compression names, as written in `compression:`.
const (
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
	CompressionNone = "none"
)

// ValidateCommon checks the settings every OTLP exporter has, naming each
// bad one by its YAML key: compression, headers (reserved tells the
// header names the transport sets itself; auth's presence forbids an
// authorization header), auth, timeout and retry_on_failure.
func ValidateCommon(compression string, headers clientconfig.Headers, auth clientconfig.Auth, timeout time.Duration, retry sender.RetryConfig, reserved func(string) bool) []error {
	var errs []error
	switch compression {
	case CompressionGzip, CompressionZstd, CompressionNone:
	default:
		errs = append(errs, fmt.Errorf("compression: want gzip, zstd or none, got %q", compression))
	}
	errs = append(errs, clientconfig.ValidateHeaders(headers, reserved, auth)...)
	errs = append(errs, clientconfig.Prefixed("auth.", auth.Validate()))
	if timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", timeout))
	}
	errs = append(errs, clientconfig.Prefixed("retry_on_failure.", retry.Validate()))
	return errs
}

// ValidateHostPort checks a gRPC endpoint: host:port without a scheme.
func ValidateHostPort(endpoint string) error {
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

// ValidateURL checks an HTTP endpoint: an http:// or https:// URL with a
// host and no query, fragment or user info.
func ValidateURL(s string) (*url.URL, error) {
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
