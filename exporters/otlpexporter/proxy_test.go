package otlpexporter

import (
	"context"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/outpost-edge/outpost/internal/testutil/otlpsink"
)

// TestHTTPProxyFromEnvironment: otlphttp goes through the proxy named by
// HTTP_PROXY. Go never proxies requests to localhost or a loopback
// address, so the endpoint is a name only the proxy resolves (to the
// sink), as a central collector's name would be.
func TestHTTPProxyFromEnvironment(t *testing.T) {
	sink := otlpsink.Start(t)
	sinkURL, _ := url.Parse(sink.HTTPURL())
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		proxied = append(proxied, r.In.Method+" "+r.In.URL.String())
		mu.Unlock()
		r.SetURL(sinkURL)
		r.Out.URL.Path = r.In.URL.Path
	}})
	t.Cleanup(proxy.Close)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	e, _ := startExporter(t, httpConfig("http://collector.outpost.test:4318", nil))
	if err := e.ConsumeTraces(context.Background(), testTraces(5)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(proxied) != 1 || proxied[0] != "POST http://collector.outpost.test:4318/v1/traces" || sink.Spans() != 5 {
		t.Fatalf("proxy saw %q, sink got %d spans", proxied, sink.Spans())
	}
	t.Logf("through the proxy: %s; sink got %d spans", proxied[0], sink.Spans())
}
