// Package itemmatch selects spans, log records and metric data points by
// declarative properties, the `include` / `exclude` blocks of the
// attributes and filter processors. Its keys and semantics follow the
// OpenTelemetry Collector contrib's legacy (non-OTTL) filterconfig
// MatchProperties:
//
//   - match_type (strict or regexp) says how every string in the block is
//     compared: strict is byte equality; regexp is an unanchored Go RE2
//     match (use ^…$ to anchor).
//   - Within one property the entries are alternatives (a span name matches
//     if it matches any entry of span_names); across properties all that
//     are set must match. attributes and resources are the exception: every
//     listed attribute must match.
//   - An attribute entry with no value matches when the key is present.
//     With strict, a value matches an attribute of the same type and value
//     (YAML 5 is an int, "5" a string, 5.0 a double); with regexp the value
//     must be a string and is matched against the attribute's value as a
//     string (pcommon.Value.AsString).
//
// A Matcher is safe for concurrent use.
package itemmatch

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Match types.
const (
	Strict = "strict"
	Regexp = "regexp"
)

// Signal says which item kind a block selects; properties of another kind
// are configuration errors.
type Signal int

// Signals.
const (
	Spans Signal = iota
	Logs
	Metrics
	// Any skips the checks of which properties apply to which items (for
	// Validate, before the pipeline's signal is known).
	Any Signal = -1
)

// Attribute is one key (and optional value) an item must carry.
type Attribute struct {
	Key   string `yaml:"key"`
	Value any    `yaml:"value"`
}

// Library selects the instrumentation scope: name, and version when given.
type Library struct {
	Name    string  `yaml:"name"`
	Version *string `yaml:"version"`
}

// SeverityNumber selects log records at or above Min, a severity name
// (TRACE, TRACE2 … DEBUG, INFO, WARN, ERROR, FATAL4; any case). Records with
// no severity number (UNSPECIFIED) match only with MatchUndefined.
type SeverityNumber struct {
	Min            string `yaml:"min"`
	MatchUndefined bool   `yaml:"match_undefined"`
}

// Properties is one include or exclude block.
type Properties struct {
	MatchType string `yaml:"match_type"`
	// Services are values of the resource attribute service.name (spans).
	Services  []string `yaml:"services"`
	SpanNames []string `yaml:"span_names"`
	// LogBodies are matched against the body as a string.
	LogBodies         []string        `yaml:"log_bodies"`
	LogSeverityTexts  []string        `yaml:"log_severity_texts"`
	LogSeverityNumber *SeverityNumber `yaml:"log_severity_number"`
	MetricNames       []string        `yaml:"metric_names"`
	// Attributes are the item's own attributes: span, log record or metric
	// data point.
	Attributes []Attribute `yaml:"attributes"`
	Resources  []Attribute `yaml:"resources"`
	Libraries  []Library   `yaml:"libraries"`
}

// Matcher is a compiled Properties block.
type Matcher struct {
	services, spanNames, bodies, sevTexts, metricNames *stringSet
	sevMin                                             plog.SeverityNumber
	sevSet, sevUndefined                               bool
	attrs, resources                                   []attrMatcher
	libraries                                          []libMatcher
}

// KeyNames renames properties in error messages, for configurations that
// spell them differently (the filter processor's record_attributes is
// attributes here).
type KeyNames map[string]string

func (k KeyNames) name(field string) string {
	i := strings.IndexAny(field, ".[")
	if i < 0 {
		i = len(field)
	}
	if n, ok := k[field[:i]]; ok {
		return n + field[i:]
	}
	return field
}

// Compile checks p for signal s and compiles it; prefix names the block in
// errors (e.g. "include"). A nil p gives a nil Matcher.
func Compile(prefix string, p *Properties, s Signal) (*Matcher, error) {
	return CompileNamed(prefix, p, s, nil)
}

// CompileNamed is Compile with properties renamed in errors.
func CompileNamed(prefix string, p *Properties, s Signal, names KeyNames) (*Matcher, error) {
	if p == nil {
		return nil, nil
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, names.name(field), fmt.Sprintf(format, args...)))
	}
	re := false
	switch p.MatchType {
	case Strict:
	case Regexp:
		re = true
	case "":
		bad("match_type", "required: strict or regexp")
	default:
		bad("match_type", "must be strict or regexp (got %q)", p.MatchType)
	}
	notFor := func(field string, set bool, what string) {
		if set {
			bad(field, "does not apply to %s", what)
		}
	}
	switch s {
	case Spans:
		notFor("log_bodies", len(p.LogBodies) > 0, "spans")
		notFor("log_severity_texts", len(p.LogSeverityTexts) > 0, "spans")
		notFor("log_severity_number", p.LogSeverityNumber != nil, "spans")
		notFor("metric_names", len(p.MetricNames) > 0, "spans")
	case Logs:
		notFor("services", len(p.Services) > 0, "log records")
		notFor("span_names", len(p.SpanNames) > 0, "log records")
		notFor("metric_names", len(p.MetricNames) > 0, "log records")
	case Metrics:
		notFor("services", len(p.Services) > 0, "metrics")
		notFor("span_names", len(p.SpanNames) > 0, "metrics")
		notFor("log_bodies", len(p.LogBodies) > 0, "metrics")
		notFor("log_severity_texts", len(p.LogSeverityTexts) > 0, "metrics")
		notFor("log_severity_number", p.LogSeverityNumber != nil, "metrics")
	}
	m := &Matcher{}
	var err error
	strs := func(field string, list []string) *stringSet {
		set, e := newStringSet(list, re)
		if e != nil {
			bad(field, "%v", e)
		}
		return set
	}
	m.services = strs("services", p.Services)
	m.spanNames = strs("span_names", p.SpanNames)
	m.bodies = strs("log_bodies", p.LogBodies)
	m.sevTexts = strs("log_severity_texts", p.LogSeverityTexts)
	m.metricNames = strs("metric_names", p.MetricNames)
	if sn := p.LogSeverityNumber; sn != nil {
		m.sevSet, m.sevUndefined = true, sn.MatchUndefined
		if m.sevMin, err = ParseSeverity(sn.Min); err != nil {
			bad("log_severity_number.min", "%v", err)
		}
	}
	m.attrs, err = compileAttrs(p.Attributes, re)
	for _, e := range unjoin(err) {
		errs = append(errs, fmt.Errorf("%s.%s%w", prefix, names.name("attributes"), e))
	}
	m.resources, err = compileAttrs(p.Resources, re)
	for _, e := range unjoin(err) {
		errs = append(errs, fmt.Errorf("%s.%s%w", prefix, names.name("resources"), e))
	}
	for i, l := range p.Libraries {
		if l.Name == "" {
			bad(fmt.Sprintf("libraries[%d].name", i), "required")
			continue
		}
		lm := libMatcher{}
		if lm.name, err = newStringSet([]string{l.Name}, re); err != nil {
			bad(fmt.Sprintf("libraries[%d].name", i), "%v", err)
		}
		if l.Version != nil {
			if lm.version, err = newStringSet([]string{*l.Version}, re); err != nil {
				bad(fmt.Sprintf("libraries[%d].version", i), "%v", err)
			}
		}
		m.libraries = append(m.libraries, lm)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if m.services == nil && m.spanNames == nil && m.bodies == nil && m.sevTexts == nil && m.metricNames == nil &&
		!m.sevSet && m.attrs == nil && m.resources == nil && m.libraries == nil {
		return nil, fmt.Errorf("%s: names no property to match (a block with only match_type would match everything)", prefix)
	}
	return m, nil
}

// ParseSeverity parses a severity name (INFO, warn, ERROR2, …) into its
// number.
func ParseSeverity(s string) (plog.SeverityNumber, error) {
	up := strings.ToUpper(strings.TrimSpace(s))
	for n := plog.SeverityNumberTrace; n <= plog.SeverityNumberFatal4; n++ {
		if strings.ToUpper(n.String()) == up {
			return n, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q: want TRACE, DEBUG, INFO, WARN, ERROR or FATAL, optionally followed by 2, 3 or 4", s)
}

// Resource reports whether the resource-level properties (services,
// resources) match.
func (m *Matcher) Resource(res pcommon.Resource) bool {
	attrs := res.Attributes()
	if m.services != nil {
		v, ok := attrs.Get("service.name")
		if !ok || !m.services.match(v.AsString()) {
			return false
		}
	}
	return matchAll(m.resources, attrs)
}

// Scope reports whether the libraries property matches.
func (m *Matcher) Scope(sc pcommon.InstrumentationScope) bool {
	if m.libraries == nil {
		return true
	}
	for _, l := range m.libraries {
		if l.name.match(sc.Name()) && (l.version == nil || l.version.match(sc.Version())) {
			return true
		}
	}
	return false
}

// Span reports whether the span-level properties match; the caller checks
// Resource and Scope.
func (m *Matcher) Span(sp ptrace.Span) bool {
	if m.spanNames != nil && !m.spanNames.match(sp.Name()) {
		return false
	}
	return matchAll(m.attrs, sp.Attributes())
}

// Log reports whether the record-level properties match; the caller checks
// Resource and Scope.
func (m *Matcher) Log(lr plog.LogRecord) bool {
	if m.bodies != nil && !m.bodies.match(lr.Body().AsString()) {
		return false
	}
	if m.sevTexts != nil && !m.sevTexts.match(lr.SeverityText()) {
		return false
	}
	if m.sevSet {
		n := lr.SeverityNumber()
		if n == plog.SeverityNumberUnspecified {
			if !m.sevUndefined {
				return false
			}
		} else if n < m.sevMin {
			return false
		}
	}
	return matchAll(m.attrs, lr.Attributes())
}

// MetricName reports whether metric_names matches.
func (m *Matcher) MetricName(name string) bool {
	return m.metricNames == nil || m.metricNames.match(name)
}

// HasPointAttributes reports whether the block selects metric data points
// by their attributes (so that a metric must be looked at point by point).
func (m *Matcher) HasPointAttributes() bool { return m.attrs != nil }

// PointAttributes reports whether the attributes property matches a data
// point's attributes.
func (m *Matcher) PointAttributes(attrs pcommon.Map) bool { return matchAll(m.attrs, attrs) }

// EachPointAttributes calls fn with the attributes of every data point of
// metric, whatever its type.
func EachPointAttributes(metric pmetric.Metric, fn func(pcommon.Map)) {
	switch metric.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range metric.Gauge().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeSum:
		for _, dp := range metric.Sum().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range metric.Histogram().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range metric.ExponentialHistogram().DataPoints().All() {
			fn(dp.Attributes())
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range metric.Summary().DataPoints().All() {
			fn(dp.Attributes())
		}
	}
}

// stringSet matches a string against a list of alternatives.
type stringSet struct {
	strict map[string]struct{}
	res    []*regexp.Regexp
}

func newStringSet(list []string, re bool) (*stringSet, error) {
	if len(list) == 0 {
		return nil, nil
	}
	s := &stringSet{}
	if !re {
		s.strict = make(map[string]struct{}, len(list))
		for _, x := range list {
			s.strict[x] = struct{}{}
		}
		return s, nil
	}
	for _, x := range list {
		r, err := regexp.Compile(x)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %w", x, err)
		}
		s.res = append(s.res, r)
	}
	return s, nil
}

func (s *stringSet) match(x string) bool {
	if s.strict != nil {
		_, ok := s.strict[x]
		return ok
	}
	for _, r := range s.res {
		if r.MatchString(x) {
			return true
		}
	}
	return false
}

type attrMatcher struct {
	key   string
	value *pcommon.Value // strict; nil: key present
	re    *regexp.Regexp // regexp
}

// unjoin splits errors.Join's result.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func compileAttrs(list []Attribute, re bool) ([]attrMatcher, error) {
	var out []attrMatcher
	var errs []error
	for i, a := range list {
		if a.Key == "" {
			errs = append(errs, fmt.Errorf("[%d].key: required", i))
			continue
		}
		am := attrMatcher{key: a.Key}
		if a.Value != nil {
			if re {
				s, ok := a.Value.(string)
				if !ok {
					errs = append(errs, fmt.Errorf("[%d].value: with match_type regexp the value must be a string (got %T)", i, a.Value))
					continue
				}
				r, err := regexp.Compile(s)
				if err != nil {
					errs = append(errs, fmt.Errorf("[%d].value: invalid regular expression: %w", i, err))
					continue
				}
				am.re = r
			} else {
				v := pcommon.NewValueEmpty()
				if err := v.FromRaw(a.Value); err != nil {
					errs = append(errs, fmt.Errorf("[%d].value: unsupported value %v (%T)", i, a.Value, a.Value))
					continue
				}
				am.value = &v
			}
		}
		out = append(out, am)
	}
	return out, errors.Join(errs...)
}

func matchAll(ms []attrMatcher, attrs pcommon.Map) bool {
	for i := range ms {
		a := &ms[i]
		v, ok := attrs.Get(a.key)
		if !ok {
			return false
		}
		switch {
		case a.value != nil:
			if !v.Equal(*a.value) {
				return false
			}
		case a.re != nil:
			if !a.re.MatchString(v.AsString()) {
				return false
			}
		}
	}
	return true
}

type libMatcher struct{ name, version *stringSet }

// Filter is an include and an exclude block together: an item is kept when
// it matches include (or there is none) and does not match exclude (or
// there is none).
type Filter struct {
	Include, Exclude *Matcher
}

// CompileFilter compiles an include/exclude pair for signal s; names, if
// not nil, renames properties in errors.
func CompileFilter(include, exclude *Properties, s Signal, names KeyNames) (Filter, error) {
	in, err1 := CompileNamed("include", include, s, names)
	ex, err2 := CompileNamed("exclude", exclude, s, names)
	return Filter{Include: in, Exclude: ex}, errors.Join(err1, err2)
}

// Empty reports whether the filter selects everything.
func (f Filter) Empty() bool { return f.Include == nil && f.Exclude == nil }

// Verdict is a filter's decision on one item.
type Verdict int8

// Verdicts.
const (
	Keep        Verdict = iota
	NotIncluded         // include is set and the item does not match it
	Excluded            // the item matches exclude
)

// ScopeFilter is a Filter with the verdicts of one resource and scope
// worked out, for the items under them.
type ScopeFilter struct {
	f          Filter
	inRS, exRS bool // include's / exclude's resource and scope properties match
}

// ForScope works out the resource- and scope-level properties once for the
// items of one scope.
func (f Filter) ForScope(res pcommon.Resource, sc pcommon.InstrumentationScope) ScopeFilter {
	s := ScopeFilter{f: f}
	s.inRS = f.Include == nil || (f.Include.Resource(res) && f.Include.Scope(sc))
	s.exRS = f.Exclude != nil && f.Exclude.Resource(res) && f.Exclude.Scope(sc)
	return s
}

// Span decides on one span.
func (s ScopeFilter) Span(sp ptrace.Span) Verdict {
	if s.f.Include != nil && !(s.inRS && s.f.Include.Span(sp)) {
		return NotIncluded
	}
	if s.exRS && s.f.Exclude.Span(sp) {
		return Excluded
	}
	return Keep
}

// Log decides on one log record.
func (s ScopeFilter) Log(lr plog.LogRecord) Verdict {
	if s.f.Include != nil && !(s.inRS && s.f.Include.Log(lr)) {
		return NotIncluded
	}
	if s.exRS && s.f.Exclude.Log(lr) {
		return Excluded
	}
	return Keep
}

// MetricFilter is a ScopeFilter with one metric's name worked out.
type MetricFilter struct {
	f        Filter
	inN, exN bool // include / exclude match up to the point attributes
	perPoint bool // the verdict depends on the points' attributes
}

// ForMetric works out the metric-level properties of one metric.
func (s ScopeFilter) ForMetric(name string) MetricFilter {
	m := MetricFilter{f: s.f}
	m.inN = s.f.Include == nil || (s.inRS && s.f.Include.MetricName(name))
	m.exN = s.exRS && s.f.Exclude.MetricName(name)
	m.perPoint = m.inN && ((s.f.Include != nil && s.f.Include.HasPointAttributes()) ||
		(m.exN && s.f.Exclude.HasPointAttributes()))
	return m
}

// Whole returns the verdict for every data point of the metric, and true,
// when it does not depend on the points' attributes.
func (m MetricFilter) Whole() (Verdict, bool) {
	switch {
	case !m.inN:
		return NotIncluded, true
	case m.perPoint:
		return Keep, false
	case m.exN:
		return Excluded, true
	}
	return Keep, true
}

// Point decides on one data point by its attributes.
func (m MetricFilter) Point(attrs pcommon.Map) Verdict {
	if !m.inN || (m.f.Include != nil && !m.f.Include.PointAttributes(attrs)) {
		return NotIncluded
	}
	if m.exN && m.f.Exclude.PointAttributes(attrs) {
		return Excluded
	}
	return Keep
}
