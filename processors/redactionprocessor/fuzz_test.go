package redactionprocessor

import (
	"regexp"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/outpost-edge/outpost/configs"
)

// FuzzMask checks the masking rule on arbitrary values: after redaction no
// match of a blocked pattern is left in a value, except inside an allowed
// match or as the mask itself, and text outside the matches is kept.
func FuzzMask(f *testing.F) {
	for _, s := range []string{"", "card 4111 1111 1111 1111 ok", "a@b.co and c@d.org", "4111111111111111", "****", "ok@x.io bad@x.io"} {
		f.Add(s)
	}
	r := mustRedactor(f, Config{
		AllowAllKeys:  true,
		BlockedValues: []string{`\b(?:\d[ -]?){12,18}\d\b`, `[a-z]+@[a-z]+\.[a-z]{2,}`},
		AllowedValues: []string{`ok@x\.io`},
	})
	card := regexp.MustCompile(`\b(?:\d[ -]?){12,18}\d\b`)
	mail := regexp.MustCompile(`[a-z]+@[a-z]+\.[a-z]{2,}`)
	f.Fuzz(func(t *testing.T, s string) {
		out, masked, _ := r.maskString(s)
		if !masked && out != s {
			t.Fatalf("unmasked value changed: %q → %q", s, out)
		}
		if card.MatchString(out) {
			t.Fatalf("card pattern left in %q (from %q)", out, s)
		}
		allowed := regexp.MustCompile(`ok@x\.io`).FindAllStringIndex(out, -1)
		for _, loc := range mail.FindAllStringIndex(out, -1) {
			if !inside(allowed, loc) {
				t.Fatalf("mail pattern %q left outside an allowed match in %q (from %q)", out[loc[0]:loc[1]], out, s)
			}
		}
		// Masking is idempotent: what is left is allowed.
		if again, masked2, _ := r.maskString(out); masked2 {
			t.Fatalf("second pass masked %q → %q", out, again)
		}
	})
}

// FuzzConfig decodes arbitrary YAML as the configuration: a configuration
// that validates must build a redactor, and redacting a map and a body
// with it must not panic.
func FuzzConfig(f *testing.F) {
	f.Add("allow_all_keys: true\nblocked_values: ['\\d+']")
	f.Add("allowed_keys: [a]\nblocked_key_patterns: [b]\nhash_function: sha3\nsummary: debug")
	f.Add("ignored_key_patterns: ['^k']\nallowed_values: ['x']\nhash_function: hmac-sha512\nhmac_key: k\nredact_all_types: true")
	f.Fuzz(func(t *testing.T, src string) {
		cfg := createDefaultConfig()
		if err := configs.Decode("fuzz.yaml", []byte(src), cfg); err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			return
		}
		r, err := newRedactor(cfg)
		if err != nil {
			t.Fatalf("valid config: %v", err)
		}
		m := pcommon.NewMap()
		_ = m.FromRaw(map[string]any{"a": "x 123", "b": int64(7), "k": []any{"y", map[string]any{"b": "z"}}})
		var c counts
		r.attributes(m, &c)
		body := pcommon.NewValueStr("x 123 b")
		r.body(body, m, &c)
	})
}
