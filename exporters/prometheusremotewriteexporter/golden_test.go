package prometheusremotewriteexporter

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestTranslateGolden pins the exact bytes of the WriteRequests the
// translation makes (series order, label order, samples, exemplars,
// histograms, metadata) and its counts, for realistic, edge-case and
// random batches under several configurations, in both orders the
// exporter uses (metrics then target_info; target_info first, as with
// priority lanes). The golden files were written by the translation as
// it was before it was made to allocate less; rewrite them with -update
// only for an intended change of the output.
func TestTranslateGolden(t *testing.T) {
	inputs := map[string]func() pmetric.Metrics{
		"bench":  func() pmetric.Metrics { return benchMetrics(2, 20) },
		"edge":   edgeMetrics,
		"random": func() pmetric.Metrics { return randomMetrics(rand.New(rand.NewPCG(9, 13)), 6) },
	}
	configs := map[string]func(*Config){
		"default": nil,
		"all": func(c *Config) {
			c.TranslationStrategy = "NoUTF8EscapingWithSuffixes"
			c.Namespace = "edge"
			c.ResourceToTelemetryConversion = true
			c.ExternalLabels = map[string]string{"site": "plant-3", "zone": "b", "job": "ext"}
		},
		"promote": func(c *Config) {
			c.TranslationStrategy = "UnderscoreEscapingWithoutSuffixes"
			c.PromoteResourceAttributes = []string{"host.name", "os.type", "k8s.pod.name", "a.b", "a_b"}
			c.SendNativeHistograms = false
			c.SendMetadata = false
		},
		"raw": func(c *Config) {
			c.TranslationStrategy = "NoTranslation"
			c.TargetInfo = false
			c.ExternalLabels = map[string]string{"cluster": "c1"}
		},
	}
	for _, in := range slices.Sorted(maps.Keys(inputs)) {
		for _, cf := range slices.Sorted(maps.Keys(configs)) {
			for _, order := range []string{"metrics-first", "info-first"} {
				name := in + "-" + cf + "-" + order
				t.Run(name, func(t *testing.T) {
					md := inputs[in]()
					tr := defaultTranslator(configs[cf])
					var b *batch
					if order == "metrics-first" {
						b = tr.translate(md)
					} else {
						b = tr.newBatch()
						b.addTargetInfo(md)
						b.addMetrics(md)
						b.finish()
					}
					raw, err := b.req.Marshal()
					if err != nil {
						t.Fatal(err)
					}
					counts := fmt.Sprintf("points=%d dropped=%v series=%d\n", b.Points, b.Dropped, len(b.req.Timeseries))
					if b.Points+b.DroppedTotal() != md.DataPointCount() {
						t.Errorf("%d translated + %d dropped, want %d", b.Points, b.DroppedTotal(), md.DataPointCount())
					}
					golden(t, name, raw, counts)
				})
			}
		}
	}
}

// golden compares raw (stored snappy-compressed) and counts with the
// golden files of name, or writes them with -update.
func golden(t *testing.T, name string, raw []byte, counts string) {
	t.Helper()
	dir := filepath.Join("testdata", "golden")
	bin, txt := filepath.Join(dir, name+".pb.sz"), filepath.Join(dir, name+".txt")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, snappy.Encode(nil, raw), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(txt, []byte(counts), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	sz, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	want, err := snappy.Decode(nil, sz)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts, err := os.ReadFile(txt)
	if err != nil {
		t.Fatal(err)
	}
	if counts != string(wantCounts) {
		t.Errorf("counts: got %q, want %q", counts, wantCounts)
	}
	if !bytes.Equal(raw, want) {
		i := 0
		for i < len(raw) && i < len(want) && raw[i] == want[i] {
			i++
		}
		t.Errorf("request differs from the golden one at byte %d (%d bytes, want %d)", i, len(raw), len(want))
	}
}

// edgeMetrics is one batch of the cases that take the translation's side
// paths: colliding, invalid and reserved attribute names, empty values,
// invalid UTF-8, values of every type, stale markers, duplicates and
// points out of time order, delta and unspecified temporality, missing
// timestamps, histograms without a sum, exponential histograms finer
// than schema 8, with negative buckets or refused, exemplars with
// filtered attributes within and over the rune bound, and resources with
// and without the attributes that make job and instance.
func edgeMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	res := []map[string]any{
		{"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1", "host.name": "h1", "a.b": "x", "a_b": "y", "k8s.pod.name": "p\xff"},
		{"host.name": "h2", "os.type": "linux", "empty": ""},
		{"service.name": "only"},
		{"service.instance.id": "i-2", "num": 7, "flag": true, "ratio": 0.25, "list": []any{"a", 1}, "obj": map[string]any{"k": "v"}},
		{"service.name": "bad", "...": "invalid name"},
	}
	for r, attrs := range res {
		rm := md.ResourceMetrics().AppendEmpty()
		_ = rm.Resource().Attributes().FromRaw(attrs)
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		pa := func(m pcommon.Map, i int) {
			m.PutStr("route", fmt.Sprintf("/r%d", i%3))
			switch i % 5 {
			case 0:
				m.PutStr("x.y", "1")
				m.PutStr("x_y", "2")
			case 1:
				m.PutStr("__name__", "sneaky")
				m.PutStr("empty", "")
			case 2:
				m.PutInt("code", 503)
				m.PutDouble("share", 1.5e-7)
				m.PutBool("ok", false)
			case 3:
				m.PutStr("bad", "v\xfe\xff")
				m.PutStr("job", "from-point")
				m.PutEmptyBytes("raw").FromRaw([]byte{1, 2, 3})
			case 4:
				m.PutStr("2xx", "digit")
				m.PutStr("üñí", "utf8")
			}
		}
		ex := func(es pmetric.ExemplarSlice, ts pcommon.Timestamp, v float64, i int) {
			e := es.AppendEmpty()
			e.SetTimestamp(ts)
			if i%2 == 0 {
				e.SetDoubleValue(v)
			} else {
				e.SetIntValue(int64(v))
			}
			if i%3 != 2 {
				e.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
				e.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
			}
			e.FilteredAttributes().PutStr("user", "u1")
			if i%4 == 3 {
				e.FilteredAttributes().PutStr("long", strings.Repeat("é", 80))
			}
			e.FilteredAttributes().PutStr("user.id", "")
		}
		sum := func(name string, mono bool, temp pmetric.AggregationTemporality) pmetric.Sum {
			m := ms.AppendEmpty()
			m.SetName(name)
			m.SetUnit("By")
			m.SetDescription("bytes \xff sent")
			s := m.SetEmptySum()
			s.SetIsMonotonic(mono)
			s.SetAggregationTemporality(temp)
			return s
		}
		c := sum("net.io", true, pmetric.AggregationTemporalityCumulative)
		u := sum("net.conns", false, pmetric.AggregationTemporalityCumulative)
		d := sum("net.delta", true, pmetric.AggregationTemporalityDelta)
		x := sum("net.unspec", true, pmetric.AggregationTemporalityUnspecified)
		g := ms.AppendEmpty()
		g.SetName("temp.celsius")
		g.SetUnit("Cel")
		gg := g.SetEmptyGauge()
		bad := ms.AppendEmpty()
		bad.SetName("___")
		bad.SetEmptyGauge().DataPoints().AppendEmpty().SetTimestamp(nanos(t0))
		h := ms.AppendEmpty()
		h.SetName("latency")
		h.SetUnit("ms")
		hh := h.SetEmptyHistogram()
		hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		e := ms.AppendEmpty()
		e.SetName("size")
		eh := e.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		s := ms.AppendEmpty()
		s.SetName("rpc.duration")
		s.SetUnit("s")
		ss := s.SetEmptySummary()
		for i := range 12 {
			// Out of time order, with repeats.
			ts := nanos(t0 + int64((i*7)%5)*1000)
			if i == 11 {
				ts = 0
			}
			for _, sl := range []pmetric.NumberDataPointSlice{c.DataPoints(), u.DataPoints(), d.DataPoints(), x.DataPoints(), gg.DataPoints()} {
				dp := sl.AppendEmpty()
				dp.SetTimestamp(ts)
				if i%2 == 0 {
					dp.SetIntValue(int64(i * r))
				} else {
					dp.SetDoubleValue(float64(i) / 3)
				}
				if i == 7 {
					dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
				}
				pa(dp.Attributes(), i)
				if i%3 == 0 {
					ex(dp.Exemplars(), ts, float64(i), i)
				}
			}
			hp := hh.DataPoints().AppendEmpty()
			hp.SetTimestamp(ts)
			hp.SetCount(uint64(10 + i))
			if i%2 == 0 {
				hp.SetSum(float64(i) * 1.5)
			}
			hp.ExplicitBounds().FromRaw([]float64{0.1, 1, 10, 1e21, math.Inf(1)}[:2+i%4])
			counts := []uint64{1, 2, 3, 4, 0, 0}[:3+i%4]
			hp.BucketCounts().FromRaw(counts)
			pa(hp.Attributes(), i)
			for k := range 3 {
				ex(hp.Exemplars(), ts, []float64{20, 0.05, 5}[k], i+k)
			}
			if i == 5 {
				hp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			}
			ep := eh.DataPoints().AppendEmpty()
			ep.SetTimestamp(ts)
			ep.SetScale(int32([]int{3, 10, -4, -5, 8, 12}[i%6]))
			ep.SetZeroCount(uint64(i % 3))
			ep.SetZeroThreshold([]float64{0, 1e-9, math.Inf(1), -1}[i%4])
			ep.Positive().SetOffset(int32(i - 6))
			ep.Positive().BucketCounts().FromRaw([]uint64{1, 0, 0, 0, 2, 0, 3, 0, 0, 4, 5})
			ep.Negative().SetOffset(int32(-i))
			ep.Negative().BucketCounts().FromRaw([]uint64{0, 2, 1}[:i%4])
			cnt := uint64(15 + 3 + i%3)
			if i == 9 {
				cnt = 1 // below its buckets: refused
			}
			ep.SetCount(cnt)
			if i%3 != 1 {
				ep.SetSum(123.25)
			}
			if i == 4 {
				ep.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
			}
			pa(ep.Attributes(), i)
			if i%4 == 0 {
				ex(ep.Exemplars(), ts, 3, i)
			}
			sp := ss.DataPoints().AppendEmpty()
			sp.SetTimestamp(ts)
			sp.SetCount(uint64(i))
			sp.SetSum(float64(i) / 7)
			for k, q := range []float64{0, 0.25, 0.5, 0.999, 1}[:1+i%5] {
				qv := sp.QuantileValues().AppendEmpty()
				qv.SetQuantile(q)
				qv.SetValue(float64(k) * 1.1)
			}
			pa(sp.Attributes(), i)
		}
	}
	return md
}

// randomMetrics makes resources resources of random metrics: random
// types, names, units, attribute sets drawn from a pool with collisions,
// timestamps from a small set (so duplicates and disorder), values and
// flags. rng decides everything, so a seed gives the same batch.
func randomMetrics(rng *rand.Rand, resources int) pmetric.Metrics {
	keys := []string{"a", "a.b", "a_b", "A", "http.method", "k8s.pod.name", "service.name", "job", "instance", "le", "quantile", "_x", "9lives", "", "__meta__", "naïve"}
	vals := []string{"", "v", "GET", "x\xffy", "with space", `q"uote`, "0.5", "+Inf", strings.Repeat("long", 20)}
	names := []string{"m", "http.server.request.duration", "process.cpu.time", "hw.temp", "up", "a.b.c", "x_total", "ratio", "9bad", "_"}
	units := []string{"", "s", "ms", "By", "1", "{req}", "%", "By/s", "Cel"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	fill := func(m pcommon.Map, n int) {
		for range n {
			switch rng.IntN(4) {
			case 0:
				m.PutInt(pick(keys), rng.Int64N(1000))
			case 1:
				m.PutDouble(pick(keys), rng.NormFloat64())
			default:
				m.PutStr(pick(keys), pick(vals))
			}
		}
	}
	ts := func() pcommon.Timestamp {
		if rng.IntN(40) == 0 {
			return 0
		}
		return nanos(t0 + rng.Int64N(4)*15000 + rng.Int64N(2))
	}
	flags := func() pmetric.DataPointFlags {
		return pmetric.DefaultDataPointFlags.WithNoRecordedValue(rng.IntN(15) == 0)
	}
	temporality := func() pmetric.AggregationTemporality {
		return []pmetric.AggregationTemporality{pmetric.AggregationTemporalityCumulative, pmetric.AggregationTemporalityCumulative, pmetric.AggregationTemporalityCumulative, pmetric.AggregationTemporalityDelta, pmetric.AggregationTemporalityUnspecified}[rng.IntN(5)]
	}
	exemplars := func(es pmetric.ExemplarSlice) {
		for range rng.IntN(3) {
			e := es.AppendEmpty()
			e.SetTimestamp(ts())
			e.SetDoubleValue(rng.Float64() * 10)
			if rng.IntN(2) == 0 {
				var id pcommon.TraceID
				id[0], id[15] = byte(rng.IntN(256)), 1
				e.SetTraceID(id)
			}
			fill(e.FilteredAttributes(), rng.IntN(3))
		}
	}
	md := pmetric.NewMetrics()
	for range resources {
		rm := md.ResourceMetrics().AppendEmpty()
		ra := rm.Resource().Attributes()
		if rng.IntN(4) != 0 {
			ra.PutStr("service.name", []string{"api", "db", "edge"}[rng.IntN(3)])
		}
		if rng.IntN(2) == 0 {
			ra.PutStr("service.namespace", "ns")
		}
		if rng.IntN(3) != 0 {
			ra.PutStr("service.instance.id", fmt.Sprintf("i-%d", rng.IntN(3)))
		}
		fill(ra, rng.IntN(5))
		for range 1 + rng.IntN(3) {
			ms := rm.ScopeMetrics().AppendEmpty().Metrics()
			for range 1 + rng.IntN(8) {
				m := ms.AppendEmpty()
				m.SetName(pick(names))
				m.SetUnit(pick(units))
				m.SetDescription(pick(vals))
				n := rng.IntN(6)
				switch rng.IntN(6) {
				case 0, 1:
					var dps pmetric.NumberDataPointSlice
					if rng.IntN(2) == 0 {
						dps = m.SetEmptyGauge().DataPoints()
					} else {
						s := m.SetEmptySum()
						s.SetIsMonotonic(rng.IntN(3) != 0)
						s.SetAggregationTemporality(temporality())
						dps = s.DataPoints()
					}
					for range n {
						dp := dps.AppendEmpty()
						dp.SetTimestamp(ts())
						dp.SetDoubleValue(rng.NormFloat64() * 100)
						dp.SetFlags(flags())
						fill(dp.Attributes(), rng.IntN(4))
						exemplars(dp.Exemplars())
					}
				case 2:
					h := m.SetEmptyHistogram()
					h.SetAggregationTemporality(temporality())
					for range n {
						dp := h.DataPoints().AppendEmpty()
						dp.SetTimestamp(ts())
						nb := rng.IntN(6)
						bounds := make([]float64, nb)
						counts := make([]uint64, nb+1)
						var total uint64
						for k := range nb {
							bounds[k] = float64(k*k) / 4
						}
						for k := range counts {
							counts[k] = uint64(rng.IntN(5))
							total += counts[k]
						}
						dp.ExplicitBounds().FromRaw(bounds)
						dp.BucketCounts().FromRaw(counts)
						dp.SetCount(total)
						if rng.IntN(3) != 0 {
							dp.SetSum(rng.Float64() * 50)
						}
						dp.SetFlags(flags())
						fill(dp.Attributes(), rng.IntN(4))
						exemplars(dp.Exemplars())
					}
				case 3, 4:
					h := m.SetEmptyExponentialHistogram()
					h.SetAggregationTemporality(temporality())
					for range n {
						dp := h.DataPoints().AppendEmpty()
						dp.SetTimestamp(ts())
						dp.SetScale(int32(rng.IntN(16) - 5))
						var total uint64
						for _, bs := range []pmetric.ExponentialHistogramDataPointBuckets{dp.Positive(), dp.Negative()} {
							bs.SetOffset(int32(rng.IntN(20) - 10))
							counts := make([]uint64, rng.IntN(12))
							for k := range counts {
								if rng.IntN(3) != 0 {
									counts[k] = uint64(rng.IntN(9))
								}
								total += counts[k]
							}
							bs.BucketCounts().FromRaw(counts)
						}
						dp.SetZeroCount(uint64(rng.IntN(3)))
						dp.SetZeroThreshold([]float64{0, 1e-6, -1}[rng.IntN(3)])
						dp.SetCount(total + dp.ZeroCount() - uint64(rng.IntN(2)))
						if rng.IntN(2) == 0 {
							dp.SetSum(rng.Float64())
						}
						dp.SetFlags(flags())
						fill(dp.Attributes(), rng.IntN(4))
						exemplars(dp.Exemplars())
					}
				case 5:
					s := m.SetEmptySummary()
					for range n {
						dp := s.DataPoints().AppendEmpty()
						dp.SetTimestamp(ts())
						dp.SetCount(uint64(rng.IntN(100)))
						dp.SetSum(rng.Float64() * 100)
						for k := range rng.IntN(4) {
							q := dp.QuantileValues().AppendEmpty()
							q.SetQuantile(float64(k) / 3)
							q.SetValue(rng.Float64())
						}
						dp.SetFlags(flags())
						fill(dp.Attributes(), rng.IntN(4))
					}
				}
			}
		}
	}
	return md
}

// TestTranslateReuse: a translator whose pooled scratch and caches have
// served other batches, concurrently, translates each batch to the same
// bytes as a fresh one; and the caches stay within their bounds when
// every batch brings new names.
func TestTranslateReuse(t *testing.T) {
	marshal := func(b *batch) []byte {
		raw, err := b.req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	inputs := []pmetric.Metrics{benchMetrics(2, 20), edgeMetrics(), benchMetrics(1, 3)}
	for seed := range uint64(12) {
		inputs = append(inputs, randomMetrics(rand.New(rand.NewPCG(seed, 1)), 3))
	}
	cfg := func(c *Config) {
		c.ResourceToTelemetryConversion = true
		c.ExternalLabels = map[string]string{"site": "x"}
		c.SendMetadataInterval = 0 // metadata in every batch: the output must not depend on history
	}
	want := make([][]byte, len(inputs))
	for i, md := range inputs {
		want[i] = marshal(defaultTranslator(cfg).translate(md))
	}
	shared := defaultTranslator(cfg)
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for round := range 5 {
				for k := range inputs {
					i := (k + w + round) % len(inputs)
					if got := marshal(shared.translate(inputs[i])); !bytes.Equal(got, want[i]) {
						done <- fmt.Errorf("worker %d round %d: batch %d differs from a fresh translator's", w, round, i)
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("workers did not finish within a minute")
		}
	}

	// Every batch with new attribute keys and values: the caches are
	// emptied at their bounds, and the output stays right.
	tr := defaultTranslator(nil)
	for i := range 3 * maxCacheEntries / 100 {
		md, ms := metrics("service.name", "s")
		dps := ms.AppendEmpty().SetEmptyGauge().DataPoints()
		ms.At(0).SetName("g")
		for j := range 100 {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(nanos(t0))
			dp.Attributes().PutInt(fmt.Sprintf("key.%d.%d", i, j), int64(i*1000+j))
		}
		b := tr.translate(md)
		if len(b.req.Timeseries) != 100 {
			t.Fatalf("batch %d: %d series, want 100", i, len(b.req.Timeseries))
		}
		if got, want := b.req.Timeseries[99].Labels[2], fmt.Sprintf("key_%d_99=%d", i, i*1000+99); got.Name+"="+got.Value != want {
			t.Fatalf("batch %d: last series' label %s=%s, want %s", i, got.Name, got.Value, want)
		}
	}
	s := tr.newBatch().s
	if n := len(s.names) + len(s.metrics) + len(s.values) + len(s.floats); n > maxCacheEntries || s.cached > maxCacheBytes {
		t.Errorf("caches hold %d entries, %d bytes; bounds %d, %d", n, s.cached, maxCacheEntries, maxCacheBytes)
	}
}

// TestSendMetadataInterval: with send_metadata_interval a family's
// metadata goes in the first batch that carries the family and again only
// once the interval has passed; families seen for the first time go at
// once; 0 puts it in every batch.
func TestSendMetadataInterval(t *testing.T) {
	families := func(b *batch) []string {
		var out []string
		for _, m := range b.req.Metadata {
			out = append(out, m.MetricFamilyName)
		}
		slices.Sort(out)
		return out
	}
	gauge := func(names ...string) pmetric.Metrics {
		md := pmetric.NewMetrics()
		sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
		for _, n := range names {
			m := sm.Metrics().AppendEmpty()
			m.SetName(n)
			m.SetDescription("help of " + n)
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetDoubleValue(1)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(time.Unix(1_700_000_000, 0)))
		}
		return md
	}
	now := time.Unix(1_700_000_000, 0)
	tr := defaultTranslator(func(c *Config) { c.SendMetadataInterval = time.Minute })
	tr.meta.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		in      []string
		want    []string
	}{
		{0, []string{"a", "b"}, []string{"a", "b"}},
		{10 * time.Second, []string{"a", "b"}, nil},
		{10 * time.Second, []string{"a", "c"}, []string{"c"}},
		{40 * time.Second, []string{"a", "b", "c"}, []string{"a", "b"}}, // a and b: a minute since; c: 40 s
		{10 * time.Second, []string{"c"}, nil},                          // c: 50 s
		{10 * time.Second, []string{"c"}, []string{"c"}},                // c: a minute
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := families(tr.translate(gauge(s.in...))); !slices.Equal(got, s.want) {
			t.Errorf("step %d (%v): metadata for %v, want %v", i, s.in, got, s.want)
		}
	}
	every := defaultTranslator(func(c *Config) { c.SendMetadataInterval = 0 })
	for i := range 3 {
		if got := families(every.translate(gauge("a", "b"))); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("interval 0, batch %d: metadata for %v, want [a b]", i, got)
		}
	}
	off := defaultTranslator(func(c *Config) { c.SendMetadata = false })
	if got := families(off.translate(gauge("a"))); got != nil {
		t.Errorf("send_metadata false: metadata for %v", got)
	}
}
