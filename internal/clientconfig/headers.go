package clientconfig

import (
	"errors"
	"fmt"
	"strings"
)

// ValidateHeaders reports each bad entry of a `headers` block, named
// `headers.<key>`: a name that is not an RFC 9110 token, a name reserved
// (reserved gets it in lower case) because the client sets it itself, or
// a value with a control character. With auth set, an authorization
// header is refused too: it would fight with the one auth sends.
func ValidateHeaders(h Headers, reserved func(string) bool, auth Auth) []error {
	var errs []error
	for k, v := range h {
		switch {
		case !validHeaderName(k):
			errs = append(errs, fmt.Errorf("headers.%s: invalid header name", k))
		case reserved(strings.ToLower(k)):
			errs = append(errs, fmt.Errorf("headers.%s: set by the exporter itself", k))
		case auth.Set() && strings.EqualFold(k, "authorization"):
			errs = append(errs, fmt.Errorf("headers.%s: set by auth", k))
		case !validHeaderValue(v):
			errs = append(errs, fmt.Errorf("headers.%s: value holds a control character", k))
		}
	}
	return errs
}

// GRPCReservedHeader reports metadata keys that gRPC itself sets.
func GRPCReservedHeader(k string) bool {
	return strings.HasPrefix(k, "grpc-") || k == "content-type" || k == "te" || k == "user-agent"
}

// HTTPReservedHeader reports headers that an exporter sets per request.
func HTTPReservedHeader(k string) bool {
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

// Prefixed puts prefix before the key path of each error err joins (as
// "tls." before the errors of TLS.Validate).
func Prefixed(prefix string, err error) error {
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
