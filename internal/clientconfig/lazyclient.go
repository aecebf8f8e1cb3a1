package clientconfig

import (
	"crypto/tls"
	"errors"
	"net/http"
	"sync/atomic"
)

// ErrNotStarted is what LazyHTTPClient.Client returns before Start.
var ErrNotStarted = errors.New("exporter not started")

// LazyHTTPClient is the HTTP client of an exporter's transport. Start
// makes it with NewHTTPClient (so the proxy is taken from the environment
// as it is at start, and a reload picks up a change), Close closes its
// idle connections. Its Start and Close are a sender.Transport, so a
// transport that embeds it is one. The zero value, with TLS set, is ready
// for Start; it must not be copied.
type LazyHTTPClient struct {
	// TLS configures https:// endpoints; nil means Go's defaults (the
	// system's roots). Build it with TLS.LoadReloading so that rotated
	// files apply at the next handshake.
	TLS *tls.Config

	client atomic.Pointer[http.Client] // set by Start
}

// Start makes the client; a second Start makes a new one (the proxy
// environment read again).
func (c *LazyHTTPClient) Start() error {
	hc, err := NewHTTPClient(c.TLS)
	if err != nil {
		return err
	}
	c.client.Store(hc)
	return nil
}

// Close closes the idle connections. The client stays usable: a request
// still on the wire finishes. It never fails.
func (c *LazyHTTPClient) Close() error {
	if hc := c.client.Load(); hc != nil {
		hc.CloseIdleConnections()
	}
	return nil
}

// Client returns the client Start made, or ErrNotStarted.
func (c *LazyHTTPClient) Client() (*http.Client, error) {
	hc := c.client.Load()
	if hc == nil {
		return nil, ErrNotStarted
	}
	return hc, nil
}
