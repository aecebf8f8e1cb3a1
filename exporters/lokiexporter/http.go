package lokiexporter

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

const (
	userAgent        = "outpost"
	contentTypeProto = "application/x-protobuf"
	// maxResponseBytes bounds what is read of a response body; the rest
	// is discarded.
	maxResponseBytes = 64 << 10
	// maxMessageBytes bounds the part of an error body quoted in errors
	// and logs.
	maxMessageBytes = 512
)

// clientOptions are the loaded client options of the `tls` and `auth`
// sections.
type clientOptions struct {
	// TLS configures https:// endpoints; build it with
	// clientconfig.TLS.LoadReloading so that rotated files apply at the
	// next handshake.
	TLS *tls.Config
	// Auth, when set, gives the Authorization header of each request.
	Auth *clientconfig.Authorizer
}

// httpTransport posts ready-to-send push bodies to Loki. Connections are
// kept alive and reused; TLS files changed on disk apply from the next
// connection, auth files from the next request. The proxy is taken from
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY as they are at start (so a reload
// picks up a change); like every Go client it never proxies requests to
// localhost or a loopback address.
type httpTransport struct {
	// LazyHTTPClient is the client: Start makes it, Close closes its
	// idle connections.
	clientconfig.LazyHTTPClient

	url     string
	headers http.Header              // configured headers, tenant, User-Agent, Content-Type
	auth    *clientconfig.Authorizer // nil without auth
}

func newHTTPTransport(cfg *Config, client clientOptions) *httpTransport {
	t := &httpTransport{LazyHTTPClient: clientconfig.LazyHTTPClient{TLS: client.TLS}, url: cfg.Endpoint, headers: http.Header{}, auth: client.Auth}
	// In key order: two keys that differ only in case are one header, and
	// the same one must win at every start.
	for _, k := range slices.Sorted(maps.Keys(cfg.Headers)) {
		t.headers.Set(k, cfg.Headers[k])
	}
	if cfg.Tenant != "" {
		t.headers.Set("X-Scope-OrgID", cfg.Tenant)
	}
	t.headers.Set("User-Agent", userAgent)
	t.headers.Set("Content-Type", contentTypeProto)
	return t
}

// send implements sender.SendFunc: one POST of a push body.
func (t *httpTransport) send(ctx context.Context, r sender.Request) error {
	if r.Encoding != EncodingPush {
		// Not ours (a queue directory reused by another exporter type):
		// it can never be sent here.
		return consumererror.NewPermanent(fmt.Errorf("request encoded as %q, want %q", r.Encoding, EncodingPush))
	}
	client, err := t.Client()
	if err != nil {
		return err
	}
	req, err := sender.NewHTTPRequest(ctx, t.url, r.Body)
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("POST %s: %w", t.url, err))
	}
	req.Header = t.headers.Clone()
	if t.auth != nil {
		v, err := t.auth.Value()
		if err != nil {
			// Retryable: the file may come back.
			return sender.NewBlocked(sender.BlockedCredentials, fmt.Errorf("POST %s: %w", t.url, err))
		}
		req.Header.Set("Authorization", v)
	}
	if r.Compression != "" {
		req.Header.Set("Content-Encoding", r.Compression)
	}
	resp, err := client.Do(req)
	if err != nil {
		// Network: retryable; DNS and TLS failures block the exporter.
		return sender.NetError("POST "+t.url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return withRefusalHint(httpError(t.url, resp, body, time.Now()), body)
}

// httpError classifies a non-2xx answer from Loki as every exporter does
// (sender.HTTPStatusError): 429 (ingestion or stream rate limit) is a
// throttle, honouring Retry-After; every 5xx is retried, after Retry-After
// when given; 400 and 422 are permanent, with Loki's message; 413 is sent
// again in halves; 401, 403, 404, 407 and other statuses block the
// exporter and keep the data queued. Loki answers 400 for entries it will never take
// (out of order, too old, too far in the future, line or structured
// metadata too long, invalid labels); it has stored the rest of the request
// by then, so sending it again would only repeat the refusal.
func httpError(url string, resp *http.Response, body []byte, now time.Time) error {
	return sender.HTTPStatusError(url, resp.StatusCode, resp.Header.Get("Retry-After"), responseMessage(resp, body), now)
}

// responseMessage is the start of Loki's answer (plain text) as one line
// of valid UTF-8, else the status text.
func responseMessage(resp *http.Response, body []byte) string {
	if text := sender.ResponseText(body, maxMessageBytes); text != "" {
		return text
	}
	return http.StatusText(resp.StatusCode)
}
