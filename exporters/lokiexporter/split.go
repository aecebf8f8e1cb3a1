package lokiexporter

import (
	"errors"
	"fmt"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"

	"github.com/outpost-edge/outpost/pipeline/sender"
)

// maxSplitBytes bounds the decoded push body splitPush works on; bodies
// are the exporter's own, so this only guards against a damaged record.
const maxSplitBytes = 1 << 30

// splitPush is the sender.SplitFunc of push bodies, for a request Loki
// refused with 413: it decodes the PushRequest and puts the first half of
// its entries in one request and the rest in the other (a stream whose
// entries fall on both sides is in both, with its own entries in each),
// encoded as the original. A body whose entries do not number r.Items (one
// entry per log record) is not split, so the counts stay exact.
func splitPush(r sender.Request) (sender.Request, sender.Request, error) {
	if r.Encoding != EncodingPush || r.Compression != compressionSnappy {
		return sender.Request{}, sender.Request{}, fmt.Errorf("request encoded as %s/%s", r.Encoding, r.Compression)
	}
	if n, err := snappy.DecodedLen(r.Body); err != nil || n > maxSplitBytes {
		return sender.Request{}, sender.Request{}, fmt.Errorf("snappy body of %d bytes decoded: %v", n, err)
	}
	raw, err := snappy.Decode(nil, r.Body)
	if err != nil {
		return sender.Request{}, sender.Request{}, fmt.Errorf("snappy: %w", err)
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		return sender.Request{}, sender.Request{}, fmt.Errorf("decode push request: %w", err)
	}
	total := 0
	for _, s := range req.Streams {
		total += len(s.Entries)
	}
	if total != r.Items || total < 2 {
		return sender.Request{}, sender.Request{}, fmt.Errorf("the body holds %d entries, the record %d items", total, r.Items)
	}
	half := total / 2
	var a, b push.PushRequest
	n := 0
	for _, s := range req.Streams {
		take := min(len(s.Entries), max(half-n, 0))
		n += take
		switch {
		case take == len(s.Entries):
			a.Streams = append(a.Streams, s)
		case take == 0:
			b.Streams = append(b.Streams, s)
		default:
			sa, sb := s, s
			sa.Entries, sb.Entries = s.Entries[:take], s.Entries[take:]
			a.Streams = append(a.Streams, sa)
			b.Streams = append(b.Streams, sb)
		}
	}
	ra, errA := encodePush(&a, half, r)
	rb, errB := encodePush(&b, total-half, r)
	if err := errors.Join(errA, errB); err != nil {
		return sender.Request{}, sender.Request{}, err
	}
	return ra, rb, nil
}

func encodePush(req *push.PushRequest, items int, like sender.Request) (sender.Request, error) {
	raw, err := req.Marshal()
	if err != nil {
		return sender.Request{}, fmt.Errorf("encode push request: %w", err)
	}
	like.Items, like.Body = items, snappy.Encode(nil, raw)
	return like, nil
}
