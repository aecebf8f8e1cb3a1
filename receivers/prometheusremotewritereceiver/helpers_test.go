package prometheusremotewritereceiver

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testHost hands out listeners as the running graph does.
type testHost struct{ listeners pipeline.Listeners }

func (h *testHost) Listen(network, address string) (net.Listener, error) {
	return h.listeners.Listen(network, address)
}

// sink keeps what it is given and answers err.
type sink struct {
	mu  sync.Mutex
	err error
	got []pmetric.Metrics
}

func (s *sink) setErr(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

func (s *sink) consume(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.got = append(s.got, md)
	}
	return s.err
}

func (s *sink) points() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, md := range s.got {
		n += md.DataPointCount()
	}
	return n
}

type testReceiver struct {
	*receiver
	tel  *selftelemetry.Metrics
	url  string
	sink *sink
}

func startReceiver(t testing.TB, mod func(*Config), mem *memlimit.Limiter) *testReceiver {
	t.Helper()
	cfg := createDefaultConfig()
	cfg.Endpoint = "127.0.0.1:0"
	if mod != nil {
		mod(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	next, err := consumer.NewMetrics(s.consume)
	if err != nil {
		t.Fatal(err)
	}
	tel := selftelemetry.New()
	r, err := newReceiver(pipeline.Settings{ID: pipeline.MustID(Type), Telemetry: tel, Memory: mem}, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), &testHost{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return &testReceiver{receiver: r, tel: tel, url: "http://" + r.address().String() + cfg.URLPath, sink: s}
}

func (tr *testReceiver) accepted() float64 {
	return promtestutil.ToFloat64(tr.tel.ReceiverAccepted.WithLabelValues(Type, "metrics", transport))
}

func (tr *testReceiver) refused(reason string) float64 {
	return promtestutil.ToFloat64(tr.tel.ReceiverRefused.WithLabelValues(Type, "metrics", transport, reason))
}

func (tr *testReceiver) bad(reason string) float64 {
	return promtestutil.ToFloat64(tr.tel.ReceiverBadRequests.WithLabelValues(Type, "metrics", transport, reason))
}

const (
	ctV1 = "application/x-protobuf;proto=prometheus.WriteRequest"
	ctV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"
)

// post sends body (snappy-compressed here) with the given headers.
func post(t testing.TB, url, contentType, encoding string, raw []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(snappy.Encode(nil, raw)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func marshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func labels(kv ...string) []prompb.Label {
	ls := make([]prompb.Label, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

// v2Request builds a remote-write 2.0 request with a symbol table.
type v2Request struct {
	syms writev2.SymbolsTable
	req  writev2.Request
}

func newV2() *v2Request { return &v2Request{syms: writev2.NewSymbolTable()} }

func (r *v2Request) refs(kv ...string) []uint32 {
	out := make([]uint32, len(kv))
	for i, s := range kv {
		out[i] = r.syms.Symbolize(s)
	}
	return out
}

func (r *v2Request) add(ts writev2.TimeSeries) { r.req.Timeseries = append(r.req.Timeseries, ts) }

func (r *v2Request) build() *writev2.Request {
	r.req.Symbols = r.syms.Symbols()
	return &r.req
}
