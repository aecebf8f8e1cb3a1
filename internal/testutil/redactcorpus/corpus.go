// Package redactcorpus is a corpus of secrets (payment card numbers,
// e-mail addresses, bearer tokens and API keys) placed in the attributes,
// names and bodies of traces, logs and metrics, with the redaction
// configuration that must mask them and what every field must look like
// after it. The redaction processor's tests and the end-to-end test of the
// binary share it, so both check the same promise: nothing in the corpus
// leaves outpost, and everything else arrives unchanged.
package redactcorpus

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Config is the redaction processor's configuration for the corpus (the
// body of its YAML section, indented by nothing).
const Config = `allow_all_keys: true
blocked_key_patterns: ['(?i)(token|secret|password|api[_-]?key|authorization)']
blocked_values:
  - '\b(?:\d[ -]?){12,18}\d\b'
  - '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}'
  - '(?i)bearer\s+[A-Za-z0-9._~+/=-]+'
  - '\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b'
  - '\bAKIA[0-9A-Z]{16}\b'
  - '\bgh[pousr]_[A-Za-z0-9]{36}\b'
summary: silent
`

// Secret is one secret of the corpus, as it is written in the data.
type Secret struct {
	Kind string // card, email, token
	Text string
}

const (
	jwt    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	stripe = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
	aws    = "AKIAIOSFODNN7EXAMPLE"
	github = "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"
)

// Secrets lists every secret the corpus contains. The card numbers are
// the card networks' published test numbers (Luhn-valid), written with
// spaces, dashes or no separators.
var Secrets = []Secret{
	{"card", "4111 1111 1111 1111"},
	{"card", "4111-1111-1111-1111"},
	{"card", "5500 0000 0000 0004"},
	{"card", "3782 822463 10005"},
	{"card", "6011-1111-1111-1117"},
	{"card", "4012888888881881"},
	{"email", "alice.smith@example.com"},
	{"email", "bob+billing@mail.example.org"},
	{"email", "ops_team@edge-site.example.net"},
	{"token", "Bearer " + jwt},
	{"token", stripe},
	{"token", aws},
	{"token", github},
}

// Needles are the byte strings whose presence anywhere in output means a
// leak: every secret as written, card numbers also without separators, and
// a bearer token also without its scheme.
func Needles() []string {
	var out []string
	for _, s := range Secrets {
		out = append(out, s.Text)
		switch s.Kind {
		case "card":
			out = append(out, strings.NewReplacer(" ", "", "-", "").Replace(s.Text))
		case "token":
			out = append(out, strings.TrimPrefix(s.Text, "Bearer "))
		}
	}
	return out
}

// Field is one attribute: its value going in and the value it must have
// coming out.
type Field struct {
	Key     string
	In, Out any
}

// Fields is the attribute set put on every resource, span, log record and
// data point of the corpus. Per map, the redaction masks matches in four
// values (blocked_value) and two whole values by their key (blocked_key).
var Fields = []Field{
	{"http.route", "/api/v1/orders/{id}", "/api/v1/orders/{id}"},
	{"order.id", "ord-7781", "ord-7781"},
	{"amount", 12.5, 12.5},
	{"items", int64(3), int64(3)},
	{"user.tier", "gold", "gold"},
	{"customer.email", "alice.smith@example.com", "****"},
	{"note", "card 4111-1111-1111-1111 on file for bob+billing@mail.example.org", "card **** on file for ****"},
	{"http.request.header.authorization", "Bearer " + jwt, "****"},
	{"api_key", stripe, "****"},
	{"payment", map[string]any{"pan": "5500 0000 0000 0004", "brand": "mastercard"}, map[string]any{"pan": "****", "brand": "mastercard"}},
	{"aws", aws + " used by deployer", "**** used by deployer"},
}

// Per-map counts of Fields, by outpost_processor_redacted_total reason.
const (
	FieldsBlockedValue = 4
	FieldsBlockedKey   = 2
)

// Bodies are the log record bodies going in and coming out; six values in
// them are masked (blocked_value).
var Bodies = []Field{
	{"", "payment declined for card 4111 1111 1111 1111 (user alice.smith@example.com)", "payment declined for card **** (user ****)"},
	{"", "GET /api/v1/orders/42 200 12ms", "GET /api/v1/orders/42 200 12ms"},
	{"", "retrying with Authorization: Bearer " + jwt, "retrying with Authorization: ****"},
	{"", "amex 3782 822463 10005 and discover 6011-1111-1111-1117 refunded", "amex **** and discover **** refunded"},
	{"", "token " + github + " leaked to ops_team@edge-site.example.net", "token **** leaked to ****"},
	{"", map[string]any{"msg": "card 4012888888881881", "level": "warn", "user": map[string]any{"email": "alice.smith@example.com"}},
		map[string]any{"msg": "card ****", "level": "warn", "user": map[string]any{"email": "****"}}},
	{"", "user 42 logged in", "user 42 logged in"},
}

// BodiesBlockedValue is how many body values the redaction masks.
const BodiesBlockedValue = 6

// SpanNames are the spans' names going in and coming out (one masked).
var SpanNames = []Field{
	{"", "GET /api/v1/orders/{id}", "GET /api/v1/orders/{id}"},
	{"", "checkout for alice.smith@example.com", "checkout for ****"},
}

// StatusMessage is the error status of the last span, going in and coming
// out.
var StatusMessage = Field{"", "card 6011-1111-1111-1117 refused by issuer", "card **** refused by issuer"}

// Resource is the service the corpus's data comes from.
const Resource = "shop-gateway"

func put(m pcommon.Map, out bool) {
	for _, f := range Fields {
		v := f.In
		if out {
			v = f.Out
		}
		_ = m.PutEmpty(f.Key).FromRaw(v)
	}
}

func pick(f Field, out bool) any {
	if out {
		return f.Out
	}
	return f.In
}

// Traces is one resource with a span per SpanNames entry, every map
// carrying Fields; out gives what must arrive.
func Traces(out bool) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	put(rs.Resource().Attributes(), out)
	rs.Resource().Attributes().PutStr("service.name", Resource)
	ss := rs.ScopeSpans().AppendEmpty()
	for i, n := range SpanNames {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i)})
		sp.SetName(pick(n, out).(string))
		put(sp.Attributes(), out)
		if i == len(SpanNames)-1 {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Status().SetMessage(pick(StatusMessage, out).(string))
		}
	}
	return td
}

// Logs is one resource with a record per Bodies entry, every map carrying
// Fields.
func Logs(out bool) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	put(rl.Resource().Attributes(), out)
	rl.Resource().Attributes().PutStr("service.name", Resource)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for _, b := range Bodies {
		lr := lrs.AppendEmpty()
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		_ = lr.Body().FromRaw(pick(b, out))
		put(lr.Attributes(), out)
	}
	return ld
}

// Metrics is one resource with a gauge of two data points, every map
// carrying Fields.
func Metrics(out bool) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	put(rm.Resource().Attributes(), out)
	rm.Resource().Attributes().PutStr("service.name", Resource)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("orders.pending")
	g := m.SetEmptyGauge()
	for i := range 2 {
		dp := g.DataPoints().AppendEmpty()
		dp.SetIntValue(int64(10 + i))
		dp.Attributes().PutInt("shard", int64(i))
		put(dp.Attributes(), out)
	}
	return md
}

// Expected redaction counts (outpost_processor_redacted_total) for one
// copy of each signal's corpus.
const (
	TracesBlockedValue  = 3*FieldsBlockedValue + 2 // resource, 2 spans; a span name, a status message
	TracesBlockedKey    = 3 * FieldsBlockedKey
	LogsBlockedValue    = 8*FieldsBlockedValue + BodiesBlockedValue // resource, 7 records; bodies
	LogsBlockedKey      = 8 * FieldsBlockedKey
	MetricsBlockedValue = 3 * FieldsBlockedValue // resource, 2 points
	MetricsBlockedKey   = 3 * FieldsBlockedKey
)

// Luhn reports whether the digits of s (other characters ignored) pass
// the Luhn check.
func Luhn(s string) bool {
	sum, n := 0, 0
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n > 0 && sum%10 == 0
}
