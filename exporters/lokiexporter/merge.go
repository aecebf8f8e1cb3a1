package lokiexporter

import (
	"fmt"

	"github.com/grafana/loki/pkg/push"
)

// mergePush is the sender.OutputSettings.Merge of push bodies: it makes
// one PushRequest of several, with the entries of equal streams (same
// labels) gathered into one stream, in order, instead of the
// concatenation's one stream element per body.
//
// Why not the concatenation (also a valid PushRequest): Loki's ingester
// pushes a request's streams one after the other and answers with the
// error of the last one only (pkg/ingester/instance.go, Push), so entries
// it refuses in any other stream element (too far behind the newest entry
// of their stream, for instance) are dropped while the push is answered
// 204. With one element per stream, a stream's refusals are reported
// whenever it is the only one, as a backlog of one service typically is.
// Refusals in streams other than the last stay invisible to any client.
func mergePush(dst []byte, bodies [][]byte) ([]byte, error) {
	var out push.PushRequest
	index := map[string]int{}
	for i, b := range bodies {
		var req push.PushRequest
		if err := req.Unmarshal(b); err != nil {
			return dst, fmt.Errorf("decode push body %d: %w", i, err)
		}
		for _, s := range req.Streams {
			if j, ok := index[s.Labels]; ok {
				out.Streams[j].Entries = append(out.Streams[j].Entries, s.Entries...)
				continue
			}
			index[s.Labels] = len(out.Streams)
			out.Streams = append(out.Streams, s)
		}
	}
	raw, err := out.Marshal()
	if err != nil {
		return dst, fmt.Errorf("encode merged push: %w", err)
	}
	return append(dst, raw...), nil
}
