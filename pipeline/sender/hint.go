package sender

import (
	"crypto/tls"
	"errors"
	"regexp"
	"strings"
	"syscall"
)

// signalPathTwice matches a URL whose signal path was appended to an
// endpoint that already ended in it: .../v1/traces/v1/traces.
var signalPathTwice = regexp.MustCompile(`/v1/(traces|metrics|logs)/v1/(traces|metrics|logs)`)

// ErrorHint returns what to check for a send error whose cause is common
// and not evident from the error itself, or "". It is for the log line
// only; whether to retry is decided by the error's type, never here.
//
//   - a TLS client talking to a plaintext port: set tls.insecure: true;
//   - an otlphttp endpoint that already ends in /v1/traces (the exporter
//     appends the signal's path);
//   - connection refused: nothing listens at the endpoint.
func ErrorHint(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var rh tls.RecordHeaderError
	// net/http says "server gave HTTP response to HTTPS client"; gRPC
	// passes on crypto/tls's message.
	if errors.As(err, &rh) || strings.Contains(msg, "first record does not look like a TLS handshake") ||
		strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		return "the endpoint answered in plaintext, not TLS: if it has no TLS, set tls.insecure: true (or give an http:// endpoint); data stays queued"
	}
	if m := signalPathTwice.FindStringSubmatch(msg); m != nil {
		return "the endpoint already ends in /v1/" + m[1] + ", and the exporter appends the signal's path: give the base URL (such as http://host:4318); data stays queued"
	}
	if errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused") {
		return "connection refused: nothing listens at the endpoint's host and port; check endpoint and that the server runs; data stays queued"
	}
	return ""
}

// hintFor is the hint of a send error for the log: ErrorHint's, else the
// blocked reason's (when the exporter is blocked), else "".
func hintFor(err error, blockedReason string) string {
	if h := ErrorHint(err); h != "" {
		return h
	}
	if blockedReason != "" {
		return BlockedHint(blockedReason)
	}
	return ""
}
