package otlpsend

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"golang.org/x/net/http/httpproxy"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
	// maxResponseBytes bounds what is read of a response body (partial
	// success or error status); the rest is discarded.
	maxResponseBytes = 64 << 10
	// maxMessageBytes bounds the part of a non-Status error body quoted in
	// errors and logs.
	maxMessageBytes = 256
)

// HTTPOptions configure an HTTP transport.
type HTTPOptions struct {
	// URLs are where each signal is posted; a signal without one is
	// refused (permanently).
	URLs map[pipeline.Signal]string
	// Headers are sent with every request.
	Headers map[string]string
	// TLS configures https:// URLs; nil means Go's defaults (the system's
	// roots). Build it with clientconfig.TLS.LoadReloading so that rotated
	// files apply at the next handshake.
	TLS *tls.Config
	// Auth, when set, gives the Authorization header of each request.
	Auth *clientconfig.Authorizer
}

// HTTP posts ready-to-send bodies. Connections are kept alive and reused;
// TLS files changed on disk apply from the next connection. The proxy is
// taken from HTTP_PROXY, HTTPS_PROXY and NO_PROXY as they are at Start
// (so a reload picks up a change); like every Go client it never proxies
// requests to localhost or a loopback address.
type HTTP struct {
	urls    map[pipeline.Signal]string // "" for a signal with no endpoint
	headers http.Header                // configured headers, canonical keys
	tlsCfg  *tls.Config
	auth    *clientconfig.Authorizer
	client  atomic.Pointer[http.Client] // set by Start
}

var _ Transport = (*HTTP)(nil)

// NewHTTP returns a transport for o; Start makes its client.
func NewHTTP(o HTTPOptions) *HTTP {
	t := &HTTP{urls: map[pipeline.Signal]string{}, headers: http.Header{}, tlsCfg: o.TLS, auth: o.Auth}
	for _, sig := range pipeline.Signals {
		t.urls[sig] = o.URLs[sig]
	}
	for k, v := range o.Headers {
		t.headers.Set(k, v)
	}
	t.headers.Set("User-Agent", userAgent)
	return t
}

// Start makes the client.
func (t *HTTP) Start() error {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return errors.New("http.DefaultTransport is not an *http.Transport")
	}
	tr := base.Clone()
	tr.TLSClientConfig = t.tlsCfg
	tr.MaxIdleConnsPerHost = 4
	// The environment now, rather than http.ProxyFromEnvironment's copy
	// taken at the process's first request.
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	tr.Proxy = func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
	// Client.Timeout stays zero: the Sender bounds each attempt through
	// the request's context.
	t.client.Store(&http.Client{Transport: tr})
	return nil
}

// Close closes idle connections.
func (t *HTTP) Close() error {
	if c := t.client.Load(); c != nil {
		c.CloseIdleConnections()
	}
	return nil
}

// Send implements sender.SendFunc.
func (t *HTTP) Send(ctx context.Context, r sender.Request) error {
	url := t.urls[r.Signal]
	if url == "" {
		return consumererror.NewPermanent(fmt.Errorf("no endpoint for %s: set endpoint or %s_endpoint", r.Signal, r.Signal))
	}
	client := t.client.Load()
	if client == nil {
		return errors.New("exporter not started")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("POST %s: %w", url, err))
	}
	req.Header = t.headers.Clone()
	if t.auth != nil {
		v, err := t.auth.Value()
		if err != nil {
			return fmt.Errorf("POST %s: %w", url, err) // retryable: the file may come back
		}
		req.Header.Set("Authorization", v)
	}
	if r.Encoding == sender.EncodingJSON {
		req.Header.Set("Content-Type", contentTypeJSON)
	} else {
		req.Header.Set("Content-Type", contentTypeProto)
	}
	if r.Compression != "" {
		req.Header.Set("Content-Encoding", r.Compression)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err) // network: retryable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err != nil {
			return nil // accepted; only the (optional) partial success is lost
		}
		return partialSuccess(r, body, isJSONContent(resp.Header.Get("Content-Type")))
	}
	return httpError(url, resp, body, time.Now())
}

// httpError classifies a non-2xx answer: 429 is a throttle, honouring
// Retry-After; every 5xx is retried (after Retry-After when given), since
// with a durable queue behind it a server error is worth waiting out rather
// than losing the batch (the OTLP specification retries only 502, 503 and
// 504; outpost's delivery contract retries every 5xx); every other status
// is permanent. The error quotes the server's message.
func httpError(url string, resp *http.Response, body []byte, now time.Time) error {
	err := fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, responseMessage(resp, body))
	wait := retryAfter(resp.Header.Get("Retry-After"), now)
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return pipeline.NewThrottle(err, wait)
	}
	if resp.StatusCode >= 500 && resp.StatusCode <= 599 {
		if wait > 0 {
			return pipeline.NewThrottle(err, wait)
		}
		return err
	}
	return consumererror.NewPermanent(err)
}

// responseMessage is the server's explanation: the message of a
// google.rpc.Status body (what OTLP servers send), else the start of the
// body as text, else the status text.
func responseMessage(resp *http.Response, body []byte) string {
	if len(body) > 0 {
		var st spb.Status
		var err error
		if isJSONContent(resp.Header.Get("Content-Type")) {
			err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, &st)
		} else if mediaType(resp.Header.Get("Content-Type")) == contentTypeProto {
			err = proto.Unmarshal(body, &st)
		} else {
			err = errors.New("not a Status")
		}
		if err == nil && st.GetMessage() != "" {
			return st.GetMessage()
		}
		if text := quote(body); text != "" {
			return text
		}
	}
	return http.StatusText(resp.StatusCode)
}

// quote returns the first maxMessageBytes of body as one line of valid
// UTF-8 (a rune cut in two, or any invalid byte, shows as '?').
func quote(body []byte) string {
	body = body[:min(len(body), maxMessageBytes)]
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date.
// It returns 0 for an absent, invalid or past value, and at most a day.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

func isJSONContent(ct string) bool { return mediaType(ct) == contentTypeJSON }
