// Package clientconfig holds the configuration blocks that clients (the
// exporters) share: `tls` (TLS and mutual TLS), `auth` (a bearer token
// file, or basic credentials) and `headers`, with their validation.
//
// Files are followed: TLS.LoadReloading and Auth.Load hand out
// certificates, CA pools, tokens and passwords read from their files at
// each TLS handshake or request, re-reading a file only when a stat shows
// it changed (and re-parsing only when its content hash did), so a rotated
// certificate applies to the next connection and a rotated token to the
// next request. A change that does not load keeps the previous contents.
// No goroutine watches the files.
//
// TLS.Load stays as it was: a snapshot of the files, for clients that have
// not moved to LoadReloading yet.
//
// Secrets never show: Secret, Headers and Authorizer print as
// "[redacted]" with %v, %+v, %#v and %s, so formatting a configuration
// into a log or an error does not leak them.
//
// It does not choose a proxy: the HTTP clients use the environment
// (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), gRPC its own default (HTTPS_PROXY).
package clientconfig
