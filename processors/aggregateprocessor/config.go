package aggregateprocessor

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/outpost-edge/outpost/configs"
)

// Config is the aggregate processor's configuration.
type Config struct {
	// MaxBytes bounds the processor's state: input series, output groups
	// and the samples kept for quantiles, as estimated by the processor
	// (see the package documentation). It is reserved out of memory_limit
	// when the processor starts. When a new series, group or quantile
	// sample would pass it, the point is shed and counted (reason
	// state_full). Default 16MiB.
	MaxBytes configs.ByteSize `yaml:"max_bytes"`
	// Rules are applied in order; a data point may feed several rules.
	// At least one is required unless dedup_interval is set.
	Rules []Rule `yaml:"rules"`
	// DedupInterval, when set, downsamples the points that go on
	// unaggregated (those no rule took, and the inputs of keep_input
	// rules): per series and per window of this length (aligned to
	// wall-clock multiples since the Unix epoch), only the point with the
	// latest timestamp goes on, unchanged, at the window's end. Delta sums
	// and histograms pass at once. A whole number of seconds, at least 1s.
	// Default 0: off. See the package documentation ("Dedup of the
	// points that go on").
	DedupInterval time.Duration `yaml:"dedup_interval"`
}

// Rule is one aggregation: which points it takes, how it groups them, over
// which interval and what it emits.
type Rule struct {
	// Match selects the input data points. Required.
	Match Match `yaml:"match"`
	// Interval is the aggregation interval, at least 1s and a whole number
	// of seconds (it is part of the output names). Flushes happen at the
	// wall-clock multiples of it (UTC), e.g. at :00, :30 for 30s.
	Interval time.Duration `yaml:"interval"`
	// By keeps only these attribute keys (resource and data point
	// attributes alike) on the outputs and aggregates across the others.
	// An explicit empty list aggregates across every attribute. Node
	// identity (resource attributes node.*) is always kept. At most one of
	// by and without may be set; with neither, series are aggregated over
	// time only.
	By []string `yaml:"by"`
	// Without drops these attribute keys and aggregates across them,
	// keeping all others. node.* keys may not be listed.
	Without []string `yaml:"without"`
	// Outputs are the aggregations to emit: total, increase, sum,
	// count_series, count_samples, last, min, max, avg, histogram and
	// quantiles(phi, ...) with 0 ≤ phi ≤ 1. Required.
	Outputs []string `yaml:"outputs"`
	// DedupInterval, when set, keeps only the last sample (latest
	// timestamp; on a tie the larger value) of each input series in each
	// dedup_interval before aggregating (two replicas scraping one target).
	// It must divide interval. Default 0: off.
	DedupInterval time.Duration `yaml:"dedup_interval"`
	// StalenessInterval is how long an input series is remembered without
	// a new sample; an output group goes with its last series. Default: 2
	// × interval. It must be at least interval.
	StalenessInterval time.Duration `yaml:"staleness_interval"`
	// KeepInput passes the matched input points on as well. Default false:
	// matched points are removed and only the aggregates go on.
	KeepInput bool `yaml:"keep_input"`
}

// Match selects data points by metric name and attributes; all the
// conditions set must hold.
type Match struct {
	// MetricName is a Go regular expression that must match the whole
	// metric name (anchored: "http_.*" does not match "my_http_x"). A
	// plain name is an exact match. Required.
	MetricName string `yaml:"metric_name"`
	// Attributes must all hold. A key is looked up on the data point
	// first, then on its resource.
	Attributes []AttributeMatch `yaml:"attributes"`
}

// AttributeMatch matches one attribute by exact value or by regex.
type AttributeMatch struct {
	// Key is the attribute's key. Required.
	Key string `yaml:"key"`
	// Value matches the attribute's value as a string (pdata AsString)
	// exactly.
	Value string `yaml:"value"`
	// Regex matches the value as a whole (anchored). Exactly one of value
	// and regex must be set.
	Regex string `yaml:"regex"`
}

// Output kinds, in the order their names are listed.
type outputKind int

const (
	outTotal outputKind = iota
	outIncrease
	outSum
	outCountSeries
	outCountSamples
	outLast
	outMin
	outMax
	outAvg
	outHistogram
	outQuantiles
	numOutputs
)

var outputNames = [numOutputs]string{"total", "increase", "sum", "count_series", "count_samples", "last", "min", "max", "avg", "histogram", "quantiles"}

const (
	defaultMaxBytes = 16 << 20
	// nodePrefix marks the resource attributes of node identity, which
	// every output keeps.
	nodePrefix = "node."
)

func createDefaultConfig() *Config {
	return &Config{MaxBytes: defaultMaxBytes}
}

// Validate reports every problem in the configuration, each prefixed with
// its YAML key path.
func (c *Config) Validate() error {
	_, err := c.compile()
	return err
}

// compiled is a validated rule, ready to match and name.
type compiled struct {
	interval, dedup, staleness time.Duration
	name                       *regexp.Regexp
	attrs                      []attrMatch
	// mode: how attributes are kept.
	mode      groupMode
	keys      map[string]bool // by or without keys
	has       [numOutputs]bool
	outputs   []outputKind // in configured order, without duplicates
	phis      []float64
	phiLabels []string
	prefix    string // ":<interval>[_by_...|_without_...]_"
	keepInput bool
}

type groupMode int

const (
	keepAll groupMode = iota // neither by nor without
	keepBy
	keepWithout
)

type attrMatch struct {
	key   string
	value string
	re    *regexp.Regexp
}

func (c *Config) compile() ([]*compiled, error) {
	var errs []error
	fail := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if c.MaxBytes <= 0 {
		fail("max_bytes", "must be > 0 (got %d)", int64(c.MaxBytes))
	}
	switch {
	case c.DedupInterval < 0 || (c.DedupInterval > 0 && (c.DedupInterval < time.Second || c.DedupInterval%time.Second != 0)):
		fail("dedup_interval", "must be 0 (off) or a whole number of seconds, at least 1s (got %s)", c.DedupInterval)
	case len(c.Rules) == 0 && c.DedupInterval == 0:
		fail("rules", "at least one rule is required unless dedup_interval is set")
	}
	var out []*compiled
	for i, r := range c.Rules {
		p := fmt.Sprintf("rules[%d]", i)
		cr := &compiled{keepInput: r.KeepInput, interval: r.Interval, dedup: r.DedupInterval, staleness: r.StalenessInterval}
		if r.Match.MetricName == "" {
			fail(p+".match.metric_name", "required")
		} else if re, err := compileFull(r.Match.MetricName); err != nil {
			fail(p+".match.metric_name", "%v", err)
		} else {
			cr.name = re
		}
		for j, a := range r.Match.Attributes {
			ap := fmt.Sprintf("%s.match.attributes[%d]", p, j)
			m := attrMatch{key: a.Key, value: a.Value}
			if a.Key == "" {
				fail(ap+".key", "required")
			}
			switch {
			case a.Value != "" && a.Regex != "":
				fail(ap, "set exactly one of value and regex, not both")
			case a.Value == "" && a.Regex == "":
				fail(ap, "set exactly one of value and regex")
			case a.Regex != "":
				re, err := compileFull(a.Regex)
				if err != nil {
					fail(ap+".regex", "%v", err)
				}
				m.re = re
			}
			cr.attrs = append(cr.attrs, m)
		}
		switch {
		case r.Interval < time.Second || r.Interval%time.Second != 0:
			fail(p+".interval", "must be a whole number of seconds, at least 1s (got %s)", r.Interval)
		}
		if r.DedupInterval < 0 || (r.DedupInterval > 0 && r.Interval > 0 && r.Interval%r.DedupInterval != 0) {
			fail(p+".dedup_interval", "must be 0 or divide interval %s (got %s)", r.Interval, r.DedupInterval)
		}
		if r.StalenessInterval == 0 {
			cr.staleness = 2 * r.Interval
		} else if r.StalenessInterval < r.Interval {
			fail(p+".staleness_interval", "must be at least interval %s (got %s)", r.Interval, r.StalenessInterval)
		}
		var keys []string
		switch {
		case r.By != nil && r.Without != nil:
			fail(p, "set at most one of by and without")
		case r.By != nil:
			cr.mode, keys = keepBy, r.By
		case r.Without != nil:
			cr.mode, keys = keepWithout, r.Without
			if len(r.Without) == 0 {
				fail(p+".without", "must list at least one key")
			}
		}
		cr.keys = map[string]bool{}
		for _, k := range keys {
			switch {
			case k == "":
				fail(p, "empty attribute key in by/without")
			case cr.mode == keepWithout && strings.HasPrefix(k, nodePrefix):
				fail(p+".without", "%q: node identity attributes are always kept", k)
			}
			cr.keys[k] = true
		}
		if len(r.Outputs) == 0 {
			fail(p+".outputs", "at least one output is required")
		}
		for j, o := range r.Outputs {
			k, phis, err := parseOutput(o)
			if err != nil {
				fail(fmt.Sprintf("%s.outputs[%d]", p, j), "%v", err)
				continue
			}
			if cr.has[k] {
				fail(fmt.Sprintf("%s.outputs[%d]", p, j), "%q listed twice", outputNames[k])
				continue
			}
			cr.has[k] = true
			cr.outputs = append(cr.outputs, k)
			if k == outQuantiles {
				cr.phis = phis
				for _, phi := range phis {
					cr.phiLabels = append(cr.phiLabels, strconv.FormatFloat(phi, 'g', -1, 64))
				}
			}
		}
		cr.prefix = ":" + model.Duration(r.Interval).String()
		sorted := slices.Sorted(func(yield func(string) bool) {
			for k := range cr.keys {
				if !yield(k) {
					return
				}
			}
		})
		switch {
		case cr.mode == keepBy && len(sorted) > 0:
			cr.prefix += "_by_" + strings.Join(sorted, "_")
		case cr.mode == keepWithout:
			cr.prefix += "_without_" + strings.Join(sorted, "_")
		}
		cr.prefix += "_"
		out = append(out, cr)
	}
	return out, errors.Join(errs...)
}

// parseOutput parses one entry of outputs.
func parseOutput(s string) (outputKind, []float64, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "quantiles("); ok {
		inner, ok := strings.CutSuffix(rest, ")")
		if !ok {
			return 0, nil, fmt.Errorf("%q: want quantiles(phi, ...)", s)
		}
		var phis []float64
		for f := range strings.SplitSeq(inner, ",") {
			phi, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || phi < 0 || phi > 1 {
				return 0, nil, fmt.Errorf("%q: each phi must be a number between 0 and 1", s)
			}
			phis = append(phis, phi)
		}
		return outQuantiles, phis, nil
	}
	for k, n := range outputNames {
		if n == s && outputKind(k) != outQuantiles {
			return outputKind(k), nil, nil
		}
	}
	return 0, nil, fmt.Errorf("unknown output %q (valid: %s, quantiles(phi, ...))", s, strings.Join(outputNames[:outQuantiles], ", "))
}

// compileFull compiles re so that it must match a whole string.
func compileFull(re string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(re); err != nil {
		return nil, fmt.Errorf("invalid regexp %q: %w", re, err)
	}
	return regexp.Compile("^(?:" + re + ")$")
}
