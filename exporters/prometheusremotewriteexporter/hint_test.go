package prometheusremotewriteexporter

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline/sender"
)

// TestRefusalNamesServerSetting: a 400 for samples Prometheus will not
// store because of their age names the server setting that would take
// them; the error stays permanent and keeps its reason.
func TestRefusalNamesServerSetting(t *testing.T) {
	for _, tc := range []struct {
		body, reason, want string
	}{
		// Prometheus 3.10's answers (storage.ErrOutOfBounds and friends).
		{"out of bounds", ReasonOutOfBounds, "storage.tsdb.out_of_order_time_window"},
		{"too old sample", ReasonTooOld, "storage.tsdb.out_of_order_time_window"},
		{"out of order sample", ReasonOutOfOrder, "storage.tsdb.out_of_order_time_window"},
		{"duplicate sample for timestamp", ReasonDuplicateSample, ""},
		// Mimir's answers, by error id.
		{"failed pushing to ingester: user=edge: the sample has been rejected because its timestamp is too old (err-mimir-sample-timestamp-too-old). The affected sample has timestamp 2026-11-30T06:00:00Z", ReasonOutOfBounds, "out_of_order_time_window"},
		{"the sample has been rejected because another sample with a more recent timestamp has already been ingested and out-of-order samples are not allowed (err-mimir-sample-out-of-order)", ReasonOutOfOrder, "out_of_order_time_window"},
		{"the sample has been rejected because another sample with the same timestamp, but a different value, has already been ingested (err-mimir-sample-duplicate-timestamp)", ReasonDuplicateSample, ""},
		{"invalid labels", "", ""},
	} {
		err := classify("http://p/api/v1/write", 400, "", []byte(tc.body), time.Now())
		if !consumererror.IsPermanent(err) {
			t.Errorf("%q: not permanent: %v", tc.body, err)
		}
		var re *sender.ReasonError
		if got := ""; errors.As(err, &re) {
			got = re.Reason
			if got != tc.reason {
				t.Errorf("%q: reason %q, want %q", tc.body, got, tc.reason)
			}
		} else if tc.reason != "" {
			t.Errorf("%q: no reason, want %q", tc.body, tc.reason)
		}
		if hinted := strings.Contains(err.Error(), "hint:"); hinted != (tc.want != "") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q, want a hint naming %q", tc.body, err, tc.want)
		}
		t.Logf("%s → %v", tc.body, err)
	}
}
