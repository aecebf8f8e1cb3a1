package itemmatch

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// fixture is one span and one log record under a resource and scope.
type fixture struct {
	res   pcommon.Resource
	scope pcommon.InstrumentationScope
	span  ptrace.Span
	log   plog.LogRecord
}

func newFixture() fixture {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("host.name", "edge-7")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("io.outpost.http")
	ss.Scope().SetVersion("1.2.0")
	sp := ss.Spans().AppendEmpty()
	sp.SetName("GET /cart")
	sp.Attributes().PutStr("http.method", "GET")
	sp.Attributes().PutInt("http.status_code", 503)
	sp.Attributes().PutBool("retry", true)

	lr := plog.NewLogRecord()
	lr.Body().SetStr("disk almost full on /var")
	lr.SetSeverityText("WARN")
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.Attributes().PutStr("component", "disk")
	return fixture{res: rs.Resource(), scope: ss.Scope(), span: sp, log: lr}
}

func TestMatchSpans(t *testing.T) {
	v := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		p    Properties
		want bool
	}{
		{"strict service", Properties{MatchType: Strict, Services: []string{"cart", "checkout"}}, true},
		{"strict service no", Properties{MatchType: Strict, Services: []string{"check"}}, false},
		{"regexp service", Properties{MatchType: Regexp, Services: []string{"^check"}}, true},
		{"regexp unanchored", Properties{MatchType: Regexp, Services: []string{"ecko"}}, true},
		{"strict span name", Properties{MatchType: Strict, SpanNames: []string{"GET /cart"}}, true},
		{"strict span name prefix is no match", Properties{MatchType: Strict, SpanNames: []string{"GET"}}, false},
		{"regexp span name", Properties{MatchType: Regexp, SpanNames: []string{"^GET /c"}}, true},
		{"attribute present", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "retry"}}}, true},
		{"attribute absent", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "user"}}}, false},
		{"strict int attribute", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "http.status_code", Value: 503}}}, true},
		{"strict int vs string", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "http.status_code", Value: "503"}}}, false},
		{"strict bool", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "retry", Value: true}}}, true},
		{"regexp attribute as string", Properties{MatchType: Regexp, Attributes: []Attribute{{Key: "http.status_code", Value: "^5"}}}, true},
		{"all attributes must match", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "http.method", Value: "GET"}, {Key: "http.status_code", Value: 200}}}, false},
		{"resource", Properties{MatchType: Strict, Resources: []Attribute{{Key: "host.name", Value: "edge-7"}}}, true},
		{"resource no", Properties{MatchType: Regexp, Resources: []Attribute{{Key: "host.name", Value: "^core"}}}, false},
		{"library name", Properties{MatchType: Strict, Libraries: []Library{{Name: "io.outpost.http"}}}, true},
		{"library version", Properties{MatchType: Strict, Libraries: []Library{{Name: "io.outpost.http", Version: v("1.2.0")}}}, true},
		{"library other version", Properties{MatchType: Strict, Libraries: []Library{{Name: "io.outpost.http", Version: v("2.0.0")}}}, false},
		{"library alternatives", Properties{MatchType: Regexp, Libraries: []Library{{Name: "grpc"}, {Name: "http$"}}}, true},
		{"properties combine with and", Properties{MatchType: Strict, Services: []string{"checkout"}, SpanNames: []string{"POST /pay"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			m, err := Compile("include", &tc.p, Spans)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Resource(f.res) && m.Scope(f.scope) && m.Span(f.span)
			if got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchLogs(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Properties
		sev  plog.SeverityNumber
		want bool
	}{
		{"body strict", Properties{MatchType: Strict, LogBodies: []string{"disk almost full on /var"}}, plog.SeverityNumberWarn, true},
		{"body regexp", Properties{MatchType: Regexp, LogBodies: []string{"almost full"}}, plog.SeverityNumberWarn, true},
		{"severity text", Properties{MatchType: Strict, LogSeverityTexts: []string{"ERROR", "WARN"}}, plog.SeverityNumberWarn, true},
		{"severity text regexp", Properties{MatchType: Regexp, LogSeverityTexts: []string{"^ERR"}}, plog.SeverityNumberWarn, false},
		{"min severity below", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "error"}}, plog.SeverityNumberWarn, false},
		{"min severity equal", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "WARN"}}, plog.SeverityNumberWarn, true},
		{"min severity above", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "info"}}, plog.SeverityNumberWarn, true},
		{"undefined not matched", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "TRACE"}}, plog.SeverityNumberUnspecified, false},
		{"undefined matched", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "FATAL", MatchUndefined: true}}, plog.SeverityNumberUnspecified, true},
		{"record attribute", Properties{MatchType: Strict, Attributes: []Attribute{{Key: "component", Value: "disk"}}}, plog.SeverityNumberWarn, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			f.log.SetSeverityNumber(tc.sev)
			m, err := Compile("include", &tc.p, Logs)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Resource(f.res) && m.Log(f.log); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterVerdicts(t *testing.T) {
	f := newFixture()
	in := &Properties{MatchType: Strict, Services: []string{"checkout"}}
	exYes := &Properties{MatchType: Regexp, SpanNames: []string{"cart"}}
	exNo := &Properties{MatchType: Regexp, SpanNames: []string{"pay"}}
	inNo := &Properties{MatchType: Strict, Services: []string{"other"}}
	for _, tc := range []struct {
		name   string
		in, ex *Properties
		want   Verdict
	}{
		{"include matches", in, nil, Keep},
		{"include misses", inNo, nil, NotIncluded},
		{"exclude matches", nil, exYes, Excluded},
		{"exclude misses", nil, exNo, Keep},
		{"include then exclude", in, exYes, Excluded},
		{"include checked first", inNo, exYes, NotIncluded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flt, err := CompileFilter(tc.in, tc.ex, Spans, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := flt.ForScope(f.res, f.scope).Span(f.span); got != tc.want {
				t.Errorf("verdict %d, want %d", got, tc.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     Properties
		s     Signal
		names KeyNames
		want  []string
	}{
		{"no match type", Properties{Services: []string{"a"}}, Spans, nil, []string{"include.match_type: required"}},
		{"bad match type", Properties{MatchType: "expr", Services: []string{"a"}}, Spans, nil, []string{`include.match_type: must be strict or regexp (got "expr")`}},
		{"nothing to match", Properties{MatchType: Strict}, Spans, nil, []string{"include: names no property"}},
		{"log property on spans", Properties{MatchType: Strict, LogBodies: []string{"x"}}, Spans, nil, []string{"include.log_bodies: does not apply to spans"}},
		{"span property on logs", Properties{MatchType: Strict, SpanNames: []string{"x"}}, Logs, nil, []string{"include.span_names: does not apply to log records"}},
		{"metric names on logs", Properties{MatchType: Strict, MetricNames: []string{"x"}}, Logs, nil, []string{"include.metric_names: does not apply"}},
		{"any signal skips the check", Properties{MatchType: Strict, MetricNames: []string{"x"}, SpanNames: []string{"y"}}, Any, nil, nil},
		{"bad regexp", Properties{MatchType: Regexp, SpanNames: []string{"("}}, Spans, nil, []string{"include.span_names: invalid regular expression"}},
		{"regexp value not string", Properties{MatchType: Regexp, Attributes: []Attribute{{Key: "a", Value: 5}}}, Spans, nil, []string{"include.attributes[0].value: with match_type regexp the value must be a string"}},
		{"library without name", Properties{MatchType: Strict, Libraries: []Library{{}}}, Spans, nil, []string{"include.libraries[0].name: required"}},
		{"attribute without key", Properties{MatchType: Strict, Resources: []Attribute{{Value: "x"}}}, Spans, nil, []string{"include.resources[0].key: required"}},
		{"bad severity", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "LOUD"}}, Logs, nil, []string{`include.log_severity_number.min: unknown severity "LOUD"`}},
		{"renamed keys", Properties{MatchType: Strict, LogSeverityNumber: &SeverityNumber{Min: "LOUD"}, Attributes: []Attribute{{}}}, Logs,
			KeyNames{"log_severity_number": "severity_number", "attributes": "record_attributes"},
			[]string{"include.severity_number.min:", "include.record_attributes[0].key: required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileNamed("include", &tc.p, tc.s, tc.names)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("nil error, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]plog.SeverityNumber{
		"TRACE": plog.SeverityNumberTrace, "info": plog.SeverityNumberInfo, "Warn": plog.SeverityNumberWarn,
		"ERROR2": plog.SeverityNumberError2, "fatal4": plog.SeverityNumberFatal4, " debug ": plog.SeverityNumberDebug,
	} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "UNSPECIFIED", "WARNING", "9"} {
		if _, err := ParseSeverity(in); err == nil {
			t.Errorf("ParseSeverity(%q): nil error", in)
		}
	}
}
