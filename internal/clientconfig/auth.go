package clientconfig

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/outpost-edge/outpost/internal/filewatch"
)

// Redacted is what String shows in place of a secret.
const Redacted = "[redacted]"

// Secret is a string that is never shown: String, GoString (%v, %+v, %#v,
// and so any log or error that formats a configuration) print Redacted
// unless it is empty.
type Secret string

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// Headers are custom request headers (HTTP headers, or gRPC metadata with
// the keys in lower case). Their values may be credentials, so String
// shows only the keys.
type Headers map[string]string

// String implements fmt.Stringer: the keys, sorted, each with Redacted.
func (h Headers) String() string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("map[")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + ":" + Redacted)
	}
	b.WriteByte(']')
	return b.String()
}

// GoString implements fmt.GoStringer.
func (h Headers) GoString() string { return "clientconfig.Headers" + h.String() }

// Auth is the `auth` block of a client: how it authenticates itself with
// an Authorization header. At most one of bearer_token_file and basic.
type Auth struct {
	// BearerTokenFile is a file holding a token sent as `Authorization:
	// Bearer <token>` (HTTP header, or gRPC metadata). The file is re-read
	// when it changes, so a rotated token is used from the next request.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Basic is HTTP basic authentication (RFC 7617).
	Basic BasicAuth `yaml:"basic"`
}

// BasicAuth is the `auth.basic` block.
type BasicAuth struct {
	// Username is required when the block is used; it may not hold ':'.
	Username string `yaml:"username"`
	// Password, or PasswordFile: a file holding it (re-read when it
	// changes). One of them.
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

func (b BasicAuth) set() bool { return b.Username != "" || b.Password != "" || b.PasswordFile != "" }

// Set reports whether any authentication is configured.
func (a Auth) Set() bool { return a.BearerTokenFile != "" || a.Basic.set() }

// Validate reports every inconsistent field, named by its YAML key path
// below `auth`. It does not read the files; Load does.
func (a Auth) Validate() error {
	var errs []error
	if a.BearerTokenFile != "" && a.Basic.set() {
		errs = append(errs, errors.New("bearer_token_file, basic: give one or the other"))
	}
	if a.Basic.set() {
		switch {
		case a.Basic.Username == "":
			errs = append(errs, errors.New("basic.username: required"))
		case strings.ContainsAny(a.Basic.Username, ":\r\n"):
			errs = append(errs, errors.New("basic.username: may not contain ':' or a line break"))
		}
		if (a.Basic.Password == "") == (a.Basic.PasswordFile == "") {
			errs = append(errs, errors.New("basic.password, basic.password_file: give one"))
		}
		if strings.ContainsAny(string(a.Basic.Password), "\r\n") {
			errs = append(errs, errors.New("basic.password: may not contain a line break"))
		}
	}
	return errors.Join(errs...)
}

// Load reads the files and returns the Authorizer, or nil when no
// authentication is configured. A missing or empty file is an error
// naming its key. logger (nil for none) reports files that change but
// cannot be read.
func (a Auth) Load(logger *slog.Logger) (*Authorizer, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	switch {
	case a.BearerTokenFile != "":
		w, err := filewatch.Secret(watchOpts("bearer_token_file", logger), a.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("bearer_token_file: %w", err)
		}
		return &Authorizer{value: func() (string, error) {
			tok, err := w.Get()
			if err != nil {
				return "", fmt.Errorf("bearer_token_file: %w", err)
			}
			return "Bearer " + tok, nil
		}}, nil
	case a.Basic.PasswordFile != "":
		w, err := filewatch.Secret(watchOpts("basic.password_file", logger), a.Basic.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("basic.password_file: %w", err)
		}
		user := a.Basic.Username
		return &Authorizer{value: func() (string, error) {
			pw, err := w.Get()
			if err != nil {
				return "", fmt.Errorf("basic.password_file: %w", err)
			}
			return basic(user, pw), nil
		}}, nil
	case a.Basic.set():
		v := basic(a.Basic.Username, string(a.Basic.Password))
		return &Authorizer{value: func() (string, error) { return v, nil }}, nil
	}
	return nil, nil
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// Authorizer gives the Authorization header value of each request, from
// the current content of its files. It is also a gRPC
// credentials.PerRPCCredentials, sending the value as `authorization`
// metadata.
type Authorizer struct {
	value func() (string, error)
}

// Value is the Authorization header value now.
func (a *Authorizer) Value() (string, error) { return a.value() }

// String implements fmt.Stringer without showing the credential.
func (a *Authorizer) String() string { return "Authorizer{" + Redacted + "}" }

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (a *Authorizer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	v, err := a.value()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": v}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials. It is
// false so that a plaintext endpoint (tls.insecure: true, for example a
// sidecar on the same host) can still authenticate; the credential then
// crosses the network in clear, as a header would.
func (a *Authorizer) RequireTransportSecurity() bool { return false }

// watchOpts names files followed for a client in their log lines.
func watchOpts(what string, logger *slog.Logger) filewatch.Options {
	return filewatch.Options{What: what, Role: "client credentials", Logger: logger}
}
