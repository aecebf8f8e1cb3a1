package redactionprocessor

import (
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func mustRedactor(t testing.TB, c Config) *redactor {
	t.Helper()
	if c.Summary == "" {
		c.Summary = SummarySilent
	}
	r, err := newRedactor(&c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mapOf(t testing.TB, raw map[string]any) pcommon.Map {
	t.Helper()
	m := pcommon.NewMap()
	if err := m.FromRaw(raw); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAttributes(t *testing.T) {
	card := `4[0-9]{12}(?:[0-9]{3})?`
	for _, tc := range []struct {
		name string
		cfg  Config
		in   map[string]any
		want map[string]any
		c    counts
	}{
		{"fail closed", Config{},
			map[string]any{"a": "x", "b": int64(1)},
			map[string]any{}, counts{keyNotAllowed: 2}},
		{"allowed keys kept", Config{AllowedKeys: []string{"id", "name"}},
			map[string]any{"id": "7", "name": "n", "email": "a@b.c"},
			map[string]any{"id": "7", "name": "n"}, counts{keyNotAllowed: 1}},
		{"ignored keys untouched", Config{AllowedKeys: []string{"id"}, IgnoredKeys: []string{"raw"}, BlockedValues: []string{card}},
			map[string]any{"id": "4111111111111111", "raw": "4111111111111111"},
			map[string]any{"id": "****", "raw": "4111111111111111"}, counts{blockedValue: 1}},
		{"ignored key patterns", Config{IgnoredKeyPatterns: []string{`^k8s\.`}},
			map[string]any{"k8s.pod.name": "p", "other": "o"},
			map[string]any{"k8s.pod.name": "p"}, counts{keyNotAllowed: 1}},
		{"blocked value parts masked", Config{AllowAllKeys: true, BlockedValues: []string{card}},
			map[string]any{"note": "paid with 4111111111111111 and 4012888888881881 today"},
			map[string]any{"note": "paid with **** and **** today"}, counts{blockedValue: 1}},
		{"patterns apply in turn", Config{AllowAllKeys: true, BlockedValues: []string{`secret-\d+`, `\*{4}-x`}},
			map[string]any{"note": "secret-42-x"},
			map[string]any{"note": "****"}, counts{blockedValue: 1}},
		{"blocked key masks whole value", Config{AllowAllKeys: true, BlockedKeyPatterns: []string{"(?i)token"}},
			map[string]any{"AuthToken": "abc.def", "user": "u"},
			map[string]any{"AuthToken": "****", "user": "u"}, counts{blockedKey: 1}},
		{"blocked key masks non-strings", Config{AllowAllKeys: true, BlockedKeyPatterns: []string{"pin"}},
			map[string]any{"pin": int64(1234)},
			map[string]any{"pin": "****"}, counts{blockedKey: 1}},
		{"blocked key masks nested values", Config{AllowAllKeys: true, BlockedKeyPatterns: []string{"^creds$"}},
			map[string]any{"creds": map[string]any{"user": "u", "pass": "p", "list": []any{"a"}}},
			map[string]any{"creds": map[string]any{"user": "****", "pass": "****", "list": []any{"****"}}}, counts{blockedKey: 3}},
		{"ints left without redact_all_types", Config{AllowAllKeys: true, BlockedValues: []string{`^4\d{15}$`}},
			map[string]any{"pan": int64(4111111111111111)},
			map[string]any{"pan": int64(4111111111111111)}, counts{}},
		{"ints masked with redact_all_types", Config{AllowAllKeys: true, RedactAllTypes: true, BlockedValues: []string{`^4\d{15}$`}},
			map[string]any{"pan": int64(4111111111111111), "n": int64(5)},
			map[string]any{"pan": "****", "n": int64(5)}, counts{blockedValue: 1}},
		{"allowed value spares only its part", Config{AllowAllKeys: true, BlockedValues: []string{`[a-z.]+@[a-z.]+`}, AllowedValues: []string{`[a-z.]+@mycompany\.com`}},
			map[string]any{"to": "ops@mycompany.com, eve@evil.org"},
			map[string]any{"to": "ops@mycompany.com, ****"}, counts{blockedValue: 1}},
		{"allowed value spares all", Config{AllowAllKeys: true, BlockedValues: []string{`mycompany\.com`}, AllowedValues: []string{`support\.mycompany\.com`}},
			map[string]any{"host": "support.mycompany.com"},
			map[string]any{"host": "support.mycompany.com"}, counts{}},
		{"blocked key spared by whole allowed value", Config{AllowAllKeys: true, BlockedKeyPatterns: []string{"token"}, AllowedValues: []string{`^none$`}},
			map[string]any{"token": "none", "token2": "none-really"},
			map[string]any{"token": "none", "token2": "****"}, counts{blockedKey: 1}},
		{"nested maps get key rules", Config{AllowedKeys: []string{"user", "name"}, BlockedValues: []string{`\d{3}-\d{4}`}},
			map[string]any{"user": map[string]any{"name": "call 555-1234", "ssn": "x"}, "drop": "y"},
			map[string]any{"user": map[string]any{"name": "call ****"}}, counts{keyNotAllowed: 2, blockedValue: 1}},
		{"lists searched", Config{AllowAllKeys: true, BlockedValues: []string{`tok_[a-z]+`}},
			map[string]any{"l": []any{"tok_abc", "fine", []any{"x tok_q"}}},
			map[string]any{"l": []any{"****", "fine", []any{"x ****"}}}, counts{blockedValue: 2}},
		{"empty match masks nothing", Config{AllowAllKeys: true, BlockedValues: []string{`x*`}},
			map[string]any{"a": "abc"},
			map[string]any{"a": "abc"}, counts{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRedactor(t, tc.cfg)
			m := mapOf(t, tc.in)
			var c counts
			r.attributes(m, &c)
			if got := m.AsRaw(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
			if c != tc.c {
				t.Errorf("counts %+v, want %+v", c, tc.c)
			}
		})
	}
}

func TestHashFunctions(t *testing.T) {
	for _, tc := range []struct {
		fn, key, in, want string
	}{
		{HashMD5, "", "abc", "900150983cd24fb0d6963f7d28e17f72"},
		{HashSHA1, "", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{HashSHA3, "", "abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
		{HashHMACSHA256, "key", "The quick brown fox jumps over the lazy dog", "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"},
		{HashHMACSHA512, "key", "The quick brown fox jumps over the lazy dog", "b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a"},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			r := mustRedactor(t, Config{AllowAllKeys: true, BlockedValues: []string{`^.+$`}, HashFunction: tc.fn, HMACKey: tc.key})
			m := mapOf(t, map[string]any{"v": tc.in})
			r.attributes(m, &counts{})
			if got, _ := m.Get("v"); got.Str() != tc.want {
				t.Errorf("%s(%q) = %s, want %s", tc.fn, tc.in, got.Str(), tc.want)
			}
		})
	}
}

func TestBody(t *testing.T) {
	cfg := Config{
		AllowedKeys:        []string{"msg", "user", "name", "password"},
		BlockedKeyPatterns: []string{"password"},
		BlockedValues:      []string{`[a-z]+@example\.com`},
		Summary:            SummaryDebug,
	}
	for _, tc := range []struct {
		name      string
		body      any
		want      any
		wantAttrs map[string]any
	}{
		{"string", "mail bob@example.com now", "mail **** now",
			map[string]any{attrBodyMaskedKeys: "body", attrBodyMaskedCount: int64(1)}},
		{"int body by its string form", int64(42), int64(42), map[string]any{}},
		{"map", map[string]any{"msg": "from amy@example.com", "user": map[string]any{"name": "amy", "password": "hunter2", "email": "amy@example.com"}, "x": 1},
			map[string]any{"msg": "from ****", "user": map[string]any{"name": "amy", "password": "****"}},
			map[string]any{
				attrBodyRedactedKeys: "user.email,x", attrBodyRedactedCount: int64(2),
				attrBodyMaskedKeys: "msg,user.password", attrBodyMaskedCount: int64(2),
			}},
		{"slice", []any{"ok", "to cy@example.com"}, []any{"ok", "to ****"},
			map[string]any{attrBodyMaskedKeys: "[1]", attrBodyMaskedCount: int64(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRedactor(t, cfg)
			body := pcommon.NewValueEmpty()
			if err := body.FromRaw(tc.body); err != nil {
				t.Fatal(err)
			}
			attrs := pcommon.NewMap()
			r.body(body, attrs, &counts{})
			if got := body.AsRaw(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body %v, want %v", got, tc.want)
			}
			if got := attrs.AsRaw(); !reflect.DeepEqual(got, tc.wantAttrs) {
				t.Errorf("attributes %v, want %v", got, tc.wantAttrs)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	in := map[string]any{"id": "1", "secret": "s", "k8s.ns": "n", "note": "ok@x.io and bad@x.io", "old": "o"}
	base := Config{
		AllowedKeys: []string{"id", "note"}, IgnoredKeyPatterns: []string{`^k8s\.`},
		BlockedValues: []string{`[a-z]+@x\.io`}, AllowedValues: []string{`ok@x\.io`},
	}
	for _, tc := range []struct {
		summary string
		want    map[string]any
	}{
		{SummarySilent, map[string]any{"id": "1", "k8s.ns": "n", "note": "ok@x.io and ****"}},
		{SummaryInfo, map[string]any{"id": "1", "k8s.ns": "n", "note": "ok@x.io and ****",
			attrRedactedCount: int64(2), attrMaskedCount: int64(1), attrAllowedCount: int64(1), attrIgnoredCount: int64(1)}},
		{SummaryDebug, map[string]any{"id": "1", "k8s.ns": "n", "note": "ok@x.io and ****",
			attrRedactedKeys: "old,secret", attrRedactedCount: int64(2), attrMaskedKeys: "note", attrMaskedCount: int64(1),
			attrAllowedKeys: "note", attrAllowedCount: int64(1), attrIgnoredCount: int64(1)}},
	} {
		t.Run(tc.summary, func(t *testing.T) {
			cfg := base
			cfg.Summary = tc.summary
			r := mustRedactor(t, cfg)
			m := mapOf(t, in)
			r.attributes(m, &counts{})
			if got := m.AsRaw(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}

	// A second redaction processor keeps and adds to the first's summary.
	cfg := base
	cfg.Summary = SummaryDebug
	r := mustRedactor(t, cfg)
	m := mapOf(t, in)
	r.attributes(m, &counts{})
	m.PutStr("extra", "e")
	r.attributes(m, &counts{})
	if v, _ := m.Get(attrRedactedKeys); v.Str() != "extra,old,secret" {
		t.Errorf("merged redacted keys %q", v.Str())
	}
	if v, _ := m.Get(attrRedactedCount); v.Int() != 3 {
		t.Errorf("merged redacted count %d", v.Int())
	}
}
