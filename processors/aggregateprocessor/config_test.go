package aggregateprocessor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
)

func TestValidate(t *testing.T) {
	ok := func() Rule {
		return Rule{Match: Match{MetricName: "x"}, Interval: time.Minute, Outputs: []string{"sum"}}
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string // prefixes, one per expected error; none: valid
	}{
		{name: "one rule", edit: func(*Config) {}},
		{name: "every output", edit: func(c *Config) {
			c.Rules[0].Outputs = []string{"total", "increase", "sum", "count_series", "count_samples", "last", "min", "max", "avg", "histogram", "quantiles(0, 0.5,1)"}
		}},
		{name: "no rules", edit: func(c *Config) { c.Rules = nil }, want: []string{"rules: at least one rule is required unless dedup_interval is set"}},
		{name: "dedup_interval without rules", edit: func(c *Config) { c.Rules, c.DedupInterval = nil, time.Minute }},
		{name: "dedup_interval with rules", edit: func(c *Config) { c.DedupInterval = time.Second }},
		{name: "dedup_interval negative", edit: func(c *Config) { c.DedupInterval = -time.Minute },
			want: []string{"dedup_interval: must be 0 (off) or a whole number of seconds, at least 1s (got -1m0s)"}},
		{name: "dedup_interval below 1s", edit: func(c *Config) { c.Rules, c.DedupInterval = nil, 500*time.Millisecond },
			want: []string{"dedup_interval: must be 0 (off) or a whole number of seconds, at least 1s (got 500ms)"}},
		{name: "dedup_interval fraction", edit: func(c *Config) { c.DedupInterval = 1500 * time.Millisecond },
			want: []string{"dedup_interval: must be 0 (off) or a whole number of seconds, at least 1s (got 1.5s)"}},
		{name: "max_bytes", edit: func(c *Config) { c.MaxBytes = 0 }, want: []string{"max_bytes: must be > 0"}},
		{name: "no metric name", edit: func(c *Config) { c.Rules[0].Match.MetricName = "" }, want: []string{"rules[0].match.metric_name: required"}},
		{name: "bad regex", edit: func(c *Config) { c.Rules[0].Match.MetricName = "a)|(b" }, want: []string{"rules[0].match.metric_name: invalid regexp"}},
		{name: "attribute value and regex", edit: func(c *Config) {
			c.Rules[0].Match.Attributes = []AttributeMatch{{Key: "a", Value: "1", Regex: "1"}, {Value: "x"}}
		}, want: []string{"rules[0].match.attributes[0]: set exactly one of value and regex, not both", "rules[0].match.attributes[1].key: required"}},
		{name: "interval too short", edit: func(c *Config) { c.Rules[0].Interval = 500 * time.Millisecond }, want: []string{"rules[0].interval: must be a whole number of seconds"}},
		{name: "interval fraction", edit: func(c *Config) { c.Rules[0].Interval = 1500 * time.Millisecond }, want: []string{"rules[0].interval:"}},
		{name: "dedup not dividing", edit: func(c *Config) { c.Rules[0].DedupInterval = 7 * time.Second }, want: []string{"rules[0].dedup_interval: must be 0 or divide interval 1m0s (got 7s)"}},
		{name: "staleness below interval", edit: func(c *Config) { c.Rules[0].StalenessInterval = time.Second }, want: []string{"rules[0].staleness_interval: must be at least interval"}},
		{name: "by and without", edit: func(c *Config) { c.Rules[0].By, c.Rules[0].Without = []string{"a"}, []string{"b"} }, want: []string{"rules[0]: set at most one of by and without"}},
		{name: "empty without", edit: func(c *Config) { c.Rules[0].Without = []string{} }, want: []string{"rules[0].without: must list at least one key"}},
		{name: "without node identity", edit: func(c *Config) { c.Rules[0].Without = []string{"node.name"} }, want: []string{`rules[0].without: "node.name": node identity attributes are always kept`}},
		{name: "no outputs", edit: func(c *Config) { c.Rules[0].Outputs = nil }, want: []string{"rules[0].outputs: at least one output is required"}},
		{name: "unknown output", edit: func(c *Config) { c.Rules[0].Outputs = []string{"sum_samples"} }, want: []string{`rules[0].outputs[0]: unknown output "sum_samples"`}},
		{name: "duplicate output", edit: func(c *Config) { c.Rules[0].Outputs = []string{"sum", "sum"} }, want: []string{`rules[0].outputs[1]: "sum" listed twice`}},
		{name: "bad phi", edit: func(c *Config) { c.Rules[0].Outputs = []string{"quantiles(0.5, 2)"} }, want: []string{"rules[0].outputs[0]: \"quantiles(0.5, 2)\": each phi must be a number between 0 and 1"}},
		{name: "every problem of every rule", edit: func(c *Config) {
			c.Rules = append(c.Rules, Rule{}, Rule{Match: Match{MetricName: "y"}, Interval: time.Minute, Outputs: []string{"avg"}, By: []string{""}})
		}, want: []string{"rules[1].match.metric_name: required", "rules[1].interval:", "rules[1].outputs:", "rules[2]: empty attribute key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rules(ok())
			tc.edit(cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("Validate: %d errors, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestOutputNames(t *testing.T) {
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{Interval: time.Minute}, ":1m_"},
		{Rule{Interval: 90 * time.Second, By: []string{}}, ":1m30s_"},
		{Rule{Interval: 30 * time.Second, By: []string{"b", "a", "b"}}, ":30s_by_a_b_"},
		{Rule{Interval: time.Hour, Without: []string{"pod"}}, ":1h_without_pod_"},
	} {
		tc.rule.Match.MetricName, tc.rule.Outputs = "x", []string{"sum"}
		c, err := rules(tc.rule).compile()
		if err != nil {
			t.Fatal(err)
		}
		if c[0].prefix != tc.want {
			t.Errorf("%+v: prefix %q, want %q", tc.rule, c[0].prefix, tc.want)
		}
	}
}

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
	want := &Config{MaxBytes: 8 << 20, Rules: []Rule{
		{
			Match:    Match{MetricName: "http_requests_total", Attributes: []AttributeMatch{{Key: "env", Value: "prod"}}},
			Interval: time.Minute, By: []string{"service.name", "code"}, Outputs: []string{"total", "increase"},
			StalenessInterval: 5 * time.Minute,
		},
		{
			Match: Match{MetricName: "node_cpu_.*"}, Interval: 30 * time.Second, By: []string{}, DedupInterval: 10 * time.Second,
			Outputs: []string{"min", "max", "avg", "quantiles(0.5, 0.99)"}, KeepInput: true,
		},
	}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("decoded %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := decode(t, "unknown_key.yaml"); err == nil || !strings.Contains(err.Error(), "labels") {
		t.Errorf("unknown key: %v, want an error naming labels", err)
	}
}

func TestDecodeDedupConfig(t *testing.T) {
	cfg, err := decode(t, "dedup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Config{MaxBytes: 4 << 20, DedupInterval: time.Minute}); !reflect.DeepEqual(cfg, want) {
		t.Errorf("decoded %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestDefaults(t *testing.T) {
	if got := createDefaultConfig(); got.MaxBytes != 16<<20 || got.Rules != nil || got.DedupInterval != 0 {
		t.Errorf("defaults %+v", got)
	}
	c, err := rules(Rule{Match: Match{MetricName: "x"}, Interval: time.Minute, Outputs: []string{"sum"}}).compile()
	if err != nil {
		t.Fatal(err)
	}
	if c[0].staleness != 2*time.Minute {
		t.Errorf("default staleness %s, want 2 × interval", c[0].staleness)
	}
}
