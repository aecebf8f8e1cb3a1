package redactionprocessor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
)

func decode(t *testing.T, name string) (*Config, error) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	return cfg, configs.Decode(name, raw, cfg)
}

func TestDecodeConfig(t *testing.T) {
	cfg, err := decode(t, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		AllowedKeys:        []string{"description", "group", "id", "name"},
		IgnoredKeys:        []string{"safe_attribute"},
		IgnoredKeyPatterns: []string{`^k8s\.`},
		BlockedKeyPatterns: []string{".*token.*", ".*api_key.*"},
		BlockedValues:      []string{"4[0-9]{12}(?:[0-9]{3})?", "(5[1-5][0-9]{14})"},
		AllowedValues:      []string{".+@mycompany.com"},
		RedactAllTypes:     true,
		HashFunction:       HashHMACSHA256,
		HMACKey:            "test-key",
		Summary:            SummaryDebug,
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("decoded %+v\nwant %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := decode(t, "url_sanitizer.yaml"); err == nil || !strings.Contains(err.Error(), "url_sanitizer") {
		t.Errorf("url_sanitizer: %v, want an unknown-key error", err)
	}
	if d := *createDefaultConfig(); !reflect.DeepEqual(d, Config{Summary: SummarySilent}) {
		t.Errorf("defaults %+v", d)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"defaults fail closed", Config{Summary: "silent"}, nil},
		{"hmac", Config{Summary: "info", HashFunction: "hmac-sha512", HMACKey: "k"}, nil},
		{"bad summary", Config{Summary: "verbose"}, []string{`summary: must be debug, info or silent (got "verbose")`}},
		{"bad hash", Config{Summary: "silent", HashFunction: "sha256"}, []string{`hash_function: must be md5, sha1, sha3, hmac-sha256 or hmac-sha512 (got "sha256")`}},
		{"hmac without key", Config{Summary: "silent", HashFunction: "hmac-sha256"}, []string{"hmac_key: required with hash_function hmac-sha256"}},
		{"key without hmac", Config{Summary: "silent", HashFunction: "md5", HMACKey: "k"}, []string{"hmac_key: only used with"}},
		{"bad patterns", Config{Summary: "silent", BlockedValues: []string{"ok", "("}, AllowedValues: []string{"["}, BlockedKeyPatterns: []string{"*"}, IgnoredKeyPatterns: []string{"(?P<"}},
			[]string{"ignored_key_patterns[0]: invalid regular expression", "blocked_key_patterns[0]: invalid", "blocked_values[1]: invalid", "allowed_values[0]: invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
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
