package otlpsend

import (
	"fmt"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// partialSuccess decodes a successful ExportResponse and returns a
// *pipeline.PartialError if the far side rejected items, nil otherwise. An
// empty or undecodable response is a plain success: the request was
// accepted, and the response carries nothing else we act on.
func partialSuccess(r sender.Request, body []byte, isJSON bool) error {
	if len(body) == 0 {
		return nil
	}
	var rejected int64
	var msg string
	switch r.Signal {
	case pipeline.SignalTraces:
		resp := ptraceotlp.NewExportResponse()
		if unmarshalResponse(resp, body, isJSON) != nil {
			return nil
		}
		rejected, msg = resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()
	case pipeline.SignalMetrics:
		resp := pmetricotlp.NewExportResponse()
		if unmarshalResponse(resp, body, isJSON) != nil {
			return nil
		}
		rejected, msg = resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage()
	case pipeline.SignalLogs:
		resp := plogotlp.NewExportResponse()
		if unmarshalResponse(resp, body, isJSON) != nil {
			return nil
		}
		rejected, msg = resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage()
	}
	if rejected <= 0 {
		return nil
	}
	if msg == "" {
		msg = "no reason given"
	}
	// The rejected items are refused for good: retrying the request would
	// only duplicate the accepted ones.
	return &pipeline.PartialError{
		Rejected: rejected,
		Err:      consumererror.NewPermanent(fmt.Errorf("far side rejected %d of %d %s: %s", rejected, r.Items, r.Signal, msg)),
	}
}

type responseUnmarshaler interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

func unmarshalResponse(m responseUnmarshaler, body []byte, isJSON bool) error {
	if isJSON {
		return m.UnmarshalJSON(body)
	}
	return m.UnmarshalProto(body)
}
