package lokireceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/cappedread"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Paths of Loki's push API: the current one and the legacy one, which
// older Promtail and Docker driver versions still use.
const (
	PushPath       = "/loki/api/v1/push"
	LegacyPushPath = "/api/prom/push"
)

const (
	transportHTTP = "http"
	signalLogs    = string(pipeline.SignalLogs)

	// retryAfter is the hint of a 503: data in flight drains, or a full
	// queue starts draining, within moments; Loki clients back off on
	// their own from there.
	retryAfter = time.Second
	// readHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris); the body is bounded by max_request_body_size.
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	minBuffer         = 32 << 10
	logEvery          = 10 * time.Second
)

// Values of the reason label of ReceiverRefused.
const (
	reasonUnavailable = "unavailable"
	reasonThrottled   = "throttled"
	reasonPermanent   = "permanent"
	reasonRejected    = "rejected"
)

// Values of the reason label of ReceiverBadRequests.
const (
	reasonDecode               = "decode"
	reasonTooLarge             = "too_large"
	reasonUnsupportedMediaType = "unsupported_media_type"
	reasonUnsupportedEncoding  = "unsupported_encoding"
	reasonMethodNotAllowed     = "method_not_allowed"
	reasonMemoryLimit          = "memory_limit"
	reasonUnauthenticated      = "unauthenticated"
)

// receiver serves Loki's push API and hands each push to the logs
// pipeline.
type receiver struct {
	id     pipeline.ID
	cfg    *Config
	logger *slog.Logger
	memory *memlimit.Limiter // nil: unlimited
	next   consumer.Logs
	now    func() time.Time
	sec    *serverconfig.Server // protocols.http tls and auth

	accepted prometheus.Counter
	refused  func(reason string) prometheus.Counter
	bad      func(reason string) prometheus.Counter

	logMu   sync.Mutex
	lastLog map[string]time.Time

	mu       sync.Mutex
	started  bool
	server   *http.Server
	addr     net.Addr
	served   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// newReceiver reads the files of the tls and auth blocks: a missing or
// invalid one is an error naming its key.
func newReceiver(set pipeline.Settings, cfg *Config, next consumer.Logs) (*receiver, error) {
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sec, err := serverconfig.New(cfg.Protocols.HTTP.server(), logger)
	if err != nil {
		return nil, fmt.Errorf("loki receiver %s: protocols.http.%w", set.ID, err)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	id := set.ID.String()
	return &receiver{
		id:       set.ID,
		cfg:      cfg,
		logger:   logger,
		memory:   set.Memory,
		next:     next,
		now:      time.Now,
		sec:      sec,
		accepted: tel.ReceiverAccepted.WithLabelValues(id, signalLogs, transportHTTP),
		refused: func(reason string) prometheus.Counter {
			return tel.ReceiverRefused.WithLabelValues(id, signalLogs, transportHTTP, reason)
		},
		bad: func(reason string) prometheus.Counter {
			return tel.ReceiverBadRequests.WithLabelValues(id, signalLogs, transportHTTP, reason)
		},
		lastLog: map[string]time.Time{},
	}, nil
}

// Start opens the listener through host and serves in the background.
func (r *receiver) Start(_ context.Context, host pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("loki receiver %s: already started", r.id)
	}
	ln, err := host.Listen("tcp", r.cfg.Protocols.HTTP.Endpoint)
	if err != nil {
		return fmt.Errorf("loki receiver %s: listen on %s: %w", r.id, r.cfg.Protocols.HTTP.Endpoint, err)
	}
	// With tls, HTTPS (HTTP/2 and HTTP/1.1 by ALPN), the certificate
	// files followed at each handshake.
	r.serve(r.sec.HTTPListener(ln), r.newHTTPServer())
	r.sec.WarnIfExposed(r.logger, transportHTTP, r.cfg.Protocols.HTTP.Endpoint)
	return nil
}

// newHTTPServer builds the server, behind the authentication of the auth
// block (checked before the body is read).
func (r *receiver) newHTTPServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc(PushPath, r.handlePush)
	mux.HandleFunc(LegacyPushPath, r.handlePush)
	return &http.Server{
		Handler:           r.sec.HTTPHandler(mux, r.denied),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          log.New(logWriter{r}, "", 0),
	}
}

func (r *receiver) serve(ln net.Listener, s *http.Server) {
	r.started, r.server, r.addr = true, s, ln.Addr()
	served := make(chan struct{})
	r.served = served
	go func() {
		defer close(served)
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("loki receiver stopped serving", "receiver", r.id.String(), "error", err)
		}
	}()
}

// Shutdown stops accepting and waits for requests in flight to be
// answered, until ctx ends; then it closes every connection and returns
// ctx's error. It is idempotent.
func (r *receiver) Shutdown(ctx context.Context) error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		s, served := r.server, r.served
		r.started = true // a Start after Shutdown fails
		r.mu.Unlock()
		if s == nil {
			return
		}
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
			r.stopErr = fmt.Errorf("loki receiver %s: shutdown: %w", r.id, err)
		}
		<-served
	})
	return r.stopErr
}

// address is where the receiver listens (nil before Start); tests use it
// with port 0.
func (r *receiver) address() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addr
}

// logWriter turns net/http's error log into rate-limited warnings.
type logWriter struct{ r *receiver }

func (w logWriter) Write(p []byte) (int, error) {
	w.r.warn("http_server", "loki receiver HTTP server: "+strings.TrimSpace(string(p)))
	return len(p), nil
}

// warn logs at most one line per key and logEvery.
func (r *receiver) warn(key, msg string, args ...any) {
	r.logMu.Lock()
	now := r.now()
	if t, ok := r.lastLog[key]; ok && now.Sub(t) < logEvery {
		r.logMu.Unlock()
		return
	}
	r.lastLog[key] = now
	r.logMu.Unlock()
	r.logger.Warn(msg, append(args, "receiver", r.id.String())...)
}

// denied answers a push refused for its credentials: 401 (with
// WWW-Authenticate, set by the wrapper), counted as a bad request with
// reason unauthenticated on the push paths (other paths serve nothing).
// Loki clients do not retry a 401: the batch is dropped on their side.
func (r *receiver) denied(w http.ResponseWriter, req *http.Request, err error) {
	if req.URL.Path == PushPath || req.URL.Path == LegacyPushPath {
		r.bad(reasonUnauthenticated).Inc()
	}
	r.warn(reasonUnauthenticated, "refused a Loki push without valid credentials", "remote", req.RemoteAddr, "error", err)
	http.Error(w, "missing or invalid credentials", http.StatusUnauthorized)
}

// badRequest is a request refused before its entries could be counted.
type badRequest struct {
	status int
	reason string
	msg    string
}

func (r *receiver) refuse(w http.ResponseWriter, b badRequest) {
	r.bad(b.reason).Inc()
	if b.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds(retryAfter))
	} else {
		r.warn("bad/"+b.reason, "refused a bad Loki push", "status", b.status, "error", b.msg)
	}
	http.Error(w, b.msg, b.status)
}

// handlePush serves one push: 204 once every entry is in the pipeline's
// queues; 400 for a body that does not decode or entries the pipeline
// refused for good; 413 over the size cap; 415 for an unknown content
// type or encoding; 503 with Retry-After when memory_limit or a full
// queue pushes back (never 429: Promtail and the Docker driver retry 429
// only when told to, and would drop the batch).
func (r *receiver) handlePush(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.refuse(w, badRequest{http.StatusMethodNotAllowed, reasonMethodNotAllowed, "method " + req.Method + " not allowed, use POST"})
		return
	}
	body := http.MaxBytesReader(w, req.Body, int64(r.cfg.Protocols.HTTP.MaxRequestBodySize))
	p, charge, bad := r.decode(req.Context(), req.Header.Get("Content-Type"), req.Header.Get("Content-Encoding"), body, req.ContentLength)
	defer charge.Release()
	if bad.status != 0 {
		r.refuse(w, bad)
		return
	}
	n := p.entries()
	if n == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ld := toLogs(p, req.Header.Get("X-Scope-OrgID"), r.cfg.UseIncomingTimestamp, r.now())
	err := r.next.ConsumeLogs(req.Context(), ld)
	if err == nil {
		r.accepted.Add(float64(n))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	o := classify(err)
	switch o.kind {
	case outcomePartial:
		rejected := min(o.rejected, int64(n))
		r.accepted.Add(float64(int64(n) - rejected))
		r.refused(reasonRejected).Add(float64(rejected))
		r.warn("rejected", "the pipeline refused some entries of a Loki push for good", "rejected", rejected, "error", err)
		http.Error(w, serverconfig.MsgPartial, http.StatusBadRequest)
	case outcomePermanent:
		r.refused(reasonPermanent).Add(float64(n))
		r.warn("permanent", "the pipeline refused a Loki push for good", "entries", n, "error", err)
		http.Error(w, serverconfig.MsgPermanent, http.StatusBadRequest)
	default:
		reason := reasonUnavailable
		if o.kind == outcomeThrottled {
			reason = reasonThrottled
		}
		r.refused(reason).Add(float64(n))
		r.warn(reason, "the pipeline cannot take a Loki push now; the client is asked to retry", "entries", n, "error", err)
		w.Header().Set("Retry-After", retryAfterSeconds(o.retryDelay()))
		http.Error(w, serverconfig.ClientMessage(err), http.StatusServiceUnavailable)
	}
}

// bodyFormat is a push body's wire format.
type bodyFormat uint8

const (
	formatProto bodyFormat = iota // snappy-compressed protobuf push.PushRequest
	formatJSON
)

// decode reads and decodes a push body, charging it to memory_limit
// before and while it is read: a body sent as is with a Content-Length is
// charged whole, memlimit.Expansion bytes per byte, before it is read;
// any other as its decompressed bytes arrive; a protobuf body's snappy
// block again by its decoded length before it is decompressed. When the
// limit is taken the charge waits up to retryAfter, then the push is
// refused with 503 (reason memory_limit); a body that could never fit is
// 413 (too_large). The charge (nil on failure) is the caller's to release
// once the pipeline has answered.
func (r *receiver) decode(ctx context.Context, contentType, contentEncoding string, body io.Reader, contentLength int64) (pushRequest, *memlimit.Charge, badRequest) {
	var f bodyFormat
	mt, _, err := mime.ParseMediaType(contentType)
	switch {
	case contentType == "" || err == nil && strings.EqualFold(mt, "application/x-protobuf"):
		f = formatProto
	case err == nil && strings.EqualFold(mt, "application/json"):
		f = formatJSON
	default:
		return pushRequest{}, nil, badRequest{http.StatusUnsupportedMediaType, reasonUnsupportedMediaType,
			fmt.Sprintf("unsupported content type %q (want application/x-protobuf or application/json)", contentType)}
	}
	identity := false
	switch strings.ToLower(contentEncoding) {
	case "", "identity", "snappy":
		// A protobuf body is a snappy block whatever the header says;
		// some clients also say so in Content-Encoding (as Loki allows).
		identity = true
	case "gzip", "x-gzip", "deflate":
	default:
		return pushRequest{}, nil, badRequest{http.StatusUnsupportedMediaType, reasonUnsupportedEncoding,
			fmt.Sprintf("unsupported content encoding %q (want gzip, deflate, snappy or none)", contentEncoding)}
	}
	maxBody := int64(r.cfg.Protocols.HTTP.MaxRequestBodySize)
	limit := r.memory.MaxRequestSize(maxBody)
	tooLarge := badRequest{http.StatusRequestEntityTooLarge, reasonTooLarge,
		fmt.Sprintf("request body larger than %d bytes (max_request_body_size %d bytes, or what memory_limit lets one request hold)", limit, maxBody)}
	if contentLength > limit {
		return pushRequest{}, nil, tooLarge
	}
	var initial int64
	if identity && contentLength > 0 {
		initial = contentLength * memlimit.Expansion
	}
	chargeErr := func(err error) badRequest {
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, memlimit.ErrTooLarge), errors.Is(err, errTooLarge), errors.As(err, &mbe):
			return tooLarge
		case errors.Is(err, memlimit.ErrLimit):
			return badRequest{http.StatusServiceUnavailable, reasonMemoryLimit, serverconfig.MsgMemoryLimit}
		}
		return badRequest{http.StatusBadRequest, reasonDecode, "read body: " + err.Error()}
	}
	wctx, cancel := context.WithTimeout(ctx, retryAfter)
	charge, err := r.memory.AdmitWait(wctx, initial)
	cancel()
	if err != nil {
		return pushRequest{}, nil, chargeErr(err)
	}
	fail := func(b badRequest) (pushRequest, *memlimit.Charge, badRequest) {
		charge.Release()
		return pushRequest{}, nil, b
	}
	src := body
	switch strings.ToLower(contentEncoding) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return fail(badRequest{http.StatusBadRequest, reasonDecode, "gzip: " + err.Error()})
		}
		src = zr
	case "deflate":
		// Loki reads deflate as raw DEFLATE (RFC 1951), and so do we.
		src = flate.NewReader(body)
	}
	paid := int64(0)
	if identity {
		paid = max(contentLength, 0)
	}
	src = charge.Reader(ctx, src, memlimit.ReaderOptions{PerByte: memlimit.Expansion, Limit: limit + 1, MaxWait: retryAfter, Paid: paid})
	hint := minBuffer
	if identity && contentLength >= 0 {
		hint = int(min(contentLength+512, limit+1))
	}
	buf, err := cappedread.Read(src, make([]byte, 0, hint), limit)
	if err != nil {
		return fail(chargeErr(err))
	}
	var p pushRequest
	if f == formatJSON {
		p, err = decodeJSON(buf)
	} else {
		base := int64(len(buf)) * memlimit.Expansion
		p, err = decodeProto(buf, limit, func(n int64) error { return charge.Resize(base + n*memlimit.Expansion) })
	}
	if err != nil {
		if errors.Is(err, memlimit.ErrLimit) || errors.Is(err, memlimit.ErrTooLarge) || errors.Is(err, errTooLarge) {
			return fail(chargeErr(err))
		}
		return fail(badRequest{http.StatusBadRequest, reasonDecode, "decode push: " + err.Error()})
	}
	return p, charge, badRequest{}
}

// outcomeKind is what the pipeline made of a push; when a fan-out joins
// several errors the larger kind decides (a retryable failure anywhere
// makes the client resend the whole push: at-least-once).
type outcomeKind uint8

const (
	outcomePartial     outcomeKind = iota + 1 // *pipeline.PartialError
	outcomePermanent                          // consumererror permanent
	outcomeUnavailable                        // anything else: retry later
	outcomeThrottled                          // *pipeline.ThrottleError
)

type outcome struct {
	kind       outcomeKind
	rejected   int64
	retryAfter time.Duration
}

func classify(err error) outcome {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var o outcome
		for _, e := range j.Unwrap() {
			p := classify(e)
			switch {
			case o.kind == outcomePartial && p.kind == outcomePartial:
				o.rejected += p.rejected
			case o.kind == outcomeThrottled && p.kind == outcomeThrottled:
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
		return outcome{kind: outcomeThrottled, retryAfter: max(d, 0)}
	}
	if consumererror.IsPermanent(err) {
		return outcome{kind: outcomePermanent}
	}
	return outcome{kind: outcomeUnavailable}
}

func (o outcome) retryDelay() time.Duration {
	if o.kind == outcomeThrottled && o.retryAfter > 0 {
		return o.retryAfter
	}
	return retryAfter
}

// retryAfterSeconds formats d for Retry-After: whole seconds, rounded up,
// at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}
