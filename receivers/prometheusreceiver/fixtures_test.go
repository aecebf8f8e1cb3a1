package prometheusreceiver

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// upstreamTestdata is Prometheus's exposition parser testdata in the
// module cache.
func upstreamTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/prometheus").Output()
	if err != nil {
		t.Fatalf("locate github.com/prometheus/prometheus: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "model", "textparse", "testdata")
}

// normKey is a series' name and labels with le and quantile as numbers
// (OTLP carries them as floats), without empty labels (Prometheus stores
// none: an empty label is no label).
func normKey(ls map[string]string) string {
	keys := slices.Sorted(maps.Keys(ls))
	var b strings.Builder
	for _, k := range keys {
		v := ls[k]
		if v == "" {
			continue
		}
		if k == model.BucketLabel || k == model.QuantileLabel {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				v = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
		fmt.Fprintf(&b, "%s=%q,", k, v)
	}
	return b.String()
}

// parsedSeries is every series Prometheus's parser reads from b, as the
// scrape loop reads it (OpenMetrics _created lines are start timestamps).
func parsedSeries(t *testing.T, b []byte, ctype string) map[string]bool {
	t.Helper()
	p, err := textparse.New(b, ctype, labels.NewSymbolTable(), textparse.ParserOptions{OpenMetricsSkipSTSeries: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var ls labels.Labels
	for {
		et, err := p.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("upstream parser: %v", err)
		}
		if et != textparse.EntrySeries && et != textparse.EntryHistogram {
			continue
		}
		p.Labels(&ls)
		out[normKey(ls.Map())] = true
	}
	return out
}

// seriesOf turns pmetric back into the Prometheus series it stands for:
// a histogram's _bucket (one per bound and +Inf), _sum and _count, a
// summary's quantiles, _sum and _count.
func seriesOf(md pmetric.Metrics, skip map[string]bool) map[string]bool {
	out := map[string]bool{}
	add := func(name string, attrs pcommon.Map, extra ...string) {
		if skip[name] {
			return
		}
		m := map[string]string{"__name__": name}
		for k, v := range attrs.All() {
			m[k] = v.AsString()
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		out[normKey(m)] = true
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					for _, dp := range m.Gauge().DataPoints().All() {
						add(m.Name(), dp.Attributes())
					}
				case pmetric.MetricTypeSum:
					for _, dp := range m.Sum().DataPoints().All() {
						add(m.Name(), dp.Attributes())
					}
				case pmetric.MetricTypeHistogram:
					for _, dp := range m.Histogram().DataPoints().All() {
						for _, b := range dp.ExplicitBounds().All() {
							add(m.Name()+"_bucket", dp.Attributes(), "le", f(b))
						}
						add(m.Name()+"_bucket", dp.Attributes(), "le", "+Inf")
						if dp.HasSum() {
							add(m.Name()+"_sum", dp.Attributes())
						}
						add(m.Name()+"_count", dp.Attributes())
					}
				case pmetric.MetricTypeSummary:
					for _, dp := range m.Summary().DataPoints().All() {
						for _, q := range dp.QuantileValues().All() {
							add(m.Name(), dp.Attributes(), "quantile", f(q.Quantile()))
						}
						add(m.Name()+"_sum", dp.Attributes())
						add(m.Name()+"_count", dp.Attributes())
					}
				case pmetric.MetricTypeExponentialHistogram:
					for _, dp := range m.ExponentialHistogram().DataPoints().All() {
						add(m.Name(), dp.Attributes())
					}
				}
			}
		}
	}
	return out
}

// TestUpstreamFixtures scrapes each of Prometheus's exposition parser
// test files (text format and OpenMetrics 1.0) and checks that the
// translation stands for exactly the series Prometheus's parser reads.
func TestUpstreamFixtures(t *testing.T) {
	dir := upstreamTestdata(t)
	report := map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true,
		"scrape_samples_post_metric_relabeling": true, "scrape_series_added": true}
	for _, tc := range []struct{ file, ctype string }{
		{"alltypes.237mfs.prom.txt", textContentType},
		{"alltypes.237mfs.nometa.prom.txt", textContentType},
		{"1histogram.om.txt", omContentType},
		{"alltypes.5mfs.om.txt", omContentType},
		{"alltypes.bench.om.txt", omContentType},
		{"histograms.bench.om.txt", omContentType},
		{"ct.bench.om.txt", omContentType},
		{"prometheus.om1.txt", omContentType},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := parsedSeries(t, b, tc.ctype)
			tg := newTarget(t, tc.ctype, string(b))
			s := &sink{}
			startReceiver(t, fmt.Sprintf(`
config:
  global: {scrape_interval: 1s, scrape_timeout: 900ms}
  scrape_configs:
    - job_name: fixture
      honor_labels: true
      honor_timestamps: false
      static_configs: [{targets: [%q]}]
`, tg.addr()), s, nil)
			up := waitPoint(t, s, "up", named("up"))
			if up.value != 1 {
				t.Fatalf("up = %v: the scrape failed", up.value)
			}
			md := s.all()[0]
			got := seriesOf(md, report)
			gotNoRes := got
			var missing, extra []string
			for k := range want {
				if !gotNoRes[k] {
					missing = append(missing, k)
				}
			}
			for k := range gotNoRes {
				if !want[k] {
					extra = append(extra, k)
				}
			}
			slices.Sort(missing)
			slices.Sort(extra)
			for i := 0; i < len(missing) && i < 5; i++ {
				t.Errorf("parsed but not translated: %s", missing[i])
			}
			for i := 0; i < len(extra) && i < 5; i++ {
				t.Errorf("translated but not parsed: %s", extra[i])
			}
			t.Logf("%s: %d series parsed, %d translated into %d points", tc.file, len(want), len(got), md.DataPointCount())
		})
	}
}
