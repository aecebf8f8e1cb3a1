package serverconfig

import (
	"errors"

	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
)

// Messages a receiver sends its clients in place of a pipeline error. The
// pipeline's error names exporters, queue files (a full disk's error
// holds the segment's path) and far-side URLs: the node's business, not
// the client's. The client gets the kind of failure, which is all it can
// act on; the receiver logs the error itself.
const (
	MsgPartial     = "part of the request was refused for good by the pipeline; the collector's log says why"
	MsgPermanent   = "the request was refused for good by the pipeline; the collector's log says why"
	MsgThrottled   = "the pipeline is full; retry later"
	MsgUnavailable = "the pipeline cannot take the data now; retry later"
	MsgMemoryLimit = "memory limit reached; retry later"
)

// ClientMessage is the text to answer a client with for err, the error a
// pipeline consumer returned (nil: ""): one of the Msg constants by the
// error's kind (*pipeline.PartialError, *pipeline.ThrottleError,
// consumererror permanent, anything else), never err's own text.
func ClientMessage(err error) string {
	var pe *pipeline.PartialError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return MsgPartial
	}
	if _, ok := pipeline.IsThrottle(err); ok {
		return MsgThrottled
	}
	if consumererror.IsPermanent(err) {
		return MsgPermanent
	}
	return MsgUnavailable
}
