package lanes

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func attrRule(lane, key, value string) Rule {
	return Rule{Lane: lane, Attribute: &AttributeMatch{Key: key, Value: value}}
}

func attrRegexRule(lane, key, re string) Rule {
	return Rule{Lane: lane, Attribute: &AttributeMatch{Key: key, Regex: re}}
}

func TestSpanLane(t *testing.T) {
	errorsHigh := Rule{Lane: "high", SpanStatus: "error"}
	tests := []struct {
		name             string
		cfg              Config
		code             ptrace.StatusCode
		span, scope, res attrs
		want             Lane
	}{
		{"status error matches", Config{Rules: []Rule{errorsHigh}}, ptrace.StatusCodeError, nil, nil, nil, LaneHigh},
		{"status error, span ok", Config{Rules: []Rule{errorsHigh}}, ptrace.StatusCodeOk, nil, nil, nil, LaneNormal},
		{"status ok", Config{Rules: []Rule{{Lane: "low", SpanStatus: "ok"}}}, ptrace.StatusCodeOk, nil, nil, nil, LaneLow},
		{"status unset", Config{Rules: []Rule{{Lane: "low", SpanStatus: "unset"}}}, ptrace.StatusCodeUnset, nil, nil, nil, LaneLow},
		{"status unset, span error", Config{Rules: []Rule{{Lane: "low", SpanStatus: "unset"}}}, ptrace.StatusCodeError, nil, nil, nil, LaneNormal},
		{"default lane", Config{Default: "low", Rules: []Rule{errorsHigh}}, ptrace.StatusCodeOk, nil, nil, nil, LaneLow},
		{"attribute on span", Config{Rules: []Rule{attrRule("high", "tier", "gold")}},
			0, attrs{"tier": "gold"}, nil, nil, LaneHigh},
		{"attribute on scope", Config{Rules: []Rule{attrRule("high", "tier", "gold")}},
			0, nil, attrs{"tier": "gold"}, nil, LaneHigh},
		{"attribute on resource", Config{Rules: []Rule{attrRule("high", "tier", "gold")}},
			0, nil, nil, attrs{"tier": "gold"}, LaneHigh},
		{"attribute absent", Config{Rules: []Rule{attrRule("high", "tier", "gold")}},
			0, attrs{"other": "gold"}, nil, nil, LaneNormal},
		{"span attribute decides over resource", Config{Rules: []Rule{attrRule("high", "tier", "gold")}},
			0, attrs{"tier": "bronze"}, nil, attrs{"tier": "gold"}, LaneNormal},
		{"scope attribute decides over resource", Config{Rules: []Rule{attrRule("high", "tier", "gold")}},
			0, nil, attrs{"tier": "gold"}, attrs{"tier": "bronze"}, LaneHigh},
		{"attribute int as string", Config{Rules: []Rule{attrRule("high", "http.status", "503")}},
			0, attrs{"http.status": 503}, nil, nil, LaneHigh},
		{"attribute bool as string", Config{Rules: []Rule{attrRule("high", "retry", "true")}},
			0, attrs{"retry": true}, nil, nil, LaneHigh},
		{"attribute regex full match", Config{Rules: []Rule{attrRegexRule("low", "svc", "batch-.*")}},
			0, attrs{"svc": "batch-nightly"}, nil, nil, LaneLow},
		{"attribute regex is anchored", Config{Rules: []Rule{attrRegexRule("low", "svc", "batch")}},
			0, attrs{"svc": "batch-nightly"}, nil, nil, LaneNormal},
		{"attribute regex alternation anchored", Config{Rules: []Rule{attrRegexRule("low", "svc", "a|b")}},
			0, attrs{"svc": "xb"}, nil, nil, LaneNormal},
		{"AND: both hold", Config{Rules: []Rule{{Lane: "high", SpanStatus: "error", Attribute: &AttributeMatch{Key: "tier", Value: "gold"}}}},
			ptrace.StatusCodeError, attrs{"tier": "gold"}, nil, nil, LaneHigh},
		{"AND: only status holds", Config{Rules: []Rule{{Lane: "high", SpanStatus: "error", Attribute: &AttributeMatch{Key: "tier", Value: "gold"}}}},
			ptrace.StatusCodeError, attrs{"tier": "silver"}, nil, nil, LaneNormal},
		{"AND: only attribute holds", Config{Rules: []Rule{{Lane: "high", SpanStatus: "error", Attribute: &AttributeMatch{Key: "tier", Value: "gold"}}}},
			ptrace.StatusCodeOk, attrs{"tier": "gold"}, nil, nil, LaneNormal},
		{"first match wins", Config{Rules: []Rule{attrRule("low", "tier", "free"), errorsHigh}},
			ptrace.StatusCodeError, attrs{"tier": "free"}, nil, nil, LaneLow},
		{"second rule when first fails", Config{Rules: []Rule{attrRule("low", "tier", "free"), errorsHigh}},
			ptrace.StatusCodeError, attrs{"tier": "gold"}, nil, nil, LaneHigh},
		{"log rule never matches a span", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "trace"}}},
			ptrace.StatusCodeError, nil, nil, nil, LaneNormal},
		{"metric rule never matches a span", Config{Rules: []Rule{{Lane: "high", MetricName: ".*"}}},
			ptrace.StatusCodeError, nil, nil, nil, LaneNormal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, tt.cfg)
			_, items := c.SplitTraces(oneSpan(t, tt.code, tt.span, tt.scope, tt.res))
			if got := laneOf(t, items); got != tt.want {
				t.Errorf("lane = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLogLane(t *testing.T) {
	atLeast := func(s string) Config {
		return Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: s}}}
	}
	tests := []struct {
		name   string
		cfg    Config
		number plog.SeverityNumber
		text   string
		attrs  attrs
		want   Lane
	}{
		{"number above", atLeast("WARN"), plog.SeverityNumberError, "", nil, LaneHigh},
		{"number equal", atLeast("warn"), plog.SeverityNumberWarn, "", nil, LaneHigh},
		{"number below", atLeast("Warn"), plog.SeverityNumberInfo4, "", nil, LaneNormal},
		{"numeric threshold", atLeast("18"), plog.SeverityNumberError2, "", nil, LaneHigh},
		{"numeric threshold below", atLeast("18"), plog.SeverityNumberError, "", nil, LaneNormal},
		{"number wins over text", atLeast("ERROR"), plog.SeverityNumberInfo, "ERROR", nil, LaneNormal},
		{"text error", atLeast("ERROR"), 0, "error", nil, LaneHigh},
		{"text Warning", atLeast("WARN"), 0, "Warning", nil, LaneHigh},
		{"text CRIT", atLeast("ERROR"), 0, "CRIT", nil, LaneHigh},
		{"text notice below warn", atLeast("WARN"), 0, "notice", nil, LaneNormal},
		{"text notice above info", atLeast("INFO"), 0, "notice", nil, LaneHigh},
		{"text with step", atLeast("19"), 0, "ERROR3", nil, LaneHigh},
		{"text unknown", atLeast("TRACE"), 0, "bogus", nil, LaneNormal},
		{"no severity at all", atLeast("TRACE"), 0, "", nil, LaneNormal},
		{"attribute on record", Config{Rules: []Rule{attrRule("low", "source", "audit")}}, 0, "", attrs{"source": "audit"}, LaneLow},
		{"AND severity and attribute", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "error", Attribute: &AttributeMatch{Key: "source", Value: "audit"}}}},
			plog.SeverityNumberFatal, "", attrs{"source": "audit"}, LaneHigh},
		{"AND severity only", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "error", Attribute: &AttributeMatch{Key: "source", Value: "audit"}}}},
			plog.SeverityNumberFatal, "", nil, LaneNormal},
		{"span rule never matches a log", Config{Rules: []Rule{{Lane: "high", SpanStatus: "unset"}}}, plog.SeverityNumberFatal, "", nil, LaneNormal},
		{"default", Config{Default: "high", Rules: []Rule{{Lane: "low", LogSeverityAtLeast: "debug"}}}, 0, "", nil, LaneHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			lr.SetSeverityNumber(tt.number)
			lr.SetSeverityText(tt.text)
			putAttrs(t, lr.Attributes(), tt.attrs)
			_, items := mustNew(t, tt.cfg).SplitLogs(ld)
			if got := laneOf(t, items); got != tt.want {
				t.Errorf("lane = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSeverityFromText(t *testing.T) {
	tests := map[string]plog.SeverityNumber{
		"trace": 1, "TRACE": 1, "finest": 1, "verbose": 1, "trace2": 2, "TRACE4": 4,
		"debug": 5, "Debug": 5, "dbg": 5, "fine": 5, "finer": 5, "config": 5, "debug3": 7,
		"info": 9, "INFO": 9, "inf": 9, "information": 9, "informational": 9, "notice": 10, "info4": 12,
		"warn": 13, "WARNING": 13, "Warning": 13, "wrn": 13, "warn2": 14,
		"error": 17, "ERR": 17, "severe": 17, " error ": 17, "error4": 20,
		"crit": 18, "CRITICAL": 18,
		"fatal": 21, "alert": 21, "fatal4": 24,
		"emerg": 22, "EMERGENCY": 22, "panic": 22,
		"": 0, "bogus": 0, "error5": 0, "err2": 0, "warning2": 0, "2": 0, "e": 0,
		"an error message that is too long": 0,
	}
	for text, want := range tests {
		if got := severityFromText(text); got != want {
			t.Errorf("severityFromText(%q) = %d, want %d", text, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { severityFromText("ERROR") }); n != 0 {
		t.Errorf("severityFromText allocates %v times", n)
	}
}

func TestPointLane(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		metric     string
		point, res attrs
		want       Lane
	}{
		{"name matches", Config{Rules: []Rule{{Lane: "high", MetricName: "http_.*"}}}, "http_requests_total", nil, nil, LaneHigh},
		{"name is anchored", Config{Rules: []Rule{{Lane: "high", MetricName: "http_.*"}}}, "my_http_requests_total", nil, nil, LaneNormal},
		{"name alternation anchored", Config{Rules: []Rule{{Lane: "high", MetricName: "up|slo_.*"}}}, "upstream_latency", nil, nil, LaneNormal},
		{"name alternation", Config{Rules: []Rule{{Lane: "high", MetricName: "up|slo_.*"}}}, "slo_errors", nil, nil, LaneHigh},
		{"point attribute", Config{Rules: []Rule{attrRule("low", "debug", "true")}}, "x", attrs{"debug": true}, nil, LaneLow},
		{"resource attribute", Config{Rules: []Rule{attrRule("low", "env", "dev")}}, "x", nil, attrs{"env": "dev"}, LaneLow},
		{"AND name and attribute", Config{Rules: []Rule{{Lane: "high", MetricName: "slo_.*", Attribute: &AttributeMatch{Key: "env", Value: "prod"}}}},
			"slo_errors", attrs{"env": "prod"}, nil, LaneHigh},
		{"AND name only", Config{Rules: []Rule{{Lane: "high", MetricName: "slo_.*", Attribute: &AttributeMatch{Key: "env", Value: "prod"}}}},
			"slo_errors", attrs{"env": "dev"}, nil, LaneNormal},
		{"first match wins", Config{Rules: []Rule{{Lane: "low", MetricName: "slo_debug_.*"}, {Lane: "high", MetricName: "slo_.*"}}},
			"slo_debug_x", nil, nil, LaneLow},
		{"span rule never matches a metric", Config{Rules: []Rule{{Lane: "high", SpanStatus: "unset"}}}, "x", nil, nil, LaneNormal},
		{"log rule never matches a metric", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "1"}}}, "x", nil, nil, LaneNormal},
		{"default", Config{Default: "low", Rules: []Rule{{Lane: "high", MetricName: "y"}}}, "x", nil, nil, LaneLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			rm := md.ResourceMetrics().AppendEmpty()
			putAttrs(t, rm.Resource().Attributes(), tt.res)
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName(tt.metric)
			putAttrs(t, m.SetEmptyGauge().DataPoints().AppendEmpty().Attributes(), tt.point)
			_, items := mustNew(t, tt.cfg).SplitMetrics(md)
			if got := laneOf(t, items); got != tt.want {
				t.Errorf("lane = %s, want %s", got, tt.want)
			}
		})
	}
}
