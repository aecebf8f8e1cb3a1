package lokiexporter

import (
	"bytes"
	"fmt"
)

// refusalHints name, for each of Loki's refusals of old or out-of-order
// entries (recognised by the text Loki 3 answers with; the status, not
// this text, decides whether the request is retried), the Loki setting
// that decides whether such entries are taken. Found in Loki 3.7's
// pkg/validation/validate.go (distributor) and pkg/ingester/stream.go,
// pkg/chunkenc/interface.go (ingester).
var refusalHints = []struct {
	text string // a fragment of Loki's message, lower case
	hint string
}{
	// Distributor: older than now − reject_old_samples_max_age (default 1w).
	{"has timestamp too old", "Loki refuses entries older than limits_config.reject_old_samples_max_age (default 1w; " +
		"-validation.reject-old-samples.max-age): set it above the longest uplink outage and above queue.max_age"},
	// Ingester, unordered writes (the default): more than max_chunk_age/2
	// behind the newest entry of the same stream.
	{"entry too far behind", "Loki takes an entry at most ingester.max_chunk_age/2 (default 1h) behind the newest entry of its stream: " +
		"keep node among the stream labels so that each edge's backlog has streams of its own, or raise ingester.max_chunk_age"},
	// Ingester, limits_config.unordered_writes: false.
	{"entry out of order", "the stream takes entries only in time order: set limits_config.unordered_writes: true (the default)"},
	// Distributor: later than now + creation_grace_period (default 10m).
	{"has timestamp too new", "the entry is ahead of Loki's clock by more than limits_config.creation_grace_period: check the edge's clock (NTP)"},
}

// withRefusalHint appends to err the hint for the first of Loki's old-entry
// refusals that body mentions, naming the server setting to change; err is
// returned as it is when there is none. The result wraps err, so its
// classification (permanent, throttle) is unchanged.
func withRefusalHint(err error, body []byte) error {
	if err == nil {
		return nil
	}
	lower := bytes.ToLower(body)
	for _, h := range refusalHints {
		if bytes.Contains(lower, []byte(h.text)) {
			return fmt.Errorf("%w (hint: %s)", err, h.hint)
		}
	}
	return err
}
