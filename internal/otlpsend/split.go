package otlpsend

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// maxSplitBytes bounds the decompressed body SplitRequest decodes. Bodies
// are outpost's own (a batch it encoded), so this only guards against a
// damaged record.
const maxSplitBytes = 1 << 30

// SplitRequest is the sender.SplitFunc of OTLP bodies: it decodes r (any
// encoding and compression a stored body may carry), keeps the first
// half of its spans, data points or log records in one request and the
// rest in the other (each with its resource and scope), and encodes both
// as r was. It is called only when the far side refused r as too large, so
// its cost (a decode and two encodes) does not matter.
func SplitRequest(r sender.Request) (sender.Request, sender.Request, error) {
	if r.Items < 2 {
		return sender.Request{}, sender.Request{}, errors.New("fewer than two items")
	}
	raw, err := decompress(r.Compression, r.Body)
	if err != nil {
		return sender.Request{}, sender.Request{}, err
	}
	isJSON := r.Encoding == sender.EncodingJSON
	half := r.Items / 2
	var a, b exportRequest
	var na, nb int
	switch r.Signal {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		if err := unmarshalResponse(req, raw, isJSON); err != nil {
			return sender.Request{}, sender.Request{}, fmt.Errorf("decode traces: %w", err)
		}
		ta, tb := splitTraces(req.Traces(), half)
		a, b = ptraceotlp.NewExportRequestFromTraces(ta), ptraceotlp.NewExportRequestFromTraces(tb)
		na, nb = ta.SpanCount(), tb.SpanCount()
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		if err := unmarshalResponse(req, raw, isJSON); err != nil {
			return sender.Request{}, sender.Request{}, fmt.Errorf("decode metrics: %w", err)
		}
		ma, mb := splitMetrics(req.Metrics(), half)
		a, b = pmetricotlp.NewExportRequestFromMetrics(ma), pmetricotlp.NewExportRequestFromMetrics(mb)
		na, nb = ma.DataPointCount(), mb.DataPointCount()
	case pipeline.SignalLogs:
		req := plogotlp.NewExportRequest()
		if err := unmarshalResponse(req, raw, isJSON); err != nil {
			return sender.Request{}, sender.Request{}, fmt.Errorf("decode logs: %w", err)
		}
		la, lb := splitLogs(req.Logs(), half)
		a, b = plogotlp.NewExportRequestFromLogs(la), plogotlp.NewExportRequestFromLogs(lb)
		na, nb = la.LogRecordCount(), lb.LogRecordCount()
	default:
		return sender.Request{}, sender.Request{}, fmt.Errorf("unknown signal %q", r.Signal)
	}
	if na == 0 || nb == 0 || na+nb != r.Items {
		return sender.Request{}, sender.Request{}, fmt.Errorf("the body holds %d items, not %d", na+nb, r.Items)
	}
	enc := encoder{encoding: r.Encoding}
	if r.Compression != "" {
		enc.compressor = newBodyCompressor(r.Compression, false)
	}
	ra, err := enc.encode(r.Signal, na, a)
	if err != nil {
		return sender.Request{}, sender.Request{}, fmt.Errorf("encode the first half: %w", err)
	}
	rb, err := enc.encode(r.Signal, nb, b)
	if err != nil {
		return sender.Request{}, sender.Request{}, fmt.Errorf("encode the second half: %w", err)
	}
	ra.Expires, rb.Expires = r.Expires, r.Expires
	return ra, rb, nil
}

// decompress undoes a body's content encoding.
func decompress(compression string, body []byte) ([]byte, error) {
	var rd io.Reader
	switch compression {
	case "":
		return body, nil
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		rd = zr
	case CompressionZstd:
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxSplitBytes))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, fmt.Errorf("unknown compression %q", compression)
	}
	out, err := io.ReadAll(io.LimitReader(rd, maxSplitBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", compression, err)
	}
	if len(out) > maxSplitBytes {
		return nil, fmt.Errorf("%s: body larger than %d bytes decompressed", compression, maxSplitBytes)
	}
	return out, nil
}

// splitTraces returns the first n spans of td and the others (td is
// consumed).
func splitTraces(td ptrace.Traces, n int) (ptrace.Traces, ptrace.Traces) {
	first := ptrace.NewTraces()
	td.CopyTo(first)
	i := 0
	keepFirst := func(ptrace.Span) bool { i++; return i > n } // remove from first what is past n
	j := 0
	keepRest := func(ptrace.Span) bool { j++; return j <= n } // remove from the rest the first n
	first.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(keepFirst)
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(keepRest)
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	return first, td
}

// splitLogs returns the first n log records of ld and the others (ld is
// consumed).
func splitLogs(ld plog.Logs, n int) (plog.Logs, plog.Logs) {
	first := plog.NewLogs()
	ld.CopyTo(first)
	i, j := 0, 0
	first.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(plog.LogRecord) bool { i++; return i > n })
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(plog.LogRecord) bool { j++; return j <= n })
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	return first, ld
}

// splitMetrics returns the first n data points of md and the others (md
// is consumed); a metric whose points fall on both sides is in both, with
// its own points on each.
func splitMetrics(md pmetric.Metrics, n int) (pmetric.Metrics, pmetric.Metrics) {
	first := pmetric.NewMetrics()
	md.CopyTo(first)
	i, j := 0, 0
	prune(first, func() bool { i++; return i > n })
	prune(md, func() bool { j++; return j <= n })
	return first, md
}

// prune removes the data points for which drop (called once per point, in
// order) says so, and the metrics, scopes and resources left empty.
func prune(md pmetric.Metrics, drop func() bool) {
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return drop() })
					return m.Gauge().DataPoints().Len() == 0
				case pmetric.MetricTypeSum:
					m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return drop() })
					return m.Sum().DataPoints().Len() == 0
				case pmetric.MetricTypeHistogram:
					m.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { return drop() })
					return m.Histogram().DataPoints().Len() == 0
				case pmetric.MetricTypeExponentialHistogram:
					m.ExponentialHistogram().DataPoints().RemoveIf(func(pmetric.ExponentialHistogramDataPoint) bool { return drop() })
					return m.ExponentialHistogram().DataPoints().Len() == 0
				case pmetric.MetricTypeSummary:
					m.Summary().DataPoints().RemoveIf(func(pmetric.SummaryDataPoint) bool { return drop() })
					return m.Summary().DataPoints().Len() == 0
				}
				return true // no data points: nothing to send
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
}
