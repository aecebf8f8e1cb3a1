package otlpsink

import (
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/pipeline"
)

// receive handles one decompressed request body for both transports. It
// returns the response body to send, or the injected Failure to answer
// with (RequireAuthorization, then the FailFunc), or a decoding error (a
// bad request).
//
// Bodies are decoded with pdata only when that is needed (JSON, or data to
// keep); otherwise their items are counted on the wire format.
func (s *Sink) receive(info *RequestInfo, authorization string, body []byte, isJSON bool) ([]byte, *Failure, error) {
	f := s.authFailure(authorization)
	if f == nil {
		f = s.failure(info.Signal)
	}
	if f != nil && f.isError() {
		info.Failed = true
		s.record(*info)
		return nil, f, nil
	}
	var items int
	var keep func()
	var err error
	if isJSON || s.opts.KeepItems > 0 {
		items, keep, err = s.decode(info.Signal, body, isJSON)
	} else {
		items, err = countItems(info.Signal, body)
	}
	if err != nil {
		return nil, nil, err
	}
	info.Items = items
	var rejected int64
	var msg string
	if f != nil && f.Rejected > 0 {
		rejected, msg = min(f.Rejected, int64(items)), f.message()
		info.Rejected = rejected
	}
	s.accept(info.Signal, items, rejected, keep)
	s.record(*info)
	resp, err := response(info.Signal, rejected, msg, isJSON)
	return resp, nil, err
}

// decode decodes a body with pdata and returns its item count and a
// function that keeps the batch (called under the sink's lock).
func (s *Sink) decode(sig pipeline.Signal, body []byte, isJSON bool) (int, func(), error) {
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		if err := unmarshal(req, body, isJSON); err != nil {
			return 0, nil, err
		}
		td := req.Traces()
		return td.SpanCount(), func() { s.traces = append(s.traces, td) }, nil
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := unmarshal(req, body, isJSON); err != nil {
			return 0, nil, err
		}
		md := req.Metrics()
		return md.DataPointCount(), func() { s.metrics = append(s.metrics, md) }, nil
	default:
		req := plogotlp.NewExportRequest()
		if err := unmarshal(req, body, isJSON); err != nil {
			return 0, nil, err
		}
		ld := req.Logs()
		return ld.LogRecordCount(), func() { s.logs = append(s.logs, ld) }, nil
	}
}

// response encodes the Export*ServiceResponse: empty, or a partial success.
func response(sig pipeline.Signal, rejected int64, msg string, isJSON bool) ([]byte, error) {
	if rejected == 0 {
		if isJSON {
			return []byte("{}"), nil
		}
		return nil, nil // an empty message
	}
	switch sig {
	case pipeline.SignalTraces:
		resp := ptraceotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedSpans(rejected)
		resp.PartialSuccess().SetErrorMessage(msg)
		return marshal(resp, isJSON)
	case pipeline.SignalMetrics:
		resp := pmetricotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedDataPoints(rejected)
		resp.PartialSuccess().SetErrorMessage(msg)
		return marshal(resp, isJSON)
	default:
		resp := plogotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedLogRecords(rejected)
		resp.PartialSuccess().SetErrorMessage(msg)
		return marshal(resp, isJSON)
	}
}

type protoJSONUnmarshaler interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

func unmarshal(m protoJSONUnmarshaler, body []byte, isJSON bool) error {
	if isJSON {
		return m.UnmarshalJSON(body)
	}
	return m.UnmarshalProto(body)
}

type protoJSONMarshaler interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func marshal(m protoJSONMarshaler, isJSON bool) ([]byte, error) {
	if isJSON {
		return m.MarshalJSON()
	}
	return m.MarshalProto()
}
