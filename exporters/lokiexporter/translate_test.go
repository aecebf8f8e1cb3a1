package lokiexporter

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testNow = time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	traceID = pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}
	spanID  = pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74}
)

const (
	traceHex = "5b8efff798038103d269b633813fc60c"
	spanHex  = "eee19b7ec3c1b174"
)

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }

func at(d time.Duration) time.Time { return t0.Add(d) }

// md builds structured metadata from name, value pairs.
func md(kv ...string) push.LabelsAdapter {
	out := make(push.LabelsAdapter, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, push.LabelAdapter{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// logs builds one resource with attrs and one scope, and calls add to fill
// its records.
func logs(resAttrs map[string]any, scope, version string, add func(plog.LogRecordSlice)) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	_ = rl.Resource().Attributes().FromRaw(resAttrs)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(scope)
	sl.Scope().SetVersion(version)
	add(sl.LogRecords())
	return ld
}

func cfgWith(mod func(*Config)) *Config {
	c := createDefaultConfig()
	c.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	if mod != nil {
		mod(c)
	}
	return c
}

func mustTranslator(t testing.TB, c *Config) *translator {
	t.Helper()
	tr, err := newTranslator(c)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTranslate(t *testing.T) {
	checkout := map[string]any{
		"service.name": "checkout", "node.name": "edge-7", "node.site": "plant-2",
		"host.name": "h1", "deployment.environment": "prod",
	}
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		ld   plog.Logs
		want push.PushRequest
	}{
		{
			name: "defaults: labels, metadata, lines, sorting",
			ld: logs(checkout, "shop/cart", "1.4.0", func(rs plog.LogRecordSlice) {
				r := rs.AppendEmpty() // info, later
				r.SetTimestamp(ts(2 * time.Millisecond))
				r.SetSeverityNumber(plog.SeverityNumberInfo)
				r.SetSeverityText("Information")
				r.Body().SetStr("cart updated {not json}")
				r.SetTraceID(traceID)
				r.SetSpanID(spanID)
				r.SetFlags(1)
				r.Attributes().PutStr("http.method", "GET")
				r.Attributes().PutInt("items", 3)
				r.Attributes().PutStr("host.name", "from-record") // wins over the resource's

				r = rs.AppendEmpty() // error
				r.SetTimestamp(ts(time.Millisecond))
				r.SetSeverityNumber(plog.SeverityNumberError2)
				m := r.Body().SetEmptyMap()
				m.PutStr("msg", "payment \"declined\"")
				m.PutInt("code", 402)
				m.PutEmptyMap("card").PutStr("brand", "visa")
				m.PutEmptySlice("tries").FromRaw([]any{1, 2.5, true})
				r.Attributes().PutStr("user-id", "u-42")
				r.Attributes().PutEmptySlice("tags").FromRaw([]any{"a", "b"})

				r = rs.AppendEmpty() // info, earlier
				r.SetTimestamp(ts(0))
				r.SetSeverityNumber(plog.SeverityNumberInfo4)
				r.Body().SetStr("first")
			}),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{level="error", node="edge-7", service_name="checkout", site="plant-2"}`, Entries: []push.Entry{{
					Timestamp: at(time.Millisecond),
					Line:      `{"msg":"payment \"declined\"","code":402,"card":{"brand":"visa"},"tries":[1,2.5,true]}`,
					StructuredMetadata: md("severity_number", "18", "user_id", "u-42", "tags", `["a","b"]`,
						"scope_name", "shop/cart", "scope_version", "1.4.0", "deployment_environment", "prod", "host_name", "h1"),
				}}},
				{Labels: `{level="info", node="edge-7", service_name="checkout", site="plant-2"}`, Entries: []push.Entry{
					{
						Timestamp:          at(0),
						Line:               "first",
						StructuredMetadata: md("severity_number", "12", "scope_name", "shop/cart", "scope_version", "1.4.0", "deployment_environment", "prod", "host_name", "h1"),
					},
					{
						Timestamp: at(2 * time.Millisecond),
						Line:      "cart updated {not json}",
						StructuredMetadata: md("trace_id", traceHex, "span_id", spanHex, "severity_text", "Information", "severity_number", "9", "flags", "1",
							"http_method", "GET", "items", "3", "host_name", "from-record",
							"scope_name", "shop/cart", "scope_version", "1.4.0", "deployment_environment", "prod"),
					},
				}},
			}},
		},
		{
			name: "no service.name, no node, severity text only, no severity",
			ld: logs(map[string]any{"k8s.pod.name": "p-1"}, "", "", func(rs plog.LogRecordSlice) {
				r := rs.AppendEmpty()
				r.SetTimestamp(ts(0))
				r.SetSeverityText(" WARNING ")
				r.Body().SetStr("disk 91% full")
				r = rs.AppendEmpty()
				r.SetTimestamp(ts(time.Second))
				r.Body().SetStr("no severity")
			}),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{level="warning", service_name="unknown_service"}`, Entries: []push.Entry{
					{Timestamp: at(0), Line: "disk 91% full", StructuredMetadata: md("severity_text", " WARNING ", "k8s_pod_name", "p-1")},
				}},
				{Labels: `{service_name="unknown_service"}`, Entries: []push.Entry{
					{Timestamp: at(time.Second), Line: "no severity", StructuredMetadata: md("k8s_pod_name", "p-1")},
				}},
			}},
		},
		{
			name: "logfmt bodies, resource attributes dropped",
			cfg:  func(c *Config) { c.BodyFormat = BodyLogfmt; c.ResourceAttributes = ResourceDrop },
			ld: logs(checkout, "", "", func(rs plog.LogRecordSlice) {
				r := rs.AppendEmpty()
				r.SetTimestamp(ts(0))
				r.SetSeverityNumber(plog.SeverityNumberWarn)
				m := r.Body().SetEmptyMap()
				m.PutStr("msg", "slow query")
				m.PutDouble("took_ms", 812.5)
				m.PutStr("sql", `SELECT "a" FROM t`)
				m.PutStr("empty", "")
				m.PutBool("cached", false)
				m.PutStr("bad key=x", "v")
				m.PutEmptyMap("ctx").PutStr("db", "orders")
			}),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{level="warn", node="edge-7", service_name="checkout", site="plant-2"}`, Entries: []push.Entry{{
					Timestamp:          at(0),
					Line:               `msg="slow query" took_ms=812.5 sql="SELECT \"a\" FROM t" empty="" cached=false bad_key_x=v ctx="{\"db\":\"orders\"}"`,
					StructuredMetadata: md("severity_number", "13"),
				}}},
			}},
		},
		{
			name: "configured labels: sanitised names, record attribute, default, no labels at all",
			cfg: func(c *Config) {
				c.Labels = []Label{
					{Resource: "k8s.namespace.name"},
					{Attribute: "http.route", Default: "none"},
					{Attribute: "1st-try"},
					{Label: "sev", Severity: true},
				}
			},
			ld: func() plog.Logs {
				ld := logs(map[string]any{"k8s.namespace.name": "shop", "service.name": "cart"}, "", "", func(rs plog.LogRecordSlice) {
					r := rs.AppendEmpty()
					r.SetTimestamp(ts(0))
					r.SetSeverityNumber(plog.SeverityNumberFatal)
					r.Attributes().PutStr("http.route", "/pay")
					r.Attributes().PutBool("1st-try", true)
					r.Attributes().PutStr("sev", "shadowed by the label")
					r.Body().SetStr("a")
					r = rs.AppendEmpty()
					r.SetTimestamp(ts(0))
					r.Body().SetStr("b")
				})
				rs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
				r := rs.AppendEmpty()
				r.SetTimestamp(ts(0))
				r.Attributes().PutStr("http.route", "")
				r.Body().SetStr("c")
				return ld
			}(),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{_1st_try="true", http_route="/pay", k8s_namespace_name="shop", sev="fatal"}`, Entries: []push.Entry{
					{Timestamp: at(0), Line: "a", StructuredMetadata: md("severity_number", "21", "service_name", "cart")},
				}},
				{Labels: `{http_route="none", k8s_namespace_name="shop"}`, Entries: []push.Entry{
					{Timestamp: at(0), Line: "b", StructuredMetadata: md("service_name", "cart")},
				}},
				{Labels: `{http_route="none"}`, Entries: []push.Entry{
					{Timestamp: at(0), Line: "c"},
				}},
			}},
		},
		{
			name: "a stream with no label at all is unknown_service",
			cfg:  func(c *Config) { c.Labels = []Label{{Resource: "service.namespace"}} },
			ld: logs(nil, "", "", func(rs plog.LogRecordSlice) {
				r := rs.AppendEmpty()
				r.SetTimestamp(ts(0))
				r.Body().SetStr("x")
			}),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{service_name="unknown_service"}`, Entries: []push.Entry{{Timestamp: at(0), Line: "x"}}},
			}},
		},
		{
			name: "timestamps: observed time, then now; body types; label value escaping",
			ld: logs(map[string]any{"service.name": "odd \"svc\"\n\xff"}, "", "", func(rs plog.LogRecordSlice) {
				r := rs.AppendEmpty()
				r.SetObservedTimestamp(ts(5 * time.Second))
				r.Body().SetInt(-7)
				r = rs.AppendEmpty()
				r.Body().SetDouble(0.25)
				r = rs.AppendEmpty()
				r.SetTimestamp(ts(time.Second))
				r.Body().SetBool(true)
				r = rs.AppendEmpty()
				r.SetTimestamp(ts(time.Second))
				r.Body().SetEmptyBytes().FromRaw([]byte("hi"))
				r = rs.AppendEmpty()
				r.SetTimestamp(ts(time.Second))
				r.Body().SetEmptySlice().FromRaw([]any{"x", map[string]any{"k": nil}})
				r = rs.AppendEmpty()
				r.SetTimestamp(ts(time.Second))
				r.Attributes().PutDouble("nan", math.NaN())
			}),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{service_name="odd \"svc\"\n` + "\uFFFD" + `"}`, Entries: []push.Entry{
					{Timestamp: at(time.Second), Line: "true"},
					{Timestamp: at(time.Second), Line: "aGk="},
					{Timestamp: at(time.Second), Line: `["x",{"k":null}]`},
					{Timestamp: at(time.Second), Line: "", StructuredMetadata: md("nan", "NaN")},
					{Timestamp: at(5 * time.Second), Line: "-7"},
					{Timestamp: testNow, Line: "0.25"},
				}},
			}},
		},
		{
			name: "metadata: record ids win over attributes, first of equal sanitised names wins",
			ld: logs(map[string]any{"service.name": "s", "trace_id": "res", "a.b": "res"}, "", "", func(rs plog.LogRecordSlice) {
				r := rs.AppendEmpty()
				r.SetTimestamp(ts(0))
				r.SetTraceID(traceID)
				r.Attributes().PutStr("trace_id", "attr")
				r.Attributes().PutStr("a.b", "dot")
				r.Attributes().PutStr("a-b", "dash")
				r.Attributes().PutStr("service_name", "label wins")
				r.Attributes().PutStr("", "no name")
			}),
			want: push.PushRequest{Streams: []push.Stream{
				{Labels: `{service_name="s"}`, Entries: []push.Entry{
					{Timestamp: at(0), StructuredMetadata: md("trace_id", traceHex, "a_b", "dot")},
				}},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustTranslator(t, cfgWith(tc.cfg))
			got := tr.translate(tc.ld, testNow)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", dump(got), dump(tc.want))
			}
		})
	}
}

// dump prints a PushRequest one entry a line, for diffs.
func dump(r push.PushRequest) string {
	var b strings.Builder
	for _, s := range r.Streams {
		fmt.Fprintf(&b, "%s\n", s.Labels)
		for _, e := range s.Entries {
			fmt.Fprintf(&b, "  %s %q %v\n", e.Timestamp.Format(time.RFC3339Nano), e.Line, e.StructuredMetadata)
		}
	}
	return b.String()
}

func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		num  plog.SeverityNumber
		text string
		want string
	}{
		{0, "", ""},
		{1, "", "trace"}, {4, "", "trace"},
		{5, "", "debug"}, {8, "", "debug"},
		{9, "WARN", "info"}, {12, "", "info"}, // the number decides when set
		{13, "", "warn"}, {16, "", "warn"},
		{17, "", "error"}, {20, "", "error"},
		{21, "", "fatal"}, {24, "", "fatal"},
		{0, "ERROR", "error"}, {0, "Notice", "notice"}, {0, "  debug ", "debug"},
		{25, "Crit", "crit"}, // out of range: the text decides
	} {
		lr := plog.NewLogRecord()
		lr.SetSeverityNumber(tc.num)
		lr.SetSeverityText(tc.text)
		if got := level(lr); got != tc.want {
			t.Errorf("level(%d, %q) = %q, want %q", tc.num, tc.text, got, tc.want)
		}
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"service.name": "service_name", "level": "level", "k8s.pod-name": "k8s_pod_name",
		"1st": "_1st", "_x": "_x", "héllo": "h__llo", "a b/c": "a_b_c", "": "",
	} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = sanitizeName("already_valid") }); n != 0 {
		t.Errorf("a valid name allocates %v times", n)
	}
}

// TestJSONLines: map bodies are valid JSON that round-trips, whatever the
// strings hold.
func TestJSONLines(t *testing.T) {
	v := pcommon.NewValueMap()
	m := v.Map()
	m.PutStr("ctl", "a\x00b\x1f\t\r\n")
	m.PutStr("bad", "x\xffy")
	m.PutStr("uni", "ünï – 😀")
	m.PutDouble("inf", math.Inf(-1))
	m.PutDouble("big", 1e21)
	m.PutEmptyBytes("raw").FromRaw([]byte{0, 1, 2})
	m.PutEmpty("nil")
	line := string(appendJSON(nil, v))
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	want := map[string]any{"ctl": "a\x00b\x1f\t\r\n", "bad": "x\uFFFDy", "uni": "ünï – 😀", "inf": "-Inf", "big": 1e21, "raw": "AAEC", "nil": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
