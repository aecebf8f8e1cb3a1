package serverconfig

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Blocks are a listener's security blocks as configured; nil fields are
// off. CORS applies to HTTP only.
type Blocks struct {
	TLS  *TLS
	Auth *Auth
	CORS *CORS
}

// Validate reports every problem, each named by its key path below the
// receiver's protocol section (tls.cert_file, auth.basic.username, ...).
func (b Blocks) Validate() error {
	var errs []error
	prefix := func(key string, err error) {
		if err == nil {
			return
		}
		for _, e := range unjoin(err) {
			errs = append(errs, fmt.Errorf("%s.%w", key, e))
		}
	}
	if b.TLS != nil {
		prefix("tls", b.TLS.Validate())
	}
	if b.Auth != nil {
		prefix("auth", b.Auth.Validate())
	}
	if b.CORS != nil {
		prefix("cors", b.CORS.Validate())
	}
	return errors.Join(errs...)
}

// Server is what a listener's blocks become once their files are read:
// the TLS configuration that follows the certificate files, the
// authenticator that follows the secret files, the CORS handler. A
// Server with no block on is valid and changes nothing. Safe for
// concurrent use.
type Server struct {
	tls    *serverTLS     // nil: plaintext
	auth   *authenticator // nil: no authentication
	cors   *CORS          // nil: no CORS headers
	logger *slog.Logger
}

// New validates the blocks and reads their files (certificate, key, CA
// bundle, token, password) once now, so that a missing or invalid file
// fails the configuration, not the first client. logger (nil for none)
// receives the reloads of files that change later, and the files that
// change but cannot be loaded (the previous contents are kept).
func New(b Blocks, logger *slog.Logger) (*Server, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cors: b.CORS, logger: logger}
	if b.TLS != nil {
		t, err := b.TLS.load(logger)
		if err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
		s.tls = t
	}
	if b.Auth != nil {
		a, err := b.Auth.load(logger)
		if err != nil {
			return nil, fmt.Errorf("auth.%w", err)
		}
		s.auth = a
	}
	return s, nil
}

// TLSEnabled reports whether the listener serves TLS.
func (s *Server) TLSEnabled() bool { return s.tls != nil }

// AuthEnabled reports whether clients must authenticate.
func (s *Server) AuthEnabled() bool { return s.auth != nil }

// Authenticate checks an Authorization header value (or gRPC
// `authorization` metadata): nil when authentication is off or the
// credentials match, else ErrNoCredentials or ErrBadCredentials. For
// receivers whose protocol is neither of the wrappers below.
func (s *Server) Authenticate(authorization string) error {
	if s.auth == nil {
		return nil
	}
	return s.auth.authenticate(authorization)
}

// Listener wraps ln in TLS (crypto/tls's server side, with the
// certificate files followed), offering nextProtos by ALPN; without a
// `tls` block it returns ln as it is. For raw TCP protocols (syslog),
// nextProtos is empty; for HTTP it is "h2", "http/1.1" (see
// HTTPListener). The handshake runs at a connection's first Read or
// Write, in the goroutine serving it.
func (s *Server) Listener(ln net.Listener, nextProtos ...string) net.Listener {
	if s.tls == nil {
		return ln
	}
	return tls.NewListener(ln, s.tls.config(nextProtos))
}

// HTTPListener is Listener for an http.Server: HTTP/2 and HTTP/1.1
// offered by ALPN.
func (s *Server) HTTPListener(ln net.Listener) net.Listener {
	return s.Listener(ln, "h2", "http/1.1")
}

// DeniedHTTP writes the answer to a request refused for its credentials
// (err is ErrNoCredentials or ErrBadCredentials) and counts it: status
// 401 in the protocol's error format. WWW-Authenticate is set already.
type DeniedHTTP func(w http.ResponseWriter, r *http.Request, err error)

// HTTPHandler wraps next with authentication and CORS, whichever are on.
// A request without valid credentials is answered by denied (nil: a
// plain-text 401) before its body is read; preflight requests are
// answered without credentials, as browsers send none with them.
func (s *Server) HTTPHandler(next http.Handler, denied DeniedHTTP) http.Handler {
	h := next
	if s.auth != nil {
		if denied == nil {
			denied = func(w http.ResponseWriter, _ *http.Request, _ error) {
				http.Error(w, "401 unauthorized", http.StatusUnauthorized)
			}
		}
		challenge := []string{s.auth.scheme + ` realm="outpost"`}
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := s.auth.authenticate(r.Header.Get("Authorization")); err != nil {
				w.Header()["Www-Authenticate"] = challenge
				denied(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	if s.cors != nil {
		h = s.cors.handler(h, s.auth != nil)
	}
	return h
}

// DeniedGRPC counts a call refused for its credentials (err is
// ErrNoCredentials or ErrBadCredentials). fullMethod is
// "/package.Service/Method". It runs in the connection's reading
// goroutine and must not block.
type DeniedGRPC func(ctx context.Context, fullMethod string, err error)

// unauthenticated is the answer to a call without valid credentials; it
// says nothing of what was expected.
var unauthenticated = status.Error(codes.Unauthenticated, "missing or invalid credentials")

// GRPCServerOptions are the grpc.ServerOptions of the blocks: TLS
// credentials (following the certificate files), and authentication of
// every call, unary or streaming, by its `authorization` metadata. The
// check runs in a tap handle, before gRPC creates the stream and reads the
// request message, so an unauthenticated client costs neither the message
// nor a memory_limit charge; a call refused is answered UNAUTHENTICATED
// and reported to denied (nil: not reported). The options include
// grpc.InTapHandle, which a server may hold only one of.
func (s *Server) GRPCServerOptions(denied DeniedGRPC) []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.tls != nil {
		// credentials.NewTLS adds "h2" to NextProtos of the configs
		// GetConfigForClient returns.
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tls.config(nil))))
	}
	if s.auth != nil {
		opts = append(opts, grpc.InTapHandle(func(ctx context.Context, info *tap.Info) (context.Context, error) {
			var authz string
			if v := info.Header.Get("authorization"); len(v) > 0 {
				authz = v[0]
			}
			if err := s.auth.authenticate(authz); err != nil {
				if denied != nil {
					denied(ctx, info.FullMethodName, err)
				}
				return ctx, unauthenticated
			}
			return ctx, nil
		}))
	}
	return opts
}

// WarnIfExposed logs a warning when endpoint (the configured host:port)
// is not a loopback address and the listener lacks TLS or
// authentication: other hosts can then read the telemetry on the wire, or
// send any. An empty host (":4317"), 0.0.0.0 and [::] listen on every
// interface and count as exposed, as does any host name but localhost
// (it may resolve anywhere); localhost, 127.0.0.0/8 and ::1 do not.
// Mutual TLS (tls.client_ca_file) authenticates the client by its
// certificate, so it counts as authentication. protocol names the
// listener ("grpc", "http", "tcp"). It reports whether it warned.
func (s *Server) WarnIfExposed(logger *slog.Logger, protocol, endpoint string) bool {
	mutual := s.tls != nil && s.tls.cas != nil
	if logger == nil || IsLoopback(endpoint) || (s.tls != nil && (s.auth != nil || mutual)) {
		return false
	}
	var missing []string
	if s.tls == nil {
		missing = append(missing, "TLS (tls)")
	}
	if s.auth == nil && !mutual {
		missing = append(missing, "authentication (auth)")
	}
	logger.Warn("receiver listens beyond this host without "+strings.Join(missing, " or "),
		"protocol", protocol, "endpoint", endpoint)
	return true
}

// IsLoopback reports whether endpoint (host:port, or a bare host) listens
// on the loopback interface only.
func IsLoopback(endpoint string) bool {
	host := endpoint
	if h, _, err := net.SplitHostPort(endpoint); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// unjoin is the errors an errors.Join made, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
