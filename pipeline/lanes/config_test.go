package lanes

import (
	"strings"
	"testing"
)

func TestLaneNames(t *testing.T) {
	for l, want := range map[Lane]string{LaneHigh: "high", LaneNormal: "normal", LaneLow: "low", Lane(7): "lane(7)"} {
		if got := l.String(); got != want {
			t.Errorf("Lane(%d).String() = %q, want %q", l, got, want)
		}
	}
	for _, l := range []Lane{LaneHigh, LaneNormal, LaneLow} {
		got, err := ParseLane(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLane(%q) = %v, %v", l.String(), got, err)
		}
	}
	if _, err := ParseLane("High"); err == nil {
		t.Error(`ParseLane("High") succeeded; lane names are lower case`)
	}
	if LaneHigh != 0 || LaneNormal != 1 || LaneLow != 2 || NumLanes != 3 {
		t.Error("lane values changed; the queue package depends on them")
	}
}

func TestValidateGood(t *testing.T) {
	good := []Config{
		{},
		{Default: "low"},
		{Rules: []Rule{{Lane: "high", SpanStatus: "error"}}},
		{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "warn"}, {Lane: "low", LogSeverityAtLeast: "5"}}},
		{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "24"}, {Lane: "low", LogSeverityAtLeast: " Fatal "}}},
		{Rules: []Rule{{Lane: "high", MetricName: "slo_.*"}}},
		{Rules: []Rule{{Lane: "low", Attribute: &AttributeMatch{Key: "k", Value: "v"}}}},
		{Rules: []Rule{{Lane: "low", MetricName: "x", Attribute: &AttributeMatch{Key: "k", Regex: "a|b"}}}},
		{Rules: []Rule{{Lane: "high", SpanStatus: "ok", Attribute: &AttributeMatch{Key: "k", Regex: ".*"}}}},
	}
	for i, cfg := range good {
		if err := cfg.Validate(); err != nil {
			t.Errorf("config %d: unexpected error: %v", i, err)
		}
	}
}

func TestValidateBad(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error, one per line
	}{
		{"unknown default", Config{Default: "urgent"},
			[]string{`default: must be one of high, normal, low (got "urgent")`}},
		{"unknown lane", Config{Rules: []Rule{{Lane: "urgent", SpanStatus: "error"}}},
			[]string{`rules[0].lane: must be one of high, normal, low (got "urgent")`}},
		{"missing lane", Config{Rules: []Rule{{SpanStatus: "error"}}},
			[]string{`rules[0].lane: required: high, normal or low`}},
		{"no condition", Config{Rules: []Rule{{Lane: "high", SpanStatus: "error"}, {Lane: "low"}}},
			[]string{`rules[1]: at least one condition is required (log_severity_at_least, span_status, metric_name or attribute)`}},
		{"bad metric regex", Config{Rules: []Rule{{Lane: "high", MetricName: "slo_("}}},
			[]string{`rules[0].metric_name: invalid regexp "slo_(": error parsing regexp: missing closing ): ` + "`slo_(`"}},
		{"regex that only wrapping would fix", Config{Rules: []Rule{{Lane: "high", MetricName: "a)|(b"}}},
			[]string{`rules[0].metric_name: invalid regexp "a)|(b"`}},
		{"bad attribute regex", Config{Rules: []Rule{{Lane: "high", Attribute: &AttributeMatch{Key: "k", Regex: "[a"}}}},
			[]string{`rules[0].attribute.regex: invalid regexp "[a"`}},
		{"value and regex", Config{Rules: []Rule{{Lane: "high", Attribute: &AttributeMatch{Key: "k", Value: "v", Regex: "v"}}}},
			[]string{`rules[0].attribute: set exactly one of value and regex, not both`}},
		{"neither value nor regex", Config{Rules: []Rule{{Lane: "high", Attribute: &AttributeMatch{Key: "k"}}}},
			[]string{`rules[0].attribute: set exactly one of value and regex`}},
		{"attribute without key", Config{Rules: []Rule{{Lane: "high", Attribute: &AttributeMatch{Value: "v"}}}},
			[]string{`rules[0].attribute.key: required`}},
		{"unknown severity word", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "loud"}}},
			[]string{`rules[0].log_severity_at_least: unknown severity "loud": want TRACE, DEBUG, INFO, WARN, ERROR, FATAL or a number from 1 to 24`}},
		{"severity 0", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "0"}}},
			[]string{`rules[0].log_severity_at_least: unknown severity "0"`}},
		{"severity 25", Config{Rules: []Rule{{Lane: "high", LogSeverityAtLeast: "25"}}},
			[]string{`rules[0].log_severity_at_least: unknown severity "25"`}},
		{"bad span status", Config{Rules: []Rule{{Lane: "high", SpanStatus: "failed"}}},
			[]string{`rules[0].span_status: must be one of error, ok, unset (got "failed")`}},
		{"span status is lower case", Config{Rules: []Rule{{Lane: "high", SpanStatus: "ERROR"}}},
			[]string{`rules[0].span_status: must be one of error, ok, unset (got "ERROR")`}},
		{"two signals", Config{Rules: []Rule{{Lane: "high", SpanStatus: "error", LogSeverityAtLeast: "error"}}},
			[]string{`rules[0]: log_severity_at_least and span_status apply to different signals, so the rule can never match`}},
		{"every problem reported", Config{Default: "x", Rules: []Rule{
			{Lane: "y", SpanStatus: "z"},
			{Lane: "high", MetricName: "("},
		}}, []string{
			`default: must be one of`,
			`rules[0].lane: must be one of high, normal, low (got "y")`,
			`rules[0].span_status: must be one of error, ok, unset (got "z")`,
			`rules[1].metric_name: invalid regexp "("`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if i < len(lines) && !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d:\n got  %s\n want %s…", i, lines[i], w)
				}
			}
			if _, nerr := New(tt.cfg); nerr == nil || nerr.Error() != err.Error() {
				t.Errorf("New() error = %v, want Validate's", nerr)
			}
		})
	}
}

// TestValidateOddInput checks that Validate never panics, whatever the
// strings hold.
func TestValidateOddInput(t *testing.T) {
	odd := []string{"", " ", "\x00", "\xff\xfe", "(", ")", "\\", "*", "a{1000000}", "(?P<", "-1",
		"9999999999999999999999", "٣", "ＥＲＲＯＲ", strings.Repeat("(", 2000), strings.Repeat("a", 4096)}
	for _, a := range odd {
		for _, b := range odd {
			cfgs := []Config{
				{Default: a, Rules: []Rule{{Lane: b, LogSeverityAtLeast: a, SpanStatus: b}}},
				{Rules: []Rule{{Lane: "high", MetricName: a, Attribute: &AttributeMatch{Key: b, Value: a, Regex: b}}}},
				{Rules: []Rule{{Lane: "low", Attribute: &AttributeMatch{Regex: a}}, {}, {Attribute: &AttributeMatch{}}}},
			}
			for _, cfg := range cfgs {
				_ = cfg.Validate()
				if c, err := New(cfg); err == nil && c == nil {
					t.Fatal("New returned neither a classifier nor an error")
				}
			}
		}
	}
}
