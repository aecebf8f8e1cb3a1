package serverconfig

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/internal/filewatch"
)

// Auth is the `auth` block of a receiver's listener: the credentials a
// client must present in its Authorization header (HTTP) or
// `authorization` metadata (gRPC). It has the shape of the exporters'
// `auth` block (internal/clientconfig), so one secret file can serve both
// ends of an edge-to-gateway link. Exactly one of bearer_token_file and
// basic.
type Auth struct {
	// BearerTokenFile is a file holding the token a client must send as
	// `Authorization: Bearer <token>`: the whole file without surrounding
	// whitespace, one line. It is re-read when it changes, so a rotated
	// token is required from the next request on.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// Basic is HTTP basic authentication (RFC 7617): one username, and its
	// password inline or in a plain file (the whole file without
	// surrounding whitespace, one line; not an htpasswd file), re-read when
	// it changes.
	Basic clientconfig.BasicAuth `yaml:"basic"`
}

// Validate reports every problem, named by its key below `auth`. It does
// not read the files; load does.
func (a *Auth) Validate() error {
	c := clientconfig.Auth{BearerTokenFile: a.BearerTokenFile, Basic: a.Basic}
	if !c.Set() {
		return errors.New("bearer_token_file, basic: give one")
	}
	return c.Validate()
}

// Errors of Authenticate. Both are answered alike (401 / UNAUTHENTICATED);
// the log tells them apart.
var (
	ErrNoCredentials  = errors.New("no credentials (Authorization header) in the request")
	ErrBadCredentials = errors.New("credentials in the request do not match the receiver's auth")
)

// authenticator checks a request's Authorization value against the
// current content of the configured files.
type authenticator struct {
	scheme string // "Bearer" or "Basic", for WWW-Authenticate
	check  func(credentials string) error
}

func (a *Auth) load(logger *slog.Logger) (*authenticator, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	opts := func(what string) filewatch.Options {
		return filewatch.Options{What: what, Role: "server credentials", Logger: logger}
	}
	if a.BearerTokenFile != "" {
		w, err := filewatch.Secret(opts("bearer_token_file"), a.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("bearer_token_file: %w", err)
		}
		return &authenticator{scheme: "Bearer", check: func(cred string) error {
			want, _ := w.Get() // never an error once loaded
			if !equal(cred, want) {
				return ErrBadCredentials
			}
			return nil
		}}, nil
	}
	password := func() string { return string(a.Basic.Password) }
	if a.Basic.PasswordFile != "" {
		w, err := filewatch.Secret(opts("basic.password_file"), a.Basic.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("basic.password_file: %w", err)
		}
		password = func() string { v, _ := w.Get(); return v }
	}
	user := a.Basic.Username
	return &authenticator{scheme: "Basic", check: func(cred string) error {
		b, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return ErrBadCredentials
		}
		u, p, ok := strings.Cut(string(b), ":")
		// Both compared, always, so that the time taken does not say
		// which one was wrong.
		uok, pok := equal(u, user), equal(p, password())
		if !ok || !uok || !pok {
			return ErrBadCredentials
		}
		return nil
	}}, nil
}

// authenticate checks an Authorization value: "<scheme> <credentials>",
// the scheme case-insensitive (RFC 9110 §11.1).
func (a *authenticator) authenticate(authorization string) error {
	if authorization == "" {
		return ErrNoCredentials
	}
	scheme, cred, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, a.scheme) {
		return ErrBadCredentials
	}
	return a.check(strings.TrimSpace(cred))
}

// equal compares secrets in constant time, whatever their lengths (the
// hashes have one length).
func equal(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
