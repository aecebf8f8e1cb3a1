package lanes

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/pipeline/queue"
)

// Lane is a priority lane of an exporter's queue: the queue's own type, so
// that a classified part goes into the queue lane of the same name. Lower
// values are more urgent: senders drain LaneHigh first, and a full queue
// drops LaneLow first.
type Lane = queue.Lane

// The lanes, most urgent first.
const (
	LaneHigh   = queue.LaneHigh
	LaneNormal = queue.LaneNormal
	LaneLow    = queue.LaneLow
)

// NumLanes is the number of lanes; valid lanes are 0 to NumLanes-1.
const NumLanes = queue.NumLanes

// ParseLane parses a lane name as written in configuration: "high",
// "normal" or "low" (exactly, in lower case).
func ParseLane(s string) (Lane, error) {
	l, err := queue.ParseLane(s)
	if err != nil {
		return 0, fmt.Errorf("must be one of high, normal, low (got %q)", s)
	}
	return l, nil
}

// Config is an exporter's `priority:` section: rules that give each item a
// lane. The zero value puts everything in the normal lane.
type Config struct {
	// Default is the lane of items that no rule matches: high, normal or
	// low. "" means normal.
	Default string `yaml:"default"`
	// Rules are tried in order; the first that matches an item decides its
	// lane.
	Rules []Rule `yaml:"rules"`
}

// Rule gives a lane to the items that meet all of its conditions. At least
// one condition must be set. Conditions that belong to a signal
// (log_severity_at_least: logs; span_status: traces; metric_name: metrics)
// never hold for items of another signal, so a rule with one of them
// applies to that signal only; a rule may not combine conditions of two
// signals.
type Rule struct {
	// Lane is the lane of the items the rule matches: high, normal or low.
	// Required.
	Lane string `yaml:"lane"`
	// LogSeverityAtLeast holds for log records at least this severe: TRACE,
	// DEBUG, INFO, WARN, ERROR or FATAL (any case), or an OTLP
	// SeverityNumber 1 to 24. A record whose SeverityNumber is unspecified
	// (0) is judged by its SeverityText (see the package documentation for
	// the words understood); a record with neither never holds.
	LogSeverityAtLeast string `yaml:"log_severity_at_least"`
	// SpanStatus holds for spans whose status code is this: error, ok or
	// unset.
	SpanStatus string `yaml:"span_status"`
	// MetricName holds for data points of metrics whose whole name matches
	// this Go regular expression (it is anchored: "http_.*" does not match
	// "my_http_requests").
	MetricName string `yaml:"metric_name"`
	// Attribute holds for items with a matching attribute, for any signal.
	Attribute *AttributeMatch `yaml:"attribute"`
}

// AttributeMatch matches one attribute. The attribute is looked up on the
// item (span, log record or metric data point), then on its scope, then on
// its resource; the first of these that has the key decides, and an item
// without the key anywhere does not match.
type AttributeMatch struct {
	// Key is the attribute's key. Required.
	Key string `yaml:"key"`
	// Value matches when the attribute's value, as a string (pdata's
	// AsString: numbers in decimal, booleans as true/false, maps and slices
	// as JSON), equals it exactly.
	Value string `yaml:"value"`
	// Regex matches when the attribute's value as a string matches this Go
	// regular expression as a whole (it is anchored). Exactly one of value
	// and regex must be set.
	Regex string `yaml:"regex"`
}

// Validate reports every problem in the configuration, each prefixed with
// its YAML key path (for example `rules[1].span_status: ...`).
func (c *Config) Validate() error {
	_, _, err := c.compile()
	return err
}

// rule is a compiled Rule.
type rule struct {
	lane Lane
	// minSeverity is the log_severity_at_least condition; 0 when unset.
	minSeverity plog.SeverityNumber
	hasStatus   bool
	status      ptrace.StatusCode
	name        *regexp.Regexp // nil when unset
	attr        *attrMatch     // nil when unset
}

type attrMatch struct {
	key   string
	value string
	re    *regexp.Regexp // nil: exact match on value
}

// The signals a rule can apply to, as a bit set.
const (
	forTraces uint8 = 1 << iota
	forMetrics
	forLogs
	forAll = forTraces | forMetrics | forLogs
)

// signals returns the signals whose items the rule can match.
func (r *rule) signals() uint8 {
	s := forAll
	if r.minSeverity != 0 {
		s &= forLogs
	}
	if r.hasStatus {
		s &= forTraces
	}
	if r.name != nil {
		s &= forMetrics
	}
	return s
}

// compile checks the configuration and turns it into rules, returning
// every problem found.
func (c *Config) compile() ([]rule, Lane, error) {
	var errs []error
	def := LaneNormal
	if c.Default != "" {
		l, err := ParseLane(c.Default)
		if err != nil {
			errs = append(errs, fmt.Errorf("default: %w", err))
		}
		def = l
	}
	rules := make([]rule, 0, len(c.Rules))
	for i := range c.Rules {
		r, rerrs := c.Rules[i].compile(fmt.Sprintf("rules[%d]", i))
		errs = append(errs, rerrs...)
		rules = append(rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	return rules, def, nil
}

func (r *Rule) compile(path string) (rule, []error) {
	var (
		out  rule
		errs []error
	)
	fail := func(key, format string, args ...any) {
		p := path
		if key != "" {
			p += "." + key
		}
		errs = append(errs, fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...)))
	}
	if r.Lane == "" {
		fail("lane", "required: high, normal or low")
	} else if l, err := ParseLane(r.Lane); err != nil {
		fail("lane", "%v", err)
	} else {
		out.lane = l
	}

	var set []string // the conditions set, by key
	if r.LogSeverityAtLeast != "" {
		set = append(set, "log_severity_at_least")
		if n, ok := parseSeverityConfig(r.LogSeverityAtLeast); ok {
			out.minSeverity = n
		} else {
			fail("log_severity_at_least", "unknown severity %q: want TRACE, DEBUG, INFO, WARN, ERROR, FATAL or a number from 1 to 24", r.LogSeverityAtLeast)
		}
	}
	if r.SpanStatus != "" {
		set = append(set, "span_status")
		switch r.SpanStatus {
		case "error":
			out.hasStatus, out.status = true, ptrace.StatusCodeError
		case "ok":
			out.hasStatus, out.status = true, ptrace.StatusCodeOk
		case "unset":
			out.hasStatus, out.status = true, ptrace.StatusCodeUnset
		default:
			fail("span_status", "must be one of error, ok, unset (got %q)", r.SpanStatus)
		}
	}
	if r.MetricName != "" {
		set = append(set, "metric_name")
		re, err := compileFull(r.MetricName)
		if err != nil {
			fail("metric_name", "%v", err)
		}
		out.name = re
	}
	if a := r.Attribute; a != nil {
		set = append(set, "attribute")
		m := &attrMatch{key: a.Key, value: a.Value}
		if a.Key == "" {
			fail("attribute.key", "required")
		}
		switch {
		case a.Value != "" && a.Regex != "":
			fail("attribute", "set exactly one of value and regex, not both")
		case a.Value == "" && a.Regex == "":
			fail("attribute", "set exactly one of value and regex")
		case a.Regex != "":
			re, err := compileFull(a.Regex)
			if err != nil {
				fail("attribute.regex", "%v", err)
			}
			m.re = re
		}
		out.attr = m
	}
	if len(set) == 0 {
		fail("", "at least one condition is required (log_severity_at_least, span_status, metric_name or attribute)")
	}
	// Signal-specific conditions of two signals can never hold together.
	var signalKeys []string
	for _, k := range set {
		if k != "attribute" {
			signalKeys = append(signalKeys, k)
		}
	}
	if len(signalKeys) > 1 {
		fail("", "%s apply to different signals, so the rule can never match", strings.Join(signalKeys, " and "))
	}
	return out, errs
}

// compileFull compiles re so that it must match a whole string. The
// expression is checked on its own first: wrapping an invalid one such as
// "a)|(b" could otherwise yield a valid expression with another meaning.
func compileFull(re string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(re); err != nil {
		return nil, fmt.Errorf("invalid regexp %q: %w", re, err)
	}
	return regexp.Compile("^(?:" + re + ")$")
}
