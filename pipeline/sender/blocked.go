package sender

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// Reasons of outpost_exporter_blocked: why the endpoint, not the data,
// refuses the exporter's requests. Each is a fixed label value.
const (
	BlockedUnauthorized     = "unauthorized"      // HTTP 401, gRPC UNAUTHENTICATED
	BlockedForbidden        = "forbidden"         // HTTP 403, gRPC PERMISSION_DENIED
	BlockedNotFound         = "not_found"         // HTTP 404, gRPC NOT_FOUND or UNIMPLEMENTED
	BlockedProxyAuth        = "proxy_auth"        // HTTP 407
	BlockedUnexpectedStatus = "unexpected_status" // any other non-2xx status that is not about the data (405, 410, 415, 3xx, gRPC UNKNOWN, ...)
	BlockedCredentials      = "credentials"       // the token or password file cannot be read
	BlockedTLS              = "tls"               // TLS handshake or certificate verification failed
	BlockedDNS              = "dns"               // the endpoint's host name does not resolve
)

// BlockedError is a retryable error about the endpoint rather than the
// data: credentials refused, a misroute, a TLS or DNS failure. The Sender
// retries it with capped backoff like any transient error (a queued record
// until queue.max_age), sets outpost_exporter_blocked{reason} to 1 until a
// send succeeds, and logs Hint. It may wrap a *pipeline.ThrottleError, whose
// hint is then honoured.
type BlockedError struct {
	// Reason is one of the Blocked… constants.
	Reason string
	Err    error
}

// NewBlocked wraps err as a BlockedError for reason.
func NewBlocked(reason string, err error) error {
	return &BlockedError{Reason: reason, Err: err}
}

func (e *BlockedError) Error() string { return e.Err.Error() }

func (e *BlockedError) Unwrap() error { return e.Err }

// IsBlocked reports whether err is about the endpoint, and why.
func IsBlocked(err error) (string, bool) {
	if be, ok := errors.AsType[*BlockedError](err); ok {
		return be.Reason, true
	}
	return "", false
}

// BlockedHint is what an operator should look at for a blocked reason.
func BlockedHint(reason string) string {
	switch reason {
	case BlockedUnauthorized:
		return "the far side refused the credentials: check the token or password file (auth.bearer_token_file, auth.basic) and that it holds a current credential; data stays queued and is sent once it is accepted"
	case BlockedForbidden:
		return "the credentials are not allowed to write here: check the tenant (X-Scope-OrgID) and the credential's permissions; data stays queued"
	case BlockedNotFound:
		return "the endpoint has no such path or service: check endpoint (URL path, port) and any proxy or ingress route; data stays queued"
	case BlockedProxyAuth:
		return "the HTTP proxy wants credentials: check HTTP_PROXY / HTTPS_PROXY (http://user:password@proxy); data stays queued"
	case BlockedCredentials:
		return "the token or password file cannot be read: check that it exists, is readable and not empty; data stays queued"
	case BlockedTLS:
		return "TLS failed: check tls.ca_file, tls.server_name, the server certificate (expiry, names), the client certificate, and that the endpoint speaks TLS; data stays queued"
	case BlockedDNS:
		return "the endpoint's host name does not resolve: check endpoint and the node's DNS; data stays queued"
	}
	return "the endpoint answered with a status that says nothing about the data: check endpoint and that the server speaks this protocol; data stays queued"
}

// NetError classifies an error of a request that got no answer (from
// http.Client.Do, a dial or a handshake): a DNS failure or a TLS handshake
// or certificate error is a *BlockedError (BlockedDNS, BlockedTLS); any
// other error is returned as it is, a plain retryable error. what names the
// request ("POST https://...") in the message.
func NetError(what string, err error) error {
	werr := fmt.Errorf("%s: %w", what, err)
	if reason, ok := netBlockedReason(err); ok {
		return NewBlocked(reason, werr)
	}
	return werr
}

func netBlockedReason(err error) (string, bool) {
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return BlockedDNS, true
	}
	var alert tls.AlertError
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok ||
		errors.As(err, &alert) {
		return BlockedTLS, true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return BlockedTLS, true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return BlockedTLS, true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return BlockedTLS, true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return BlockedTLS, true // the endpoint does not speak TLS
	}
	if _, ok := errors.AsType[*tls.ECHRejectionError](err); ok {
		return BlockedTLS, true
	}
	return "", false
}
