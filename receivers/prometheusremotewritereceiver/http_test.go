package prometheusremotewritereceiver

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func v1Body(t testing.TB, n int) []byte {
	req := &prompb.WriteRequest{}
	for i := range n {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  labels("__name__", "up", "instance", "h:"+string(rune('a'+i%26)), "job", "node"),
			Samples: []prompb.Sample{{Value: 1, Timestamp: t0 + int64(i)}},
		})
	}
	return marshal(t, req)
}

func v2Body(t testing.TB) []byte {
	r := newV2()
	r.add(writev2.TimeSeries{
		LabelsRefs: r.refs("__name__", "up", "job", "node"),
		Samples:    []writev2.Sample{{Value: 1, Timestamp: t0}, {Value: 1, Timestamp: t0 + 1000}},
		Exemplars:  []writev2.Exemplar{{Value: 1, Timestamp: t0}},
	})
	r.add(writev2.TimeSeries{
		LabelsRefs: r.refs("__name__", "h", "job", "node"),
		Histograms: []writev2.Histogram{{Count: &writev2.Histogram_CountInt{CountInt: 0}, ZeroCount: &writev2.Histogram_ZeroCountInt{}, Timestamp: t0}},
	})
	return marshal(t, r.build())
}

func TestNegotiation(t *testing.T) {
	tr := startReceiver(t, nil, nil)
	for _, tc := range []struct {
		name, ct, enc string
		body          []byte
		want          int
		headers       bool // the 2.0 written-count headers
	}{
		{"1.0 plain content type", "application/x-protobuf", "snappy", v1Body(t, 3), http.StatusNoContent, false},
		{"1.0 no content type", "", "", v1Body(t, 3), http.StatusNoContent, false},
		{"1.0 proto parameter", ctV1, "snappy", v1Body(t, 3), http.StatusNoContent, false},
		{"2.0", ctV2, "snappy", v2Body(t), http.StatusNoContent, true},
		{"2.0 quoted parameter", `application/x-protobuf; proto="io.prometheus.write.v2.Request"`, "snappy", v2Body(t), http.StatusNoContent, true},
		{"unknown message", "application/x-protobuf;proto=io.prometheus.write.v3.Request", "snappy", v1Body(t, 1), http.StatusUnsupportedMediaType, false},
		{"not protobuf", "application/json", "snappy", v1Body(t, 1), http.StatusUnsupportedMediaType, false},
		{"unknown encoding", ctV1, "zstd", v1Body(t, 1), http.StatusUnsupportedMediaType, false},
		{"2.0 body as 1.0 garbage", ctV2, "snappy", []byte("\xff\xff\xff"), http.StatusBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, tr.url, tc.ct, tc.enc, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			has := resp.Header.Get(headerSamplesWritten) != ""
			if has != tc.headers {
				t.Fatalf("written-count headers: %v, want %v", has, tc.headers)
			}
			if tc.headers {
				for h, want := range map[string]string{headerSamplesWritten: "2", headerHistogramsWritten: "1", headerExemplarsWritten: "1"} {
					if got := resp.Header.Get(h); got != want {
						t.Errorf("%s: %q, want %q", h, got, want)
					}
				}
			}
		})
	}
	if got := tr.bad(reasonUnsupportedMediaType); got != 2 {
		t.Errorf("bad requests unsupported_media_type %g, want 2", got)
	}
	if got := tr.bad(reasonUnsupportedEncoding); got != 1 {
		t.Errorf("bad requests unsupported_encoding %g, want 1", got)
	}
	if got := tr.bad(reasonDecode); got != 1 {
		t.Errorf("bad requests decode %g, want 1", got)
	}
	if got, want := tr.accepted(), float64(3*3+2*3); got != want {
		t.Errorf("accepted %g, want %g", got, want)
	}
	if tr.sink.points() != 15 {
		t.Errorf("sink got %d points", tr.sink.points())
	}

	// Other methods and paths.
	resp, err := http.Get(tr.url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || tr.bad(reasonMethodNotAllowed) != 1 {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if resp := post(t, strings.TrimSuffix(tr.url, "/write")+"/read", ctV1, "snappy", v1Body(t, 1)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: %d", resp.StatusCode)
	}
}

// TestPipelineAnswers: back-pressure and other retryable errors are 503
// with Retry-After, never 429; permanent errors are 400.
func TestPipelineAnswers(t *testing.T) {
	tr := startReceiver(t, nil, nil)
	for _, tc := range []struct {
		name       string
		err        error
		want       int
		retryAfter string
		reason     string
	}{
		{"queue full", pipeline.NewThrottle(errors.New("queue full"), 3*time.Second), http.StatusServiceUnavailable, "3", reasonThrottled},
		{"throttle without hint", pipeline.NewThrottle(errors.New("slow down"), 0), http.StatusServiceUnavailable, "1", reasonThrottled},
		{"unavailable", errors.New("disk trouble"), http.StatusServiceUnavailable, "1", reasonUnavailable},
		{"joined: retryable wins", errors.Join(consumererror.NewPermanent(errors.New("bad")), pipeline.NewThrottle(errors.New("full"), 2*time.Second)), http.StatusServiceUnavailable, "2", reasonThrottled},
		{"permanent", consumererror.NewPermanent(errors.New("bad data")), http.StatusBadRequest, "", reasonPermanent},
		{"partial", &pipeline.PartialError{Rejected: 1, Err: errors.New("one point")}, http.StatusBadRequest, "", reasonRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr.sink.setErr(tc.err)
			before := tr.refused(tc.reason)
			resp := post(t, tr.url, ctV2, "snappy", v2Body(t))
			if resp.StatusCode != tc.want || resp.Header.Get("Retry-After") != tc.retryAfter {
				t.Errorf("status %d Retry-After %q, want %d %q", resp.StatusCode, resp.Header.Get("Retry-After"), tc.want, tc.retryAfter)
			}
			want := 3.0
			if tc.reason == reasonRejected {
				want = 1
			}
			if got := tr.refused(tc.reason) - before; got != want {
				t.Errorf("refused{%s} +%g, want +%g", tc.reason, got, want)
			}
			if tc.want == http.StatusServiceUnavailable && resp.Header.Get(headerSamplesWritten) != "0" {
				t.Errorf("samples written %q on a 503", resp.Header.Get(headerSamplesWritten))
			}
		})
	}
}

func TestSizeAndMemoryLimits(t *testing.T) {
	t.Run("max_request_body_size", func(t *testing.T) {
		tr := startReceiver(t, func(c *Config) { c.MaxRequestBodySize = 1000 }, nil)
		// Small compressed, large decoded: refused on the decoded size.
		if resp := post(t, tr.url, ctV1, "snappy", v1Body(t, 200)); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
		if resp := post(t, tr.url, ctV1, "snappy", v1Body(t, 2)); resp.StatusCode != http.StatusNoContent {
			t.Errorf("small request: %d", resp.StatusCode)
		}
		if tr.bad(reasonTooLarge) != 1 {
			t.Errorf("too_large %g", tr.bad(reasonTooLarge))
		}
	})
	t.Run("memory_limit", func(t *testing.T) {
		mem := memlimit.New(1_200_000, nil) // 600 kB for requests in flight
		tr := startReceiver(t, nil, mem)
		body := v1Body(t, 1000) // ~ 40 KB decoded, ×6 charged
		// Hold most of the limit, as other requests in flight would.
		hold, err := mem.Admit(400_000)
		if err != nil {
			t.Fatal(err)
		}
		resp := post(t, tr.url, ctV1, "snappy", body)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("at the limit: %d Retry-After %q, want 503 1", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		hold.Release()
		if resp := post(t, tr.url, ctV1, "snappy", body); resp.StatusCode != http.StatusNoContent {
			t.Errorf("with room: %d", resp.StatusCode)
		}
		if tr.bad(reasonMemoryLimit) != 1 || mem.InFlight() != 0 {
			t.Errorf("memory_limit %g, in flight %d", tr.bad(reasonMemoryLimit), mem.InFlight())
		}
		// Larger than the limit can ever hold: 413.
		big := v1Body(t, 5000)
		if resp := post(t, tr.url, ctV1, "snappy", big); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("larger than the limit: %d", resp.StatusCode)
		}
	})
}

func TestCorruptSnappy(t *testing.T) {
	tr := startReceiver(t, nil, nil)
	req, _ := http.NewRequest(http.MethodPost, tr.url, bytes.NewReader([]byte("\x80\x80\x80\x80\x80not snappy")))
	req.Header.Set("Content-Type", ctV1)
	req.Header.Set("Content-Encoding", "snappy")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || tr.bad(reasonDecode) != 1 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestExemplarWithoutPointCounted(t *testing.T) {
	tr := startReceiver(t, nil, nil)
	body := marshal(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: labels("__name__", "a_total"), Samples: []prompb.Sample{{Value: 1, Timestamp: t0}}},
		{Labels: labels("__name__", "b_total"), Exemplars: []prompb.Exemplar{{Value: 1, Timestamp: t0}}},
	}})
	if resp := post(t, tr.url, ctV1, "snappy", body); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := promtestutil.ToFloat64(tr.tel.ReceiverDroppedExemplars.WithLabelValues(Type, exemplarNoPoint)); got != 1 {
		t.Errorf("dropped exemplars %g, want 1", got)
	}
}
