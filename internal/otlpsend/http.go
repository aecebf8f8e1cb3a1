package otlpsend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
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
	// LazyHTTPClient is the client: Start makes it, Close closes its
	// idle connections.
	clientconfig.LazyHTTPClient

	urls    map[pipeline.Signal]string // "" for a signal with no endpoint
	headers http.Header                // configured headers, canonical keys
	auth    *clientconfig.Authorizer
}

var _ Transport = (*HTTP)(nil)

// NewHTTP returns a transport for o; Start makes its client.
func NewHTTP(o HTTPOptions) *HTTP {
	t := &HTTP{LazyHTTPClient: clientconfig.LazyHTTPClient{TLS: o.TLS}, urls: map[pipeline.Signal]string{}, headers: http.Header{}, auth: o.Auth}
	for _, sig := range pipeline.Signals {
		t.urls[sig] = o.URLs[sig]
	}
	for k, v := range o.Headers {
		t.headers.Set(k, v)
	}
	t.headers.Set("User-Agent", userAgent)
	return t
}

// Send implements sender.SendFunc.
func (t *HTTP) Send(ctx context.Context, r sender.Request) error {
	url := t.urls[r.Signal]
	if url == "" {
		return consumererror.NewPermanent(fmt.Errorf("no endpoint for %s: set endpoint or %s_endpoint", r.Signal, r.Signal))
	}
	client, err := t.Client()
	if err != nil {
		return err
	}
	req, err := sender.NewHTTPRequest(ctx, url, r.Body)
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("POST %s: %w", url, err))
	}
	req.Header = t.headers.Clone()
	if t.auth != nil {
		v, err := t.auth.Value()
		if err != nil {
			// Retryable: the file may come back.
			return sender.NewBlocked(sender.BlockedCredentials, fmt.Errorf("POST %s: %w", url, err))
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
		// Network: retryable; DNS and TLS failures block the exporter.
		return sender.NetError("POST "+url, err)
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

// httpError classifies a non-2xx answer (sender.HTTPStatusError), quoting
// the server's message.
func httpError(url string, resp *http.Response, body []byte, now time.Time) error {
	return sender.HTTPStatusError(url, resp.StatusCode, resp.Header.Get("Retry-After"), responseMessage(resp, body), now)
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
		if text := sender.ResponseText(body, maxMessageBytes); text != "" {
			return text
		}
	}
	return http.StatusText(resp.StatusCode)
}

func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

func isJSONContent(ct string) bool { return mediaType(ct) == contentTypeJSON }
