package prometheusremotewritereceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/cappedread"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Remote-write protobuf message types, the proto parameter of
// Content-Type (remote write 2.0 specification, "Content-Type").
const (
	protoV1 = "prometheus.WriteRequest"
	protoV2 = "io.prometheus.write.v2.Request"
)

// The written-count response headers of remote write 2.0.
const (
	headerSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	headerHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	headerExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// Values of the reason label of outpost_receiver_bad_requests_total.
const (
	reasonDecode               = "decode"
	reasonTooLarge             = "too_large"
	reasonUnsupportedMediaType = "unsupported_media_type"
	reasonUnsupportedEncoding  = "unsupported_encoding"
	reasonMethodNotAllowed     = "method_not_allowed"
	reasonMemoryLimit          = "memory_limit"
	reasonUnauthenticated      = "unauthenticated"
)

// Values of the reason label of outpost_receiver_refused_items_total for
// the pipeline's answers.
const (
	reasonThrottled   = "throttled"
	reasonUnavailable = "unavailable"
	reasonPermanent   = "permanent"
	reasonRejected    = "rejected"
)

// defaultRetryAfter is the Retry-After of a 503 without a hint of its own.
const defaultRetryAfter = time.Second

// maxPooledBuffer is the largest body buffer kept for reuse.
const maxPooledBuffer = 4 << 20

type version uint8

const (
	v1 version = 1
	v2 version = 2
)

// negotiate maps a Content-Type to the remote-write version, as the 2.0
// specification says: application/x-protobuf without proto parameter is
// 1.0; proto=prometheus.WriteRequest is 1.0; proto=io.prometheus.write.v2.Request
// is 2.0; anything else is unsupported (415). An absent Content-Type is
// taken as 1.0, as Prometheus's own receiver does for older clients.
func negotiate(ct string) (version, bool) {
	if ct == "" {
		return v1, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-protobuf" {
		return 0, false
	}
	switch params["proto"] {
	case "", protoV1:
		return v1, true
	case protoV2:
		return v2, true
	}
	return 0, false
}

// ServeHTTP serves the remote-write endpoint (every other path is 404).
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != r.cfg.URLPath {
		http.Error(w, "no remote-write endpoint at "+req.URL.Path, http.StatusNotFound)
		return
	}
	c := r.counters
	if req.Method != http.MethodPost {
		c.bad(reasonMethodNotAllowed).Inc()
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method "+req.Method+" not allowed, use POST", http.StatusMethodNotAllowed)
		return
	}
	ver, ok := negotiate(req.Header.Get("Content-Type"))
	if !ok {
		c.bad(reasonUnsupportedMediaType).Inc()
		http.Error(w, fmt.Sprintf("unsupported content type %q (want application/x-protobuf;proto=%s or proto=%s)", req.Header.Get("Content-Type"), protoV1, protoV2), http.StatusUnsupportedMediaType)
		return
	}
	if enc := req.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "snappy") {
		c.bad(reasonUnsupportedEncoding).Inc()
		http.Error(w, fmt.Sprintf("unsupported content encoding %q (want snappy)", enc), http.StatusUnsupportedMediaType)
		return
	}
	res, charge, bad := r.decode(req.Context(), ver, http.MaxBytesReader(w, req.Body, int64(r.cfg.MaxRequestBodySize)), req.ContentLength)
	defer charge.Release()
	if bad.status != 0 {
		c.bad(bad.reason).Inc()
		if bad.status == http.StatusServiceUnavailable {
			r.limited.Log(slog.LevelInfo, bad.reason, "refused a remote-write request at the memory limit; the client is asked to retry", "error", bad.msg)
			w.Header().Set("Retry-After", retryAfterSeconds(defaultRetryAfter))
		} else {
			r.limited.Log(slog.LevelWarn, bad.reason, "refused a bad remote-write request", "status", bad.status, "error", bad.msg)
		}
		http.Error(w, bad.msg, bad.status)
		return
	}
	r.answer(w, req.Context(), ver, res)
}

// answer hands the translated request to the pipeline and writes the
// response.
func (r *receiver) answer(w http.ResponseWriter, ctx context.Context, ver version, res result) {
	c := r.counters
	for reason, n := range res.refused {
		c.refused(reason).Add(float64(n))
	}
	if len(res.refused) > 0 {
		r.limited.Log(slog.LevelWarn, "untranslatable", "left out data points that OTLP cannot hold", "refused", res.refused)
	}
	n := res.md.DataPointCount()
	var err error
	if n > 0 {
		err = r.next.ConsumeMetrics(ctx, res.md)
	}
	o := classify(err)
	if o.kind == outcomeAccepted || o.kind == outcomePartial {
		// Counted once the request is taken: a refused one comes again.
		for reason, n := range res.exemplarsDropped {
			r.telemetry.ReceiverDroppedExemplars.WithLabelValues(r.id.String(), reason).Add(float64(n))
		}
		if len(res.exemplarsDropped) > 0 {
			r.limited.Log(slog.LevelInfo, "exemplars", "left out exemplars without a data point of their series in the request", "dropped", res.exemplarsDropped)
		}
	}
	switch o.kind {
	case outcomeAccepted:
		c.accepted.Add(float64(n))
		writeCounts(w, ver, res.samples, res.histograms, res.exemplars)
		w.WriteHeader(http.StatusNoContent)
	case outcomePartial:
		rejected := min(int(o.rejected), n)
		c.accepted.Add(float64(n - rejected))
		c.refused(reasonRejected).Add(float64(rejected))
		r.limited.Log(slog.LevelWarn, reasonRejected, "pipeline rejected part of a remote-write request", "rejected", rejected, "error", err)
		// The rest is stored; sending the request again would not help.
		http.Error(w, serverconfig.MsgPartial, http.StatusBadRequest)
	case outcomePermanent:
		c.refused(reasonPermanent).Add(float64(n))
		r.limited.Log(slog.LevelWarn, reasonPermanent, "pipeline refused a remote-write request for good", "error", err)
		writeCounts(w, ver, 0, 0, 0)
		http.Error(w, serverconfig.MsgPermanent, http.StatusBadRequest)
	default:
		// 503, never 429: Prometheus does not retry a 429 unless
		// retry_on_http_429 is set, and would drop the batch.
		reason := reasonUnavailable
		if o.kind == outcomeThrottled {
			reason = reasonThrottled
		}
		c.refused(reason).Add(float64(n))
		r.limited.Log(slog.LevelInfo, reason, "pipeline is applying back-pressure; Prometheus is asked to retry", "error", err)
		w.Header().Set("Retry-After", retryAfterSeconds(o.retryAfter))
		writeCounts(w, ver, 0, 0, 0)
		msg := serverconfig.MsgUnavailable
		if o.kind == outcomeThrottled {
			msg = serverconfig.MsgThrottled
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
	}
}

// writeCounts sets the remote-write 2.0 written-count headers.
func writeCounts(w http.ResponseWriter, ver version, samples, histograms, exemplars int) {
	if ver != v2 {
		return
	}
	h := w.Header()
	h.Set(headerSamplesWritten, strconv.Itoa(samples))
	h.Set(headerHistogramsWritten, strconv.Itoa(histograms))
	h.Set(headerExemplarsWritten, strconv.Itoa(exemplars))
}

// retryAfterSeconds formats d for Retry-After: whole seconds, rounded up,
// at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}

// badRequest is a request refused before it reached the pipeline; the
// zero value means none.
type badRequest struct {
	status int
	reason string
	msg    string
}

// decode reads, decompresses, unmarshals and translates a request body.
// It never panics on any input.
//
// Memory: the snappy body is charged byte for byte as it is read (whole,
// from Content-Length, when that is declared); once read, its decoded
// length (which snappy's block format states up front) is checked
// against the size cap and charged memlimit.Expansion times before it is
// decoded, which covers the decoded buffer, the protobuf structures and
// the pdata made from them. When the limit is taken, the charge waits up
// to a second; then the request is refused with 503 and Retry-After
// (reason memory_limit). A body larger than the limit can ever hold is a
// 413 (too_large). The charge (nil on failure) is the caller's to release
// once the pipeline has answered.
func (r *receiver) decode(ctx context.Context, ver version, body io.Reader, contentLength int64) (res result, charge *memlimit.Charge, bad badRequest) {
	maxBody := int64(r.cfg.MaxRequestBodySize)
	limit := r.memory.MaxRequestSize(maxBody)
	if contentLength > limit {
		return res, nil, r.tooLarge(limit)
	}
	wctx, cancel := context.WithTimeout(ctx, defaultRetryAfter)
	charge, err := r.memory.AdmitWait(wctx, max(contentLength, 0))
	cancel()
	if err != nil {
		return res, nil, r.chargeError(err, limit)
	}
	src := charge.Reader(ctx, body, memlimit.ReaderOptions{PerByte: 1, Limit: limit + 1, MaxWait: defaultRetryAfter, Paid: max(contentLength, 0)})
	compressed := r.getBuffer(int(min(max(contentLength, 0)+512, maxPooledBuffer)))
	defer r.putBuffer(compressed)
	*compressed, err = cappedread.Read(src, *compressed, limit)
	if err != nil {
		charge.Release()
		return res, nil, r.readError(err, limit)
	}
	n, err := snappy.DecodedLen(*compressed)
	if err != nil {
		charge.Release()
		return res, nil, badRequest{http.StatusBadRequest, reasonDecode, "snappy: " + err.Error()}
	}
	if int64(n) > limit {
		charge.Release()
		return res, nil, r.tooLarge(limit)
	}
	if err := charge.Grow(int64(n) * memlimit.Expansion); err != nil {
		charge.Release()
		return res, nil, r.chargeError(err, limit)
	}
	decoded := r.getBuffer(n)
	defer r.putBuffer(decoded)
	raw, err := snappy.Decode((*decoded)[:cap(*decoded)], *compressed)
	if err != nil {
		charge.Release()
		return res, nil, badRequest{http.StatusBadRequest, reasonDecode, "snappy: " + err.Error()}
	}
	res, err = translate(ver, raw, r.meta)
	if err != nil {
		charge.Release()
		return res, nil, badRequest{http.StatusBadRequest, reasonDecode, err.Error()}
	}
	// Down to what decoding took; the compressed body is given back.
	_ = charge.Resize(int64(n) * memlimit.Expansion)
	return res, charge, badRequest{}
}

// translate unmarshals a decoded body of version ver and makes pdata.
func translate(ver version, raw []byte, meta *metadataCache) (result, error) {
	if ver == v2 {
		var req writev2.Request
		if err := req.Unmarshal(raw); err != nil {
			return result{}, fmt.Errorf("decode remote-write 2.0 request: %w", err)
		}
		return translateV2(&req, len(raw))
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return result{}, fmt.Errorf("decode remote-write 1.0 request: %w", err)
	}
	return translateV1(&req, meta, len(raw)), nil
}

func (r *receiver) tooLarge(limit int64) badRequest {
	if limit < int64(r.cfg.MaxRequestBodySize) {
		return badRequest{http.StatusRequestEntityTooLarge, reasonTooLarge,
			fmt.Sprintf("request larger than %d bytes, the most that memory_limit lets one request hold (max_request_body_size is %d bytes)", limit, int64(r.cfg.MaxRequestBodySize))}
	}
	return badRequest{http.StatusRequestEntityTooLarge, reasonTooLarge,
		fmt.Sprintf("request larger than max_request_body_size (%d bytes)", int64(r.cfg.MaxRequestBodySize))}
}

func (r *receiver) chargeError(err error, limit int64) badRequest {
	if errors.Is(err, memlimit.ErrTooLarge) {
		return r.tooLarge(limit)
	}
	return badRequest{http.StatusServiceUnavailable, reasonMemoryLimit, serverconfig.MsgMemoryLimit}
}

var errTooLarge = cappedread.ErrTooLarge

func (r *receiver) readError(err error, limit int64) badRequest {
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooLarge) || errors.Is(err, memlimit.ErrTooLarge) || errors.As(err, &mbe) {
		return r.tooLarge(limit)
	}
	if errors.Is(err, memlimit.ErrLimit) {
		return badRequest{http.StatusServiceUnavailable, reasonMemoryLimit, serverconfig.MsgMemoryLimit}
	}
	return badRequest{http.StatusBadRequest, reasonDecode, "read body: " + err.Error()}
}

func (r *receiver) getBuffer(size int) *[]byte {
	if p, ok := r.bufs.Get().(*[]byte); ok {
		if cap(*p) < size {
			*p = slices.Grow((*p)[:0], size)
		}
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, size)
	return &b
}

func (r *receiver) putBuffer(p *[]byte) {
	if cap(*p) > maxPooledBuffer {
		return
	}
	r.bufs.Put(p)
}

// outcomeKind is what the pipeline made of a request, ordered so that
// when a fan-out joins several errors the larger kind decides: a
// retryable failure anywhere makes Prometheus resend the whole request
// (at least once) rather than lose what one pipeline could still take.
type outcomeKind uint8

const (
	outcomeAccepted outcomeKind = iota
	outcomePartial
	outcomePermanent
	outcomeUnavailable
	outcomeThrottled
)

type outcome struct {
	kind       outcomeKind
	retryAfter time.Duration
	rejected   int64
}

// classify maps a consumer error to the answer: nil 204; a partial or
// permanent error 400; a throttle 503 with its hint; any other error 503
// with one second.
func classify(err error) outcome {
	if err == nil {
		return outcome{}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		o := outcome{retryAfter: defaultRetryAfter}
		for _, e := range j.Unwrap() {
			p := classify(e)
			switch {
			case p.kind == outcomePartial && o.kind == outcomePartial:
				o.rejected += p.rejected
			case p.kind == outcomeThrottled && o.kind == outcomeThrottled:
				o.retryAfter = max(o.retryAfter, p.retryAfter)
			case p.kind > o.kind:
				o = p
			}
		}
		return o
	}
	if pe, ok := errors.AsType[*pipeline.PartialError](err); ok {
		return outcome{kind: outcomePartial, rejected: max(pe.Rejected, 0)}
	}
	if d, ok := pipeline.IsThrottle(err); ok {
		if d <= 0 {
			d = defaultRetryAfter
		}
		return outcome{kind: outcomeThrottled, retryAfter: d}
	}
	if consumererror.IsPermanent(err) {
		return outcome{kind: outcomePermanent}
	}
	return outcome{kind: outcomeUnavailable, retryAfter: defaultRetryAfter}
}
