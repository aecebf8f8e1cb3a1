package sender

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
)

// HTTPStatusError classifies a non-2xx answer the way every outpost
// exporter does (docs/exporters.md has the table):
//
//   - 429 is a throttle honouring Retry-After;
//   - every 5xx is retried (after Retry-After when given), since with a
//     durable queue behind it a server error is worth waiting out rather
//     than losing the batch; 408 and 425 are retried too;
//   - 400 and 422 are about the data: permanent;
//   - 413 is permanent with reason "too_large", wrapping ErrTooLarge, so
//     that a Sender with a SplitFunc sends the request again in halves;
//   - 401, 403, 404, 407 and every other status are about the endpoint (a
//     credential, a route, a proxy): a *BlockedError, retried with backoff
//     (after Retry-After when given), the data kept.
//
// msg is the server's explanation, quoted in the error.
func HTTPStatusError(url string, status int, retryAfter, msg string, now time.Time) error {
	err := fmt.Errorf("POST %s: HTTP %d: %s", url, status, msg)
	wait := RetryAfter(retryAfter, now)
	retry := func(err error) error {
		if wait > 0 {
			return pipeline.NewThrottle(err, wait)
		}
		return err
	}
	switch {
	case status == http.StatusTooManyRequests:
		return pipeline.NewThrottle(err, wait)
	case status >= 500 && status <= 599,
		status == http.StatusRequestTimeout, status == http.StatusTooEarly:
		return retry(err)
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return consumererror.NewPermanent(err)
	case status == http.StatusRequestEntityTooLarge:
		return consumererror.NewPermanent(&ReasonError{Reason: ReasonTooLarge, Err: fmt.Errorf("%w: %w", ErrTooLarge, err)})
	case status == http.StatusUnauthorized:
		return NewBlocked(BlockedUnauthorized, retry(err))
	case status == http.StatusForbidden:
		return NewBlocked(BlockedForbidden, retry(err))
	case status == http.StatusNotFound:
		return NewBlocked(BlockedNotFound, retry(err))
	case status == http.StatusProxyAuthRequired:
		return NewBlocked(BlockedProxyAuth, retry(err))
	}
	return NewBlocked(BlockedUnexpectedStatus, retry(err))
}

// RetryAfter parses a Retry-After value: delay-seconds or an HTTP date.
// It returns 0 for an absent, invalid or past value, and at most a day.
func RetryAfter(v string, now time.Time) time.Duration {
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

// ResponseText returns the first max bytes of a response body as one line
// of valid UTF-8 (a rune cut in two, or any invalid byte, shows as '?'),
// or "" when there is no text.
func ResponseText(body []byte, max int) string {
	body = body[:min(len(body), max)]
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
}
