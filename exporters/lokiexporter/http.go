package lokiexporter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
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

// httpTransport posts ready-to-send push bodies to Loki.
type httpTransport struct {
	url     string
	headers http.Header // configured headers, tenant and User-Agent
	tlsCfg  *tls.Config
	client  atomic.Pointer[http.Client] // set by start
}

func newHTTPTransport(cfg *Config, tlsCfg *tls.Config) *httpTransport {
	t := &httpTransport{url: cfg.Endpoint, headers: http.Header{}, tlsCfg: tlsCfg}
	for k, v := range cfg.Headers {
		t.headers.Set(k, v)
	}
	if cfg.Tenant != "" {
		t.headers.Set("X-Scope-OrgID", cfg.Tenant)
	}
	t.headers.Set("User-Agent", userAgent)
	t.headers.Set("Content-Type", contentTypeProto)
	return t
}

func (t *httpTransport) start() error {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return errors.New("http.DefaultTransport is not an *http.Transport")
	}
	tr := base.Clone()
	tr.TLSClientConfig = t.tlsCfg
	tr.MaxIdleConnsPerHost = 4
	// Client.Timeout stays zero: the Sender bounds each attempt through
	// the request's context.
	t.client.Store(&http.Client{Transport: tr})
	return nil
}

func (t *httpTransport) close() {
	if c := t.client.Load(); c != nil {
		c.CloseIdleConnections()
	}
}

// send implements sender.SendFunc: one POST of a push body.
func (t *httpTransport) send(ctx context.Context, r sender.Request) error {
	if r.Encoding != EncodingPush {
		// Not ours (a queue directory reused by another exporter type):
		// it can never be sent here.
		return consumererror.NewPermanent(fmt.Errorf("request encoded as %q, want %q", r.Encoding, EncodingPush))
	}
	client := t.client.Load()
	if client == nil {
		return errors.New("exporter not started")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(r.Body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("POST %s: %w", t.url, err))
	}
	req.Header = t.headers.Clone()
	if r.Compression != "" {
		req.Header.Set("Content-Encoding", r.Compression)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", t.url, err) // network: retryable
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	// Drain a little more so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return httpError(t.url, resp, body, time.Now())
}

// httpError classifies a non-2xx answer from Loki: 429 (ingestion or
// stream rate limit) is a throttle, honouring Retry-After; every 5xx is
// retried, after Retry-After when given; every other status is permanent,
// with Loki's message. Loki answers 400 for entries it will never take
// (out of order, too old, too far in the future, line or structured
// metadata too long, invalid labels); it has stored the rest of the request
// by then, so sending it again would only repeat the refusal.
func httpError(url string, resp *http.Response, body []byte, now time.Time) error {
	err := fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, responseMessage(resp, body))
	wait := retryAfter(resp.Header.Get("Retry-After"), now)
	if resp.StatusCode == http.StatusTooManyRequests {
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

// responseMessage is the start of Loki's answer (plain text) as one line
// of valid UTF-8, else the status text.
func responseMessage(resp *http.Response, body []byte) string {
	body = body[:min(len(body), maxMessageBytes)]
	if text := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " "); text != "" {
		return text
	}
	return http.StatusText(resp.StatusCode)
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
