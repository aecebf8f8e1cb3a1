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
// exporter does: 429 is a throttle honouring Retry-After; every 5xx is
// retried (after Retry-After when given), since with a durable queue behind
// it a server error is worth waiting out rather than losing the batch; every
// other status is permanent. msg is the server's explanation, quoted in the
// error.
func HTTPStatusError(url string, status int, retryAfter, msg string, now time.Time) error {
	err := fmt.Errorf("POST %s: HTTP %d: %s", url, status, msg)
	wait := RetryAfter(retryAfter, now)
	switch {
	case status == http.StatusTooManyRequests:
		return pipeline.NewThrottle(err, wait)
	case status >= 500 && status <= 599:
		if wait > 0 {
			return pipeline.NewThrottle(err, wait)
		}
		return err
	}
	return consumererror.NewPermanent(err)
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
