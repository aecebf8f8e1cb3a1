package otlpreceiver

import (
	"context"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/pipeline"
)

// format is the encoding of an OTLP message on the wire.
type format uint8

const (
	formatProto format = iota
	formatJSON
)

// exportResponse is what the p*otlp ExportResponse types have in common.
type exportResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func marshalResponse(r exportResponse, f format) ([]byte, error) {
	if f == formatJSON {
		return r.MarshalJSON()
	}
	return r.MarshalProto()
}

// signalDef is what differs between traces, metrics and logs.
type signalDef[T any] struct {
	signal pipeline.Signal
	// count is the number of items: spans, data points or log records.
	count func(T) int
	// unmarshal decodes an Export*ServiceRequest. The result does not
	// alias body, so body can be reused once it returns.
	unmarshal func(body []byte, f format) (T, error)
	// response makes an Export*ServiceResponse; rejected > 0 or a message
	// fills partial_success.
	response func(rejected int64, msg string) exportResponse
}

var tracesDef = &signalDef[ptrace.Traces]{
	signal: pipeline.SignalTraces,
	count:  ptrace.Traces.SpanCount,
	unmarshal: func(body []byte, f format) (ptrace.Traces, error) {
		req := ptraceotlp.NewExportRequest()
		var err error
		if f == formatJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		return req.Traces(), err
	},
	response: func(rejected int64, msg string) exportResponse {
		r := ptraceotlp.NewExportResponse()
		if rejected > 0 || msg != "" {
			r.PartialSuccess().SetRejectedSpans(rejected)
			r.PartialSuccess().SetErrorMessage(msg)
		}
		return r
	},
}

var metricsDef = &signalDef[pmetric.Metrics]{
	signal: pipeline.SignalMetrics,
	count:  pmetric.Metrics.DataPointCount,
	unmarshal: func(body []byte, f format) (pmetric.Metrics, error) {
		req := pmetricotlp.NewExportRequest()
		var err error
		if f == formatJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		return req.Metrics(), err
	},
	response: func(rejected int64, msg string) exportResponse {
		r := pmetricotlp.NewExportResponse()
		if rejected > 0 || msg != "" {
			r.PartialSuccess().SetRejectedDataPoints(rejected)
			r.PartialSuccess().SetErrorMessage(msg)
		}
		return r
	},
}

var logsDef = &signalDef[plog.Logs]{
	signal: pipeline.SignalLogs,
	count:  plog.Logs.LogRecordCount,
	unmarshal: func(body []byte, f format) (plog.Logs, error) {
		req := plogotlp.NewExportRequest()
		var err error
		if f == formatJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		return req.Logs(), err
	},
	response: func(rejected int64, msg string) exportResponse {
		r := plogotlp.NewExportResponse()
		if rejected > 0 || msg != "" {
			r.PartialSuccess().SetRejectedLogRecords(rejected)
			r.PartialSuccess().SetErrorMessage(msg)
		}
		return r
	},
}

// handler serves one signal on both transports.
type handler[T any] struct {
	def     *signalDef[T]
	consume func(context.Context, T) error
	rcv     *receiver
	grpc    *counters // nil when gRPC is off
	http    *counters // nil when HTTP is off
	// emptyJSON is the JSON of a response without partial success ("{}"
	// today; computed so that it follows pdata). Its protobuf is empty.
	emptyJSON []byte
}

func newHandler[T any](r *receiver, def *signalDef[T], consume func(context.Context, T) error) *handler[T] {
	h := &handler[T]{def: def, consume: consume, rcv: r}
	// Series only for the transports that are on.
	if r.cfg.Protocols.GRPC != nil {
		h.grpc = r.newCounters(def.signal, transportGRPC)
	}
	if r.cfg.Protocols.HTTP != nil {
		h.http = r.newCounters(def.signal, transportHTTP)
	}
	var err error
	if h.emptyJSON, err = def.response(0, "").MarshalJSON(); err != nil {
		h.emptyJSON = []byte("{}")
	}
	return h
}

// export hands data to the pipeline, counts the outcome and logs failures
// (rate-limited). A request without items is accepted without bothering
// the pipeline.
func (h *handler[T]) export(ctx context.Context, data T, c *counters) outcome {
	n := h.def.count(data)
	if n == 0 {
		return outcome{}
	}
	o := classify(h.consume(ctx, data))
	if o.kind == outcomePartial {
		o.rejected = min(o.rejected, int64(n))
	}
	c.record(o, n)
	switch o.kind {
	case outcomeAccepted:
	case outcomePartial:
		h.rcv.limitedLog.Warn("rejected", "pipeline rejected part of a request", "signal", h.def.signal, "transport", c.transport, "rejected", o.rejected, "error", o.err)
	case outcomeThrottled:
		h.rcv.limitedLog.Info("throttled", "pipeline is applying back-pressure; clients are asked to retry later", "signal", h.def.signal, "transport", c.transport, "error", o.err)
	default:
		h.rcv.limitedLog.Warn(refusedReason(o.kind), "pipeline refused a request", "signal", h.def.signal, "transport", c.transport, "error", o.err)
	}
	return o
}

// partialResponse encodes the response for an outcomePartial.
func (h *handler[T]) partialResponse(o outcome, f format) ([]byte, error) {
	return marshalResponse(h.def.response(o.rejected, o.message()), f)
}
