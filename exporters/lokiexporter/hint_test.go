package lokiexporter

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// TestRefusalNamesServerSetting: Loki's refusals of old or out-of-order
// entries are logged with the Loki setting that decides them; the
// classification (permanent for a 400) is unchanged.
func TestRefusalNamesServerSetting(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		// Loki 3.7's answers, as the distributor and ingester word them.
		{"entry for stream '{service_name=\"a\"}' has timestamp too old: 2026-11-20T10:00:00Z, oldest acceptable timestamp is: 2026-11-23T10:00:00Z",
			"limits_config.reject_old_samples_max_age"},
		{"entry with timestamp 2026-11-30 05:00:00 +0000 UTC ignored, reason: 'entry too far behind, entry timestamp is: 2026-11-30T05:00:00Z, " +
			"oldest acceptable timestamp is: 2026-11-30T10:00:00Z',\nuser 'fake', total ignored: 1 out of 1 for stream: {service_name=\"a\"}",
			"ingester.max_chunk_age"},
		{"entry with timestamp 2026-11-30 05:00:00 +0000 UTC ignored, reason: 'entry out of order' for stream: {a=\"b\"}", "limits_config.unordered_writes"},
		{"entry for stream '{a=\"b\"}' has timestamp too new: 2027-01-01T00:00:00Z", "creation_grace_period"},
		{"max entry size '256' bytes exceeded for stream '{a=\"b\"}'", ""},
	} {
		resp := &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{}}
		err := withRefusalHint(httpError("http://loki/loki/api/v1/push", resp, []byte(tc.body), time.Now()), []byte(tc.body))
		if !consumererror.IsPermanent(err) {
			t.Errorf("%q: not permanent: %v", tc.body, err)
		}
		if hinted := strings.Contains(err.Error(), "(hint: "); hinted != (tc.want != "") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q, want a hint naming %q", err, tc.want)
		}
	}
	if withRefusalHint(nil, []byte("has timestamp too old")) != nil {
		t.Error("a nil error got a hint")
	}
}
