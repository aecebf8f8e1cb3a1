package otlpreceiver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/outpost-edge/outpost/internal/cappedread"
	"github.com/outpost-edge/outpost/internal/loglimit"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

// Response header values, shared by every response (net/http only reads
// them).
var (
	headerProto = []string{contentTypeProto}
	headerJSON  = []string{contentTypeJSON}
	headerAllow = []string{http.MethodPost}
)

const (
	// readHeaderTimeout bounds how long a client may take to send request
	// headers (slowloris). The body has no deadline: over a thin uplink a
	// large one can take a while, and max_request_body_size bounds it.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes keep-alive connections idle for this long.
	idleTimeout = 2 * time.Minute
	// maxPooledBuffer is the largest body buffer kept for reuse; rarer,
	// larger bodies get a buffer of their own.
	maxPooledBuffer = 4 << 20
	// minBuffer is the first size of a body buffer when the decompressed
	// size is not known.
	minBuffer = 32 << 10
	// zstdMaxWindow caps the window a zstd body may declare, and so the
	// memory its decoder takes, as internal/grpccompress does for gRPC.
	zstdMaxWindow = 32 << 20
	// zstdBlock is the largest zstd block; the decoder keeps room for two
	// beside its window, and one more to decode into.
	zstdBlock = 128 << 10
)

// httpExporter serves one signal's URL path.
type httpExporter interface {
	serveHTTP(w http.ResponseWriter, req *http.Request)
	// deniedHTTP counts a request refused for its credentials and
	// returns the signal's name.
	deniedHTTP() string
}

type route struct {
	path string
	h    httpExporter
}

// router dispatches on the exact URL path. With three paths a scan beats
// http.ServeMux and lets us answer 404 and 405 in OTLP's error format.
type router struct {
	routes []route
	log    *loglimit.Limiter
}

func (m *router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	for i := range m.routes {
		if m.routes[i].path == req.URL.Path {
			m.routes[i].h.serveHTTP(w, req)
			return
		}
	}
	f, ok := parseContentType(req.Header.Get("Content-Type"))
	if !ok {
		f = formatJSON
	}
	writeStatus(w, f, http.StatusNotFound, status.New(codes.Unimplemented, "no OTLP signal is served at "+req.URL.Path))
}

// denied answers a request refused for its credentials: 401 with a
// google.rpc.Status UNAUTHENTICATED that says nothing of what was
// expected. It is counted under the path's signal (not at all on a path
// that serves none) and logged, rate-limited.
func (m *router) denied(w http.ResponseWriter, req *http.Request, err error) {
	signal := ""
	for i := range m.routes {
		if m.routes[i].path == req.URL.Path {
			signal = m.routes[i].h.deniedHTTP()
		}
	}
	m.log.Warn("http/"+reasonUnauthenticated, "refused an OTLP/HTTP request without valid credentials",
		"signal", signal, "path", req.URL.Path, "peer", req.RemoteAddr, "error", err)
	f, ok := parseContentType(req.Header.Get("Content-Type"))
	if !ok {
		f = formatJSON
	}
	writeStatus(w, f, http.StatusUnauthorized, status.New(codes.Unauthenticated, "missing or invalid credentials"))
}

func (r *receiver) newHTTPServer() *http.Server {
	h := r.cfg.Protocols.HTTP
	m := &router{log: r.limitedLog}
	if r.traces != nil {
		m.routes = append(m.routes, route{h.TracesURLPath, r.traces})
	}
	if r.metrics != nil {
		m.routes = append(m.routes, route{h.MetricsURLPath, r.metrics})
	}
	if r.logs != nil {
		m.routes = append(m.routes, route{h.LogsURLPath, r.logs})
	}
	return &http.Server{
		Handler:           r.httpSec.HTTPHandler(m, m.denied),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		// net/http logs connection-level trouble (bad TLS hellos, broken
		// connections) here, once per connection: rate-limit it.
		ErrorLog: log.New(r.limitedLog.Writer("http_server", "OTLP/HTTP server: "), "", 0),
	}
}

func (h *handler[T]) deniedHTTP() string {
	h.http.badAuth.Inc()
	return string(h.def.signal)
}

func (h *handler[T]) serveHTTP(w http.ResponseWriter, req *http.Request) {
	c := h.http
	if req.Method != http.MethodPost {
		c.badMethod.Inc()
		f, ok := parseContentType(req.Header.Get("Content-Type"))
		if !ok {
			f = formatJSON
		}
		w.Header()["Allow"] = headerAllow
		writeStatus(w, f, http.StatusMethodNotAllowed, status.New(codes.Unimplemented, "method "+req.Method+" not allowed, use POST"))
		return
	}
	body := http.MaxBytesReader(w, req.Body, h.rcv.body.max)
	data, f, charge, bad := decodeHTTP(req.Context(), h.rcv.body, h.def, req.Header.Get("Content-Type"), req.Header.Get("Content-Encoding"), body, req.ContentLength, h.rcv.memory)
	defer charge.Release()
	if bad.status == http.StatusTooManyRequests {
		c.bad(bad.reason).Inc()
		h.rcv.limitedLog.Info("http/"+bad.reason, "refused a request at the memory limit; the client is asked to retry",
			"signal", h.def.signal, "error", bad.msg)
		w.Header().Set("Retry-After", retryAfterSeconds(memoryRetryAfter))
		writeStatus(w, f, bad.status, memoryLimitStatus(memoryRetryAfter))
		return
	}
	if bad.status != 0 {
		c.bad(bad.reason).Inc()
		h.rcv.limitedLog.Warn("http/"+bad.reason, "refused a bad OTLP/HTTP request",
			"signal", h.def.signal, "status", bad.status, "error", bad.msg)
		writeStatus(w, f, bad.status, status.New(codes.InvalidArgument, bad.msg))
		return
	}
	o := h.export(req.Context(), data, c)
	switch o.kind {
	case outcomeAccepted:
		if f == formatJSON {
			writeResponse(w, f, http.StatusOK, h.emptyJSON)
		} else {
			writeResponse(w, f, http.StatusOK, nil)
		}
	case outcomePartial:
		b, err := h.partialResponse(o, f)
		if err != nil {
			writeStatus(w, f, http.StatusInternalServerError, status.New(codes.Internal, "encode response: "+err.Error()))
			return
		}
		writeResponse(w, f, http.StatusOK, b)
	default:
		if o.retryable() {
			w.Header().Set("Retry-After", retryAfterSeconds(o.retryDelay()))
		}
		writeStatus(w, f, o.httpStatus(), o.status())
	}
}

func writeResponse(w http.ResponseWriter, f format, code int, body []byte) {
	if f == formatJSON {
		w.Header()["Content-Type"] = headerJSON
	} else {
		w.Header()["Content-Type"] = headerProto
	}
	w.WriteHeader(code)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// writeStatus answers with a google.rpc.Status body, as OTLP/HTTP
// specifies for every 4xx and 5xx.
func writeStatus(w http.ResponseWriter, f format, code int, st *status.Status) {
	var b []byte
	if f == formatJSON {
		b, _ = protojson.Marshal(st.Proto())
	} else {
		b, _ = proto.Marshal(st.Proto())
	}
	writeResponse(w, f, code, b)
}

// parseContentType maps a Content-Type header to the body's format.
func parseContentType(ct string) (format, bool) {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, contentTypeProto):
		return formatProto, true
	case strings.EqualFold(mt, contentTypeJSON):
		return formatJSON, true
	}
	return formatJSON, false
}

// badRequest describes a request refused before it reached the pipeline;
// the zero value means none.
type badRequest struct {
	status int    // HTTP status code
	reason string // reason label of ReceiverBadRequests
	msg    string
}

// decodeHTTP turns an OTLP/HTTP request body into pdata. format is the
// request's format, in which the response is written (JSON when the content
// type is not supported). It never panics on any input.
//
// The body is charged against mem before it is read, and as it is read:
// memlimit.Expansion bytes per body byte after decompression, which covers
// the buffer while reading and the decoded pdata after. A body sent as is
// with a declared Content-Length is charged whole before the first byte is
// read; any other grows its charge as its decompressed bytes arrive
// (memlimit's Charge.Reader), so that neither a large body nor a
// decompression bomb is held uncharged. The largest body is
// max_request_body_size or what memory_limit allows, whichever is less.
// When the limit is taken, the first charge waits up to memoryRetryAfter
// for room, and so does one reader at a time in the middle of its body;
// a charge still refused because others hold the limit is a 429
// badRequest with reason memory_limit, one that could never fit a 413 with
// reason too_large. The charge (nil on failure) is the caller's to release
// once the pipeline has answered.
func decodeHTTP[T any](ctx context.Context, br *bodyReader, def *signalDef[T], contentType, contentEncoding string, body io.Reader, contentLength int64, mem *memlimit.Limiter) (data T, f format, charge *memlimit.Charge, bad badRequest) {
	var zero T
	f, ok := parseContentType(contentType)
	if !ok {
		return zero, f, nil, badRequest{http.StatusUnsupportedMediaType, reasonUnsupportedMediaType,
			fmt.Sprintf("unsupported content type %q (want %s or %s)", contentType, contentTypeProto, contentTypeJSON)}
	}
	limit := mem.MaxRequestSize(br.max)
	if contentLength > limit {
		return zero, f, nil, br.tooLarge(limit)
	}
	var initial int64
	if isIdentity(contentEncoding) && contentLength > 0 {
		initial = contentLength * memlimit.Expansion
	}
	wctx, cancel := context.WithTimeout(ctx, memoryRetryAfter)
	charge, err := mem.AdmitWait(wctx, initial)
	cancel()
	if err != nil {
		return zero, f, nil, br.readError(contentEncoding, err, limit)
	}
	buf, bad := br.read(ctx, contentEncoding, body, contentLength, charge, limit)
	if bad.status != 0 {
		charge.Release()
		return zero, f, nil, bad
	}
	// Down to what the body holds: the last step of the charge may have
	// gone past it.
	_ = charge.Resize(int64(len(*buf)) * memlimit.Expansion)
	data, err = def.unmarshal(*buf, f)
	br.release(buf)
	if err != nil {
		charge.Release()
		return zero, f, nil, badRequest{http.StatusBadRequest, reasonDecode, fmt.Sprintf("decode %s request: %v", def.signal, err)}
	}
	return data, f, charge, badRequest{}
}

// isIdentity reports whether a Content-Encoding means no compression.
func isIdentity(encoding string) bool {
	return encoding == "" || strings.EqualFold(encoding, "identity")
}

// bodyReader reads request bodies, decompressing them, into pooled buffers,
// with a cap on both the bytes sent and the bytes they decompress to.
type bodyReader struct {
	max   int64
	bufs  sync.Pool // *[]byte
	gzips sync.Pool // *gzip.Reader
	zstds sync.Pool // *zstd.Decoder
	zlibs sync.Pool // io.ReadCloser that is also a zlib.Resetter
}

func newBodyReader(max int64) *bodyReader {
	return &bodyReader{max: max}
}

var errTooLarge = cappedread.ErrTooLarge

// read returns the decompressed body, at most limit bytes (no more than
// b.max), in a buffer to give back with release; the decompressed bytes
// are charged to charge as they arrive.
func (b *bodyReader) read(ctx context.Context, encoding string, body io.Reader, contentLength int64, charge *memlimit.Charge, limit int64) (*[]byte, badRequest) {
	if contentLength > limit {
		return nil, b.tooLarge(limit)
	}
	hint := minBuffer
	src := body
	switch {
	case isIdentity(encoding):
		if contentLength >= 0 {
			// Room for the final read that reports EOF, so the buffer
			// never grows for a body of the announced size. Capped, so
			// that a client cannot make us allocate a large buffer by
			// announcing a body it does not send.
			hint = int(min(contentLength+512, maxPooledBuffer))
		}
	case strings.EqualFold(encoding, "gzip") || strings.EqualFold(encoding, "x-gzip"):
		zr, _ := b.gzips.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer func() {
			_ = zr.Reset(eofReader{}) // drop the reference to body
			b.gzips.Put(zr)
		}()
		if err := zr.Reset(body); err != nil {
			return nil, b.readError("gzip", err, limit)
		}
		src = zr
	case strings.EqualFold(encoding, "zstd"):
		zr, _ := b.zstds.Get().(*zstd.Decoder)
		if zr == nil {
			var err error
			// Concurrency 1 decodes in the calling goroutine: no goroutines
			// to leak from a pooled decoder.
			zr, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderLowmem(true))
			if err != nil {
				return nil, badRequest{http.StatusInternalServerError, reasonDecode, "zstd: " + err.Error()}
			}
		}
		defer func() {
			_ = zr.Reset(eofReader{})
			b.zstds.Put(zr)
		}()
		// Besides what it returns, the decoder holds a window of history,
		// allocated whole when the first block is decoded: charge it
		// before decoding, from the first frame's header, and hold every
		// frame to that window. A frame that declares more content than
		// limit is refused unread.
		window, content, head := zstdWindow(body)
		if content > limit {
			return nil, b.tooLarge(limit)
		}
		if err := charge.Grow(window + 3*min(window, zstdBlock)); err != nil {
			return nil, b.readError("zstd", err, limit)
		}
		if err := zr.ResetWithOptions(head, zstd.WithDecoderMaxWindow(uint64(window))); err != nil {
			return nil, b.readError("zstd", err, limit)
		}
		src = zr
	case strings.EqualFold(encoding, "deflate"):
		// HTTP's deflate is the zlib format (RFC 9110).
		var zr io.ReadCloser
		if pooled, ok := b.zlibs.Get().(io.ReadCloser); ok {
			if err := pooled.(zlib.Resetter).Reset(body, nil); err != nil {
				b.zlibs.Put(pooled)
				return nil, b.readError("deflate", err, limit)
			}
			zr = pooled
		} else {
			var err error
			if zr, err = zlib.NewReader(body); err != nil {
				return nil, b.readError("deflate", err, limit)
			}
		}
		defer b.zlibs.Put(zr)
		src = zr
	default:
		return nil, badRequest{http.StatusUnsupportedMediaType, reasonUnsupportedEncoding,
			fmt.Sprintf("unsupported content encoding %q (want gzip, zstd, deflate or none)", encoding)}
	}

	// Every byte is charged before it is read. The buffer, up to three
	// times what was read while it grows, stays within the Expansion
	// bytes per byte read that are charged.
	var paid int64
	if isIdentity(encoding) {
		paid = max(contentLength, 0) // charged on admission
	}
	src = charge.Reader(ctx, src, memlimit.ReaderOptions{PerByte: memlimit.Expansion, Limit: limit + 1, MaxWait: memoryRetryAfter, Paid: paid})
	buf := b.getBuffer(min(hint, int(limit)+1))
	var err error
	*buf, err = cappedread.Read(src, *buf, limit)
	if err != nil {
		b.release(buf)
		return nil, b.readError(encoding, err, limit)
	}
	return buf, badRequest{}
}

// tooLarge is the answer to a body over limit bytes, which is
// max_request_body_size or, when it allows less, memory_limit.
func (b *bodyReader) tooLarge(limit int64) badRequest {
	if limit < b.max {
		return badRequest{http.StatusRequestEntityTooLarge, reasonTooLarge,
			fmt.Sprintf("request body larger than %d bytes, the most that memory_limit lets one request hold (max_request_body_size is %d bytes)", limit, b.max)}
	}
	return badRequest{http.StatusRequestEntityTooLarge, reasonTooLarge,
		fmt.Sprintf("request body larger than max_request_body_size (%d bytes)", b.max)}
}

// readError maps an error from reading a body of at most limit bytes.
func (b *bodyReader) readError(encoding string, err error, limit int64) badRequest {
	var mbe *http.MaxBytesError
	if errors.Is(err, errTooLarge) || errors.Is(err, memlimit.ErrTooLarge) || errors.As(err, &mbe) {
		return b.tooLarge(limit)
	}
	if errors.Is(err, memlimit.ErrLimit) {
		return badRequest{http.StatusTooManyRequests, reasonMemoryLimit, err.Error()}
	}
	if encoding == "" {
		return badRequest{http.StatusBadRequest, reasonDecode, "read body: " + err.Error()}
	}
	return badRequest{http.StatusBadRequest, reasonDecode, "read " + encoding + " body: " + err.Error()}
}

func (b *bodyReader) getBuffer(size int) *[]byte {
	if p, ok := b.bufs.Get().(*[]byte); ok {
		if cap(*p) < size {
			*p = slices.Grow((*p)[:0], size)
		}
		return p
	}
	buf := make([]byte, 0, size)
	return &buf
}

func (b *bodyReader) release(p *[]byte) {
	if cap(*p) > maxPooledBuffer {
		return
	}
	*p = (*p)[:0]
	b.bufs.Put(p)
}

// zstdWindow returns the window the first zstd frame of body declares
// (MinWindowSize when it declares none, zstdMaxWindow at most), the
// content size it declares (-1 when none), and a reader of the whole body.
// A single-segment frame's window is its content size.
func zstdWindow(body io.Reader) (window, content int64, whole io.Reader) {
	br := bufio.NewReaderSize(body, zstd.HeaderMaxSize)
	head, _ := br.Peek(zstd.HeaderMaxSize)
	var h zstd.Header
	// A short body fails on the block header, after the frame header's
	// fields are set.
	_ = h.Decode(head)
	w, content := uint64(zstd.MinWindowSize), int64(-1)
	if h.HasFCS && !h.Skippable {
		content = int64(min(h.FrameContentSize, maxMessageSize+1))
	}
	switch {
	case h.Skippable:
	case h.WindowSize > 0:
		w = h.WindowSize
	case h.SingleSegment && h.HasFCS:
		w = h.FrameContentSize
	}
	return int64(min(max(w, zstd.MinWindowSize), zstdMaxWindow)), content, br
}

// eofReader is an empty body; resetting a pooled decoder onto it drops the
// decoder's reference to the last request.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
