package clientconfig

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"

	"golang.org/x/net/http/httpproxy"
)

// NewHTTPClient returns the HTTP client every exporter uses: the default
// transport with tlsCfg (nil: the system's roots), a few idle connections
// per host, and the proxy from the environment as it is now (HTTP_PROXY,
// HTTPS_PROXY, NO_PROXY), rather than http.ProxyFromEnvironment's copy
// taken at the process's first request. Its Timeout stays zero: the Sender
// bounds each attempt through the request's context.
func NewHTTPClient(tlsCfg *tls.Config) (*http.Client, error) {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("http.DefaultTransport is not an *http.Transport")
	}
	tr := base.Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = 4
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	tr.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	return &http.Client{Transport: tr}, nil
}
