package prometheusremotewriteexporter

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/clientconfig"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// Reasons for requests Prometheus refused with 400 because of their
// samples; Prometheus (remote write 1.0) then stores nothing of the
// request, so all its data points count as failed with the reason.
const (
	ReasonOutOfOrder      = "out_of_order"     // older than the newest sample of its series
	ReasonOutOfBounds     = "out_of_bounds"    // outside the head's time range (too old, or too far in the future)
	ReasonDuplicateSample = "duplicate_sample" // same series and timestamp, another value
	ReasonTooOld          = "too_old"          // older than the out-of-order window allows
)

const (
	userAgent = "outpost"
	// maxResponseBytes bounds what is read of a response body.
	maxResponseBytes = 64 << 10
	// maxMessageBytes bounds the part of an error body quoted in errors.
	maxMessageBytes = 512
)

// client posts ready-to-send bodies to the remote-write endpoint.
// Connections are kept alive and reused; TLS files changed on disk apply
// from the next connection (tlsCfg is built by TLS.LoadReloading), the
// Authorization from auth at every request. The proxy is taken from
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY as they are at start (so a reload
// picks up a change); like every Go client it never proxies requests to
// localhost or a loopback address.
type client struct {
	// LazyHTTPClient is the HTTP client: Start makes it, Close closes its
	// idle connections.
	clientconfig.LazyHTTPClient

	url     string
	headers http.Header              // configured and protocol headers, canonical keys
	auth    *clientconfig.Authorizer // nil without auth
}

// newClient returns the client of c; tlsCfg (nil for Go's defaults) and
// auth (nil for none) are c.TLS and c.Auth loaded.
func newClient(c *Config, tlsCfg *tls.Config, auth *clientconfig.Authorizer) *client {
	cl := &client{LazyHTTPClient: clientconfig.LazyHTTPClient{TLS: tlsCfg}, url: c.Endpoint, headers: http.Header{}, auth: auth}
	for k, v := range c.Headers {
		cl.headers.Set(k, v)
	}
	if cl.headers.Get("User-Agent") == "" {
		cl.headers.Set("User-Agent", userAgent)
	}
	cl.headers.Set("Content-Type", "application/x-protobuf")
	cl.headers.Set("Content-Encoding", compressionSnappy)
	cl.headers.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	return cl
}

// send implements sender.SendFunc: one POST of r, classified.
func (c *client) send(ctx context.Context, r sender.Request) error {
	if r.Encoding != EncodingRW1 || r.Compression != compressionSnappy {
		return consumererror.NewPermanent(fmt.Errorf("stored request is %s/%s, this exporter sends %s/%s", r.Encoding, r.Compression, EncodingRW1, compressionSnappy))
	}
	hc, err := c.Client()
	if err != nil {
		return err
	}
	req, err := sender.NewHTTPRequest(ctx, c.url, r.Body)
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("POST %s: %w", c.url, err))
	}
	req.Header = c.headers.Clone()
	if c.auth != nil {
		v, err := c.auth.Value()
		if err != nil {
			// Retryable: the file may come back.
			return sender.NewBlocked(sender.BlockedCredentials, fmt.Errorf("POST %s: %w", c.url, err))
		}
		req.Header.Set("Authorization", v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		// Network: retryable; DNS and TLS failures block the exporter.
		return sender.NetError("POST "+c.url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return classify(c.url, resp.StatusCode, resp.Header.Get("Retry-After"), body, time.Now())
}

// classify turns a non-2xx answer into an error the Sender understands
// (sender.HTTPStatusError): 429 is a throttle honouring Retry-After; every
// 5xx is retried (after Retry-After when given); 400 and 422 are
// permanent, and a 400 about samples Prometheus cannot store carries the
// reason it is counted under; 413 is sent again in halves; 401, 403, 404,
// 407 and other statuses block the exporter and keep the data queued.
// The error quotes the server's message.
func classify(url string, status int, retryAfterHeader string, body []byte, now time.Time) error {
	msg := sender.ResponseText(body, maxMessageBytes)
	if msg == "" {
		msg = http.StatusText(status)
	}
	if status == http.StatusBadRequest {
		if reason := sampleReason(msg); reason != "" {
			err := fmt.Errorf("POST %s: HTTP %d: %s%s", url, status, msg, refusalHint(reason))
			return consumererror.NewPermanent(&sender.ReasonError{Reason: reason, Err: err})
		}
	}
	return sender.HTTPStatusError(url, status, retryAfterHeader, msg, now)
}

// sampleReason recognises the storage errors Prometheus answers 400 with
// (storage.ErrOutOfOrderSample and friends), and Mimir's by their error
// ids (err-mimir-sample-…). The status, not this text, makes the error
// permanent: the text only names the counter's reason.
func sampleReason(msg string) string {
	m := strings.ToLower(msg)
	switch {
	// Mimir names its refusals by error id; timestamp-too-old is what
	// Prometheus calls out of bounds (outside the out-of-order window).
	case strings.Contains(m, "out of order sample"), strings.Contains(m, "err-mimir-sample-out-of-order"):
		return ReasonOutOfOrder
	case strings.Contains(m, "out of bounds"), strings.Contains(m, "err-mimir-sample-timestamp-too-old"):
		return ReasonOutOfBounds
	case strings.Contains(m, "duplicate sample for timestamp"), strings.Contains(m, "err-mimir-sample-duplicate-timestamp"):
		return ReasonDuplicateSample
	case strings.Contains(m, "too old sample"):
		return ReasonTooOld
	}
	return ""
}
