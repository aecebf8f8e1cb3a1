package otlpsend

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// kind is how an error is classified.
type kind string

const (
	kindRetry     kind = "retryable"
	kindThrottle  kind = "throttle"
	kindPermanent kind = "permanent"
	kindTooLarge  kind = "too_large" // permanent once split down to one item
)

// blocked is the kind of an error that blocks the exporter for reason.
func blocked(reason string) kind { return kind("blocked:" + reason) }

func classify(err error) (kind, time.Duration) {
	if consumererror.IsPermanent(err) {
		if errors.Is(err, sender.ErrTooLarge) {
			return kindTooLarge, 0
		}
		return kindPermanent, 0
	}
	if reason, ok := sender.IsBlocked(err); ok {
		d, _ := pipeline.IsThrottle(err)
		return blocked(reason), d
	}
	if d, ok := pipeline.IsThrottle(err); ok {
		return kindThrottle, d
	}
	return kindRetry, 0
}

func TestGRPCErrorClassification(t *testing.T) {
	withRetryInfo := func(c codes.Code, d time.Duration) error {
		st, err := status.New(c, "msg").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	for _, tc := range []struct {
		err   error
		want  kind
		delay time.Duration
	}{
		{status.Error(codes.Unavailable, "down"), kindRetry, 0},
		{status.Error(codes.DeadlineExceeded, ""), kindRetry, 0},
		{status.Error(codes.Aborted, ""), kindRetry, 0},
		{status.Error(codes.OutOfRange, ""), kindRetry, 0},
		{status.Error(codes.DataLoss, ""), kindRetry, 0},
		{status.Error(codes.Canceled, ""), kindRetry, 0},
		{withRetryInfo(codes.Unavailable, 2*time.Second), kindThrottle, 2 * time.Second},
		{status.Error(codes.ResourceExhausted, "quota"), kindTooLarge, 0},
		{withRetryInfo(codes.ResourceExhausted, 3*time.Second), kindThrottle, 3 * time.Second},
		{withRetryInfo(codes.ResourceExhausted, -time.Second), kindThrottle, 0},
		{status.Error(codes.InvalidArgument, ""), kindPermanent, 0},
		{status.Error(codes.Unauthenticated, ""), blocked(sender.BlockedUnauthorized), 0},
		{withRetryInfo(codes.Unauthenticated, 4*time.Second), blocked(sender.BlockedUnauthorized), 4 * time.Second},
		{status.Error(codes.PermissionDenied, ""), blocked(sender.BlockedForbidden), 0},
		{status.Error(codes.NotFound, ""), blocked(sender.BlockedNotFound), 0},
		{status.Error(codes.Unimplemented, ""), blocked(sender.BlockedNotFound), 0},
		{status.Error(codes.Unknown, ""), blocked(sender.BlockedUnexpectedStatus), 0},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"`), blocked(sender.BlockedTLS), 0},
		{status.Error(codes.Unavailable, `name resolver error: produced zero addresses`), blocked(sender.BlockedDNS), 0},
		{status.Error(codes.Internal, ""), kindPermanent, 0},
		{status.Error(codes.FailedPrecondition, ""), kindPermanent, 0},
		{errors.New("connection reset"), kindRetry, 0},
	} {
		got, d := classify(grpcError("host:4317", tc.err))
		if got != tc.want || d != tc.delay {
			t.Errorf("%v: %s %s, want %s %s", tc.err, got, d, tc.want, tc.delay)
		}
	}
	if err := grpcError("host:4317", status.Error(codes.InvalidArgument, "span 3 has no name")); !strings.Contains(err.Error(), "span 3 has no name") || !strings.Contains(err.Error(), "host:4317") {
		t.Errorf("message lost: %v", err)
	}
}

func TestHTTPErrorClassification(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	statusProto, _ := proto.Marshal(status.New(codes.InvalidArgument, "span 3 has no name").Proto())
	statusJSON, _ := protojson.Marshal(status.New(codes.InvalidArgument, "metric name empty").Proto())
	for _, tc := range []struct {
		name    string
		code    int
		header  map[string]string
		body    string
		want    kind
		delay   time.Duration
		message string
	}{
		{name: "429 seconds", code: 429, header: map[string]string{"Retry-After": "7"}, want: kindThrottle, delay: 7 * time.Second},
		{name: "429 date", code: 429, header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, want: kindThrottle, delay: 90 * time.Second},
		{name: "429 no hint", code: 429, want: kindThrottle},
		{name: "429 past date", code: 429, header: map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, want: kindThrottle},
		{name: "429 garbage", code: 429, header: map[string]string{"Retry-After": "soon"}, want: kindThrottle},
		{name: "502", code: 502, want: kindRetry},
		{name: "503", code: 503, want: kindRetry, body: "upstream down", message: "HTTP 503: upstream down"},
		{name: "503 retry-after", code: 503, header: map[string]string{"Retry-After": "3"}, want: kindThrottle, delay: 3 * time.Second},
		{name: "504", code: 504, want: kindRetry},
		{name: "400 status proto", code: 400, header: map[string]string{"Content-Type": "application/x-protobuf"}, body: string(statusProto),
			want: kindPermanent, message: "HTTP 400: span 3 has no name"},
		{name: "400 status json", code: 400, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: string(statusJSON),
			want: kindPermanent, message: "HTTP 400: metric name empty"},
		{name: "400 text", code: 400, header: map[string]string{"Content-Type": "text/plain"}, body: "bad\nrequest  here\n",
			want: kindPermanent, message: "HTTP 400: bad request here"},
		{name: "401 empty", code: 401, want: blocked(sender.BlockedUnauthorized), message: "HTTP 401: Unauthorized"},
		{name: "401 retry-after", code: 401, header: map[string]string{"Retry-After": "9"}, want: blocked(sender.BlockedUnauthorized), delay: 9 * time.Second},
		{name: "403", code: 403, want: blocked(sender.BlockedForbidden)},
		{name: "404", code: 404, want: blocked(sender.BlockedNotFound)},
		{name: "407", code: 407, want: blocked(sender.BlockedProxyAuth)},
		{name: "405", code: 405, want: blocked(sender.BlockedUnexpectedStatus)},
		{name: "415", code: 415, want: blocked(sender.BlockedUnexpectedStatus)},
		{name: "408", code: 408, want: kindRetry},
		{name: "422", code: 422, want: kindPermanent},
		{name: "413", code: 413, want: kindTooLarge},
		{name: "500", code: 500, want: kindRetry},
		{name: "long text cut", code: 400, body: strings.Repeat("x", 1000), want: kindPermanent, message: "HTTP 400: " + strings.Repeat("x", 256)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.code, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
			for k, v := range tc.header {
				resp.Header.Set(k, v)
			}
			err := httpError("http://x/v1/traces", resp, []byte(tc.body), now)
			got, d := classify(err)
			if got != tc.want || d != tc.delay {
				t.Errorf("%s %s, want %s %s (%v)", got, d, tc.want, tc.delay, err)
			}
			if tc.message != "" && !strings.HasSuffix(err.Error(), tc.message) {
				t.Errorf("error %q does not end with %q", err, tc.message)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":         0,
		"0":        0,
		"-5":       0,
		" 120 ":    120 * time.Second,
		"99999999": 24 * time.Hour,
		now.Add(time.Hour).Format(http.TimeFormat): time.Hour,
		"Fri, 02 Jan 2026 03:04:35 GMT":            30 * time.Second,
		"tomorrow":                                 0,
	} {
		if got := sender.RetryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestPartialSuccessDecoding(t *testing.T) {
	r := sender.Request{Signal: pipeline.SignalTraces, Items: 10}
	resp := ptraceotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedSpans(3)
	resp.PartialSuccess().SetErrorMessage("spans too old")
	pb, _ := resp.MarshalProto()
	js, _ := resp.MarshalJSON()
	for name, err := range map[string]error{"proto": partialSuccess(r, pb, false), "json": partialSuccess(r, js, true)} {
		var pe *pipeline.PartialError
		if !errors.As(err, &pe) || pe.Rejected != 3 || !consumererror.IsPermanent(err) || !strings.Contains(err.Error(), "spans too old") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A warning (message, nothing rejected), an empty body and garbage are
	// plain successes.
	warn := ptraceotlp.NewExportResponse()
	warn.PartialSuccess().SetErrorMessage("deprecated field")
	wb, _ := warn.MarshalProto()
	for _, body := range [][]byte{nil, wb, []byte("\xff\xff garbage")} {
		if err := partialSuccess(r, body, false); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}
