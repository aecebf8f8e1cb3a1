package otlpsend

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// FuzzDecodeResponse feeds arbitrary server answers to the decoders of a
// response: partial success bodies, error bodies and Retry-After headers.
// None may panic, and a partial success never rejects more than it says.
func FuzzDecodeResponse(f *testing.F) {
	resp := ptraceotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedSpans(3)
	resp.PartialSuccess().SetErrorMessage("bad spans")
	pb, _ := resp.MarshalProto()
	js, _ := resp.MarshalJSON()
	lresp := plogotlp.NewExportResponse()
	lpb, _ := lresp.MarshalProto()
	f.Add(pb, false, 429, "2", "application/x-protobuf")
	f.Add(js, true, 503, "Wed, 21 Oct 2015 07:28:00 GMT", "application/json")
	f.Add(lpb, false, 400, "", "text/plain")
	f.Add([]byte("\x0a\x05hello"), false, 500, "-1", "application/x-protobuf")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool, status int, retry, contentType string) {
		for _, sig := range pipeline.Signals {
			err := partialSuccess(sender.Request{Signal: sig, Items: 10}, body, isJSON)
			var pe *pipeline.PartialError
			if errors.As(err, &pe) && pe.Rejected <= 0 {
				t.Fatalf("partial error with %d rejected", pe.Rejected)
			}
		}
		if status < 300 || status > 599 {
			return
		}
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		r.Header.Set("Retry-After", retry)
		r.Header.Set("Content-Type", contentType)
		if err := httpError("http://127.0.0.1/v1/traces", r, body, now); err == nil {
			t.Fatal("an error status gave no error")
		}
		if d := sender.RetryAfter(retry, now); d < 0 || d > 24*time.Hour {
			t.Fatalf("retryAfter(%q) = %s", retry, d)
		}
	})
}

func TestRetryAfterIsCapped(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := sender.RetryAfter("Fri, 31 Dec 2100 23:59:59 GMT", now); d != 24*time.Hour {
		t.Fatalf("far date: %s", d)
	}
	if d := sender.RetryAfter("99999999999", now); d != 24*time.Hour {
		t.Fatalf("huge seconds: %s", d)
	}
}

// FuzzSplitRequest feeds arbitrary stored bodies to SplitRequest: it never
// panics, and when it splits, the halves hold every item of the body, at
// least one each.
func FuzzSplitRequest(f *testing.F) {
	pb, _ := ptraceotlp.NewExportRequestFromTraces(testTraces(5)).MarshalProto()
	js, _ := ptraceotlp.NewExportRequestFromTraces(testTraces(3)).MarshalJSON()
	f.Add(pb, false, 5, "")
	f.Add(js, true, 3, "")
	f.Add([]byte("\x1f\x8b garbage"), false, 4, "gzip")
	f.Add([]byte("(\xb5/\xfd garbage"), false, 4, "zstd")
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool, items int, compression string) {
		enc := sender.EncodingProto
		if isJSON {
			enc = sender.EncodingJSON
		}
		for _, sig := range pipeline.Signals {
			a, b, err := SplitRequest(sender.Request{Signal: sig, Items: items, Body: body, Encoding: enc, Compression: compression})
			if err != nil {
				continue
			}
			if a.Items < 1 || b.Items < 1 || a.Items+b.Items != items {
				t.Fatalf("%s: halves of %d and %d items from a body said to hold %d", sig, a.Items, b.Items, items)
			}
		}
	})
}
