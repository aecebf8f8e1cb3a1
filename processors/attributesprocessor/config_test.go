package attributesprocessor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/attraction"
	"github.com/outpost-edge/outpost/internal/itemmatch"
)

// decode decodes a testdata file strictly onto the factory's defaults, as
// the configs package does.
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
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Include == nil || cfg.Include.MatchType != "regexp" || cfg.Include.Services[0] != "^checkout$" || cfg.Include.Attributes[0].Key != "http.route" {
		t.Errorf("include = %+v", cfg.Include)
	}
	if cfg.Exclude == nil || cfg.Exclude.SpanNames[0] != "healthz" {
		t.Errorf("exclude = %+v", cfg.Exclude)
	}
	want := []attraction.Action{
		{Key: "environment", Value: "production", Action: "insert"},
		{Key: "db.statement", Action: "delete"},
		{Key: "user.email", Action: "hash"},
		{Key: "http.route", Pattern: `^/api/(?P<api_version>v\d+)/`, Action: "extract"},
		{Key: "retries", Action: "convert", ConvertedType: "int"},
		{Key: "owner", FromAttribute: "team", Action: "upsert"},
		{Pattern: `^debug\.`, Action: "delete"},
	}
	if len(cfg.Actions) != len(want) {
		t.Fatalf("actions = %+v", cfg.Actions)
	}
	for i := range want {
		if cfg.Actions[i] != want[i] {
			t.Errorf("actions[%d] = %+v, want %+v", i, cfg.Actions[i], want[i])
		}
	}

	for file, key := range map[string]string{"unknown_key.yaml": "from_context", "span_kinds.yaml": "span_kinds"} {
		if _, err := decode(t, file); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %s", file, err, key)
		}
	}
}

func TestValidate(t *testing.T) {
	insert := []attraction.Action{{Key: "a", Value: "b", Action: "insert"}}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"one action", Config{Actions: insert}, nil},
		{"no actions", Config{}, []string{"actions: at least one action is required"}},
		{"bad action", Config{Actions: []attraction.Action{{Key: "a", Action: "move"}}}, []string{`actions[0].action: unknown action "move"`}},
		{"bad include", Config{Actions: insert, Include: &itemmatch.Properties{MatchType: "glob", SpanNames: []string{"a"}}},
			[]string{`include.match_type: must be strict or regexp (got "glob")`}},
		{"empty exclude", Config{Actions: insert, Exclude: &itemmatch.Properties{MatchType: "strict"}},
			[]string{"exclude: names no property"}},
		{"every problem", Config{Include: &itemmatch.Properties{MatchType: "regexp", SpanNames: []string{"("}}},
			[]string{"actions:", "include.span_names: invalid regular expression"}},
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
