package otlpsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/outpost-edge/outpost/pipeline"
)

// Content types of OTLP/HTTP.
const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

func (s *Sink) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", s.handleHTTP(pipeline.SignalTraces))
	mux.HandleFunc("POST /v1/metrics", s.handleHTTP(pipeline.SignalMetrics))
	mux.HandleFunc("POST /v1/logs", s.handleHTTP(pipeline.SignalLogs))
	return mux
}

func (s *Sink) handleHTTP(sig pipeline.Signal) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var isJSON bool
		switch mediaType(r.Header.Get("Content-Type")) {
		case contentTypeProto:
		case contentTypeJSON:
			isJSON = true
		default:
			http.Error(w, "otlpsink: unsupported content type "+r.Header.Get("Content-Type"), http.StatusUnsupportedMediaType)
			return
		}
		raw := s.getBuf()
		defer s.putBuf(raw)
		var err error
		if *raw, err = readAll(r.Body, (*raw)[:0], s.opts.MaxRecvBytes); err != nil {
			httpReadError(w, err)
			return
		}
		info := RequestInfo{Transport: TransportHTTP, Signal: sig, Encoding: "proto", WireBytes: len(*raw)}
		if isJSON {
			info.Encoding = "json"
		}
		body := *raw
		switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
		case "", "identity":
		case "gzip", "zstd":
			info.Compression = enc
			plain := s.getBuf()
			defer s.putBuf(plain)
			if *plain, err = s.decompress(enc, body, (*plain)[:0]); err != nil {
				httpReadError(w, err)
				return
			}
			body = *plain
		default:
			http.Error(w, "otlpsink: unsupported content encoding "+enc, http.StatusUnsupportedMediaType)
			return
		}
		if s.keepRequests() {
			info.Headers = make(map[string][]string, len(r.Header))
			for k, v := range r.Header {
				info.Headers[strings.ToLower(k)] = v
			}
		}

		resp, f, err := s.receive(&info, r.Header.Get("Authorization"), body, isJSON)
		switch {
		case err != nil:
			http.Error(w, "otlpsink: decode: "+err.Error(), http.StatusBadRequest)
			return
		case f != nil:
			writeFailure(w, f, isJSON)
			return
		}
		if isJSON {
			w.Header().Set("Content-Type", contentTypeJSON)
		} else {
			w.Header().Set("Content-Type", contentTypeProto)
		}
		_, _ = w.Write(resp)
	}
}

// writeFailure answers with an injected error: the status code, a
// google.rpc.Status body in the request's encoding (as OTLP/HTTP
// specifies) and Retry-After when asked.
func writeFailure(w http.ResponseWriter, f *Failure, isJSON bool) {
	st := f.status().Proto()
	var body []byte
	var err error
	if isJSON {
		body, err = protojson.Marshal(st)
		w.Header().Set("Content-Type", contentTypeJSON)
	} else {
		body, err = proto.Marshal(st)
		w.Header().Set("Content-Type", contentTypeProto)
	}
	if err != nil {
		body = nil
	}
	if f.RetryAfter > 0 {
		secs := (f.RetryAfter + 999_999_999) / 1_000_000_000 // whole seconds, rounded up
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	w.WriteHeader(f.httpStatus())
	_, _ = w.Write(body)
}

func httpReadError(w http.ResponseWriter, err error) {
	if errors.Is(err, errTooLarge) {
		http.Error(w, "otlpsink: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "otlpsink: read body: "+err.Error(), http.StatusBadRequest)
}

// decompress appends the decompressed body to dst.
func (s *Sink) decompress(enc string, body, dst []byte) ([]byte, error) {
	switch enc {
	case "zstd":
		out, err := s.zstdDec.DecodeAll(body, dst)
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return dst, errTooLarge // 413, as for the other encodings
		}
		if err != nil {
			return dst, fmt.Errorf("zstd: %w", err)
		}
		if len(out) > s.opts.MaxRecvBytes {
			return out, errTooLarge
		}
		return out, nil
	default: // gzip
		var zr *gzip.Reader
		if p, ok := s.gzips.Get().(*gzip.Reader); ok {
			zr = p
			if err := zr.Reset(bytes.NewReader(body)); err != nil {
				return dst, fmt.Errorf("gzip: %w", err)
			}
		} else {
			var err error
			if zr, err = gzip.NewReader(bytes.NewReader(body)); err != nil {
				return dst, fmt.Errorf("gzip: %w", err)
			}
		}
		defer s.gzips.Put(zr)
		out, err := readAll(zr, dst, s.opts.MaxRecvBytes)
		if err != nil && !errors.Is(err, errTooLarge) {
			err = fmt.Errorf("gzip: %w", err)
		}
		return out, err
	}
}

// readAll appends r's content to dst, failing with errTooLarge past limit.
func readAll(r io.Reader, dst []byte, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

func (s *Sink) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (s *Sink) putBuf(b *[]byte) {
	if cap(*b) > 16<<20 { // let outsized buffers go
		return
	}
	s.bufs.Put(b)
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
