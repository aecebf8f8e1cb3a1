package prometheusreceiver

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Prometheus's HTTP client keeps idle connections; the transport
		// closes them on its own schedule.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		// The glog-style flush daemon klog starts in an init function of a
		// Prometheus dependency.
		goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// sink is a consumer.Metrics that keeps what it accepts and refuses while
// refuse is set.
type sink struct {
	mu      sync.Mutex
	got     []pmetric.Metrics
	refuse  error
	refused int
}

func (s *sink) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (s *sink) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse != nil {
		s.refused++
		return s.refuse
	}
	s.got = append(s.got, md)
	return nil
}

func (s *sink) setRefuse(err error) {
	s.mu.Lock()
	s.refuse = err
	s.mu.Unlock()
}

// all returns the batches accepted so far.
func (s *sink) all() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.got...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// target serves a Prometheus exposition that the test can change.
type target struct {
	mu    sync.Mutex
	body  string
	ctype string
	srv   *httptest.Server
}

func newTarget(t *testing.T, ctype, body string) *target {
	tg := &target{body: body, ctype: ctype}
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tg.mu.Lock()
		b, ct := tg.body, tg.ctype
		tg.mu.Unlock()
		w.Header().Set("Content-Type", ct)
		fmt.Fprint(w, b)
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) set(body string) {
	tg.mu.Lock()
	tg.body = body
	tg.mu.Unlock()
}

func (tg *target) addr() string { return strings.TrimPrefix(tg.srv.URL, "http://") }

// decodeConfig decodes a receiver's YAML section as a configuration file
// would be.
func decodeConfig(t *testing.T, src string) (*Config, error) {
	t.Helper()
	cfg := createDefaultConfig()
	if err := configs.Decode("test.yaml", []byte(src), cfg); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

// startReceiver starts a receiver on the YAML section src that hands its
// scrapes to next; it is shut down when the test ends.
func startReceiver(t *testing.T, src string, next *sink, tel *selftelemetry.Metrics) {
	t.Helper()
	cfg, err := decodeConfig(t, src)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if tel == nil {
		tel = selftelemetry.New()
	}
	id, _ := pipeline.ParseID("prometheus")
	c, err := NewFactory().Create(context.Background(), pipeline.Settings{ID: id, Telemetry: tel}, cfg, pipeline.Consumers{Metrics: next})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

// point is one data point flattened for assertions.
type point struct {
	resource string // service.name/service.instance.id
	metric   string
	typ      pmetric.MetricType
	attrs    string
	value    float64
	stale    bool
	start    int64
	hist     pmetric.HistogramDataPoint
	exp      pmetric.ExponentialHistogramDataPoint
	summary  pmetric.SummaryDataPoint
	number   pmetric.NumberDataPoint
	unit     string
}

func points(md pmetric.Metrics) []point {
	var out []point
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		ra := rms.At(i).Resource().Attributes()
		job, _ := ra.Get(attrServiceName)
		inst, _ := ra.Get(attrServiceInstanceID)
		res := job.AsString() + "/" + inst.AsString()
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				base := point{resource: res, metric: m.Name(), typ: m.Type(), unit: m.Unit()}
				switch m.Type() {
				case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
					var dps pmetric.NumberDataPointSlice
					if m.Type() == pmetric.MetricTypeSum {
						dps = m.Sum().DataPoints()
					} else {
						dps = m.Gauge().DataPoints()
					}
					for d := 0; d < dps.Len(); d++ {
						p := base
						dp := dps.At(d)
						p.attrs, p.value, p.stale, p.start, p.number = attrString(dp.Attributes().AsRaw()), dp.DoubleValue(), dp.Flags().NoRecordedValue(), int64(dp.StartTimestamp()), dp
						out = append(out, p)
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						p := base
						dp := dps.At(d)
						p.attrs, p.value, p.stale, p.start, p.hist = attrString(dp.Attributes().AsRaw()), float64(dp.Count()), dp.Flags().NoRecordedValue(), int64(dp.StartTimestamp()), dp
						out = append(out, p)
					}
				case pmetric.MetricTypeExponentialHistogram:
					dps := m.ExponentialHistogram().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						p := base
						dp := dps.At(d)
						p.attrs, p.value, p.stale, p.start, p.exp = attrString(dp.Attributes().AsRaw()), float64(dp.Count()), dp.Flags().NoRecordedValue(), int64(dp.StartTimestamp()), dp
						out = append(out, p)
					}
				case pmetric.MetricTypeSummary:
					dps := m.Summary().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						p := base
						dp := dps.At(d)
						p.attrs, p.value, p.stale, p.start, p.summary = attrString(dp.Attributes().AsRaw()), float64(dp.Count()), dp.Flags().NoRecordedValue(), int64(dp.StartTimestamp()), dp
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

func attrString(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%v", k, m[k])
	}
	return b.String()
}

// counterSum sums the series of an outpost metric family whose labels
// include want.
func counterSum(t *testing.T, tel *selftelemetry.Metrics, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
