package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/outpost-edge/outpost/internal/testutil"
)

// TestAggregateAgainstPrometheus checks the aggregate processor against a
// reference computed by a real Prometheus: raw series (counters with a
// reset and a missing sample, gauges, explicit and exponential histograms)
// go through outpost over
// OTLP into two pipelines, raw → remote write and aggregate → remote
// write, to the same Prometheus; then PromQL on the raw series must give
// what outpost aggregated, interval by interval.
//
// Samples are stamped and sent at 1s, 2s and 3s into each 4s interval, so
// that PromQL's increase() is exact on them: its window (E-4s, E] holds
// the three samples, 1s from each edge, and extrapolates (×4/2) to the
// whole interval, which equals the true increase when counters grow
// linearly in time, as here (a reset restarts the counter from 0 one
// second before its sample; the missing sample is the middle one). The
// tolerance is then float rounding, 1e-9 relative. The first interval is
// not compared: outpost takes the first sample of a series with no start
// time as a base (it cannot know what came before), PromQL extrapolates.
func TestAggregateAgainstPrometheus(t *testing.T) {
	const (
		interval  = 4 * time.Second
		intervals = 6
	)
	prom := startPrometheus(t, testutil.FreeAddr(t), t.TempDir())
	o := newOutpost(t)
	o.start(t, testutil.Sprintf(`
node: {name: agg-node, site: lab}
storage: {directory: %s}
telemetry: {address: %s}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: %s}
      http: {endpoint: %s}
processors:
  aggregate:
    rules:
      - match: {metric_name: agg_requests_total}
        interval: 4s
        by: [code]
        outputs: [total, increase]
      - match: {metric_name: agg_temperature}
        interval: 4s
        by: [room]
        outputs: [max]
      - match: {metric_name: "agg_latency_seconds|agg_size_bytes"}
        interval: 4s
        by: []
        outputs: [histogram]
exporters:
  prometheusremotewrite:
    endpoint: http://%s/api/v1/write
    promote_resource_attributes: [node.name]
    retry_on_failure: {initial_interval: 100ms, max_interval: 500ms}
service:
  pipelines:
    metrics/raw: {receivers: [otlp], exporters: [prometheusremotewrite]}
    metrics/agg: {receivers: [otlp], processors: [aggregate], exporters: [prometheusremotewrite]}
`, filepath.Join(filepath.Dir(o.config), "data"), o.telemetry, o.grpc, o.http, prom.addr))

	// One connection for all requests, so that none is late for its
	// interval while connecting.
	conn, err := grpc.NewClient(o.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)

	rng := rand.New(rand.NewPCG(13, 9))
	bounds := []float64{0.01, 0.05, 0.1, 0.5, 1}
	// Per histogram series, buckets grow by a fixed step per second.
	histRates := [][]uint64{{3, 5, 2, 1, 0, 1}, {0, 2, 7, 4, 1, 0}, {1, 1, 1, 6, 3, 2}}

	// Align on the outpost's flush boundaries (multiples of 4s since the
	// epoch), one interval ahead.
	now := time.Now()
	t0 := time.Unix(0, (now.UnixNano()/int64(interval)+2)*int64(interval))
	resetAt := t0.Add(2*interval + 2*time.Second) // code=200,inst=b restarts here
	skip := t0.Add(3*interval + 2*time.Second)    // code=500 misses this sample
	counter := func(ts time.Time, rate float64, restart time.Time) float64 {
		if !restart.IsZero() && !ts.Before(restart) {
			return rate * ts.Sub(restart).Seconds() // restarted from 0 at restart
		}
		return 1000 + rate*ts.Sub(t0).Seconds()
	}
	late := map[int]bool{} // intervals (by the index of their end) not compared
	for k := range intervals {
		for off := 1; off <= 3; off++ {
			ts := t0.Add(time.Duration(k)*interval + time.Duration(off)*time.Second)
			time.Sleep(time.Until(ts))
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "app")
			rm.Resource().Attributes().PutStr("service.instance.id", "app-1")
			ms := rm.ScopeMetrics().AppendEmpty().Metrics()
			pts := pcommon.NewTimestampFromTime(ts)

			req := ms.AppendEmpty()
			req.SetName("agg_requests_total")
			sum := req.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, s := range []struct {
				code, inst string
				rate       float64
				restart    time.Time
				skip       bool
			}{
				{"200", "a", 2, time.Time{}, false},
				{"200", "b", 3, resetAt.Add(-time.Second), false},
				{"500", "a", 1, time.Time{}, ts.Equal(skip)},
			} {
				if s.skip {
					continue
				}
				dp := sum.DataPoints().AppendEmpty()
				dp.Attributes().PutStr("code", s.code)
				dp.Attributes().PutStr("inst", s.inst)
				dp.SetTimestamp(pts)
				r := s.restart
				if ts.Before(resetAt) {
					r = time.Time{}
				}
				dp.SetDoubleValue(counter(ts, s.rate, r))
			}

			temp := ms.AppendEmpty()
			temp.SetName("agg_temperature")
			g := temp.SetEmptyGauge()
			for _, room := range []string{"hall", "lab"} {
				for _, sensor := range []string{"1", "2"} {
					dp := g.DataPoints().AppendEmpty()
					dp.Attributes().PutStr("room", room)
					dp.Attributes().PutStr("sensor", sensor)
					dp.SetTimestamp(pts)
					dp.SetDoubleValue(math.Round(rng.Float64()*4000) / 100)
				}
			}

			lat := ms.AppendEmpty()
			lat.SetName("agg_latency_seconds")
			h := lat.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			secs := uint64(ts.Sub(t0).Seconds())
			for i, rates := range histRates {
				dp := h.DataPoints().AppendEmpty()
				dp.Attributes().PutStr("inst", strconv.Itoa(i))
				dp.SetTimestamp(pts)
				dp.ExplicitBounds().FromRaw(bounds)
				var count uint64
				for _, r := range rates {
					c := 1000 + r*secs // large bases: PromQL never clamps its extrapolation at zero
					dp.BucketCounts().Append(c)
					count += c
				}
				dp.SetCount(count)
				dp.SetSum(float64(count) * 0.1)
			}
			// Exponential histograms at two scales: merged at scale 1.
			size := ms.AppendEmpty()
			size.SetName("agg_size_bytes")
			eh := size.SetEmptyExponentialHistogram()
			eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i, e := range []struct {
				scale, offset int32
				rates         []uint64
			}{{3, 40, []uint64{1, 4, 0, 2, 5, 1, 3, 0, 2}}, {1, 9, []uint64{2, 0, 3, 1}}} {
				dp := eh.DataPoints().AppendEmpty()
				dp.Attributes().PutStr("inst", strconv.Itoa(i))
				dp.SetTimestamp(pts)
				dp.SetScale(e.scale)
				dp.Positive().SetOffset(e.offset)
				var count uint64
				for _, r := range e.rates {
					c := 1000 + r*secs
					dp.Positive().BucketCounts().Append(c)
					count += c
				}
				dp.SetCount(count)
				dp.SetSum(float64(count) * 50)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
			cancel()
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			// The request is aggregated before Export returns; one that
			// returns after its interval's end may have landed in the next
			// interval (a starved machine): those intervals are not compared.
			if end := t0.Add(time.Duration(k+1) * interval); time.Now().After(end) {
				t.Logf("sample of %s aggregated after %s: intervals ending then and next not compared", ts.Format(time.TimeOnly), end.Format(time.TimeOnly))
				late[k+1], late[k+2] = true, true
			}
		}
	}
	last := t0.Add(intervals * interval)

	at := func(q string, ts time.Time) []promResult {
		t.Helper()
		var out struct {
			Status string `json:"status"`
			Data   struct {
				Result []promResult `json:"result"`
			} `json:"data"`
			Error string `json:"error"`
		}
		prom.get(t, "/api/v1/query?query="+url.QueryEscape(q)+"&time="+strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64), &out)
		if out.Status != "success" {
			t.Fatalf("query %s: %s", q, out.Error)
		}
		return out.Data.Result
	}
	byLabel := func(rs []promResult, label string) map[string]float64 {
		m := map[string]float64{}
		for _, r := range rs {
			m[r.Metric[label]] = value(t, r)
		}
		return m
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if len(at(`count_over_time(agg_requests_total:4s_by_code_increase[1s])`, last)) == 2 &&
			len(at(`count_over_time(agg_temperature:4s_by_room_max[1s])`, last)) == 2 &&
			len(at(`count_over_time(agg_latency_seconds:4s_histogram_bucket[1s])`, last)) == len(bounds)+1 &&
			len(at(`count_over_time(agg_size_bytes:4s_histogram[1s])`, last)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			var names struct {
				Data []string `json:"data"`
			}
			prom.get(t, "/api/v1/label/__name__/values", &names)
			t.Fatalf("the last aggregated interval is not in Prometheus after 30s; metric names there: %v", names.Data)
		}
		time.Sleep(200 * time.Millisecond)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

	// The node identity survives aggregation (by: [code] drops the rest).
	// Aggregated series are read with last_over_time(x[1s]) at an
	// interval's end: only the sample stamped there, never an older one
	// found by the lookback.
	for _, r := range at(`agg_requests_total:4s_by_code_total`, last) {
		if r.Metric["node_name"] != "agg-node" || r.Metric["job"] != "" {
			t.Errorf("aggregated series labels %v: want node_name and no job", r.Metric)
		}
	}
	var totalGrowth, rawSum float64
	compared := 0
	for k := 2; k <= intervals; k++ {
		if late[k] {
			continue
		}
		compared++
		e := t0.Add(time.Duration(k) * interval)
		ref := byLabel(at(`sum by (code) (increase(agg_requests_total[4s]))`, e), "code")
		got := byLabel(at(`last_over_time(agg_requests_total:4s_by_code_increase[1s])`, e), "code")
		tot := byLabel(at(`last_over_time(agg_requests_total:4s_by_code_total[1s]) - last_over_time(agg_requests_total:4s_by_code_total[1s] offset 4s)`, e), "code")
		for _, code := range []string{"200", "500"} {
			t.Logf("interval ending %s code=%s: PromQL sum(increase) = %g, aggregated increase = %g, total grew %g",
				e.Format(time.TimeOnly), code, ref[code], got[code], tot[code])
			if !near(got[code], ref[code]) || !near(tot[code], ref[code]) {
				t.Errorf("interval ending %s code=%s: aggregated increase %g, total grew %g; PromQL says %g", e.Format(time.TimeOnly), code, got[code], tot[code], ref[code])
			}
			totalGrowth += tot[code]
			rawSum += ref[code]
		}

		refMax := byLabel(at(`max by (room) (max_over_time(agg_temperature[4s]))`, e), "room")
		gotMax := byLabel(at(`last_over_time(agg_temperature:4s_by_room_max[1s])`, e), "room")
		for _, room := range []string{"hall", "lab"} {
			t.Logf("interval ending %s room=%s: PromQL max = %g, aggregated max = %g", e.Format(time.TimeOnly), room, refMax[room], gotMax[room])
			if len(refMax) != 2 || gotMax[room] != refMax[room] {
				t.Errorf("interval ending %s room=%s: aggregated max %g, PromQL %g", e.Format(time.TimeOnly), room, gotMax[room], refMax[room])
			}
		}

		for _, q := range []float64{0.5, 0.9, 0.99} {
			refQ := at(fmt.Sprintf(`histogram_quantile(%g, sum(increase(agg_size_bytes[4s])))`, q), e)
			gotQ := at(fmt.Sprintf(`histogram_quantile(%g, last_over_time(agg_size_bytes:4s_histogram[1s]) - last_over_time(agg_size_bytes:4s_histogram[1s] offset 4s))`, q), e)
			if len(refQ) != 1 || len(gotQ) != 1 {
				t.Fatalf("interval ending %s: native quantile results %v / %v", e.Format(time.TimeOnly), refQ, gotQ)
			}
			r, g := value(t, refQ[0]), value(t, gotQ[0])
			t.Logf("interval ending %s: PromQL histogram_quantile(%g) on raw native histograms (scales 3 and 1) = %g, on the merged one = %g", e.Format(time.TimeOnly), q, r, g)
			if !near(g, r) {
				t.Errorf("interval ending %s: native quantile %g: merged %g, raw %g", e.Format(time.TimeOnly), q, g, r)
			}
		}
		for _, q := range []float64{0.5, 0.9, 0.99} {
			refQ := at(fmt.Sprintf(`histogram_quantile(%g, sum by (le) (increase(agg_latency_seconds_bucket[4s])))`, q), e)
			gotQ := at(fmt.Sprintf(`histogram_quantile(%g, last_over_time(agg_latency_seconds:4s_histogram_bucket[1s]) - last_over_time(agg_latency_seconds:4s_histogram_bucket[1s] offset 4s))`, q), e)
			if len(refQ) != 1 || len(gotQ) != 1 {
				t.Fatalf("interval ending %s: quantile results %v / %v", e.Format(time.TimeOnly), refQ, gotQ)
			}
			r, g := value(t, refQ[0]), value(t, gotQ[0])
			t.Logf("interval ending %s: PromQL histogram_quantile(%g) on raw buckets = %g, on merged buckets = %g", e.Format(time.TimeOnly), q, r, g)
			if !near(g, r) {
				t.Errorf("interval ending %s: quantile %g: merged %g, raw %g", e.Format(time.TimeOnly), q, g, r)
			}
		}
	}
	t.Logf("counters over the %d intervals compared: aggregated total grew %g, PromQL increases add up to %g", compared, totalGrowth, rawSum)
	if compared < 3 {
		t.Fatalf("only %d intervals could be compared: the machine starved the test of CPU", compared)
	}
}
