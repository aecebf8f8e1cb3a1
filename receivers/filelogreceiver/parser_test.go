package filelogreceiver

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

func TestParsers(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name    string
		cfg     ParserConfig
		line    string
		attrs   map[string]any
		body    string
		time    time.Time
		sev     plog.SeverityNumber
		failure string
	}{
		{
			name:  "json with strptime and severity",
			cfg:   ParserConfig{Type: ParserJSON, Timestamp: &TimestampConfig{ParseFrom: "ts", Layout: "%Y-%m-%dT%H:%M:%S.%f%z"}, Severity: &SeverityConfig{ParseFrom: "level"}},
			line:  `{"ts":"2026-03-04T05:06:07.123456+0200","level":"WARNING","n":3,"f":1.5,"ok":true,"nested":{"a":[1,"x"]}}`,
			attrs: map[string]any{"ts": "2026-03-04T05:06:07.123456+0200", "level": "WARNING", "n": int64(3), "f": 1.5, "ok": true, "nested": map[string]any{"a": []any{int64(1), "x"}}},
			time:  ts("2026-03-04T03:06:07.123456Z"),
			sev:   plog.SeverityNumberWarn,
		},
		{
			name:  "regex with gotime, body_from and mapping",
			cfg:   ParserConfig{Type: ParserRegex, Regex: `^(?P<time>\S+) (?P<lvl>\w+) (?P<msg>.*)$`, BodyFrom: "msg", Timestamp: &TimestampConfig{ParseFrom: "time", LayoutType: LayoutGotime, Layout: time.RFC3339}, Severity: &SeverityConfig{ParseFrom: "lvl", Mapping: map[string]string{"OOPS": "error2"}}},
			line:  "2026-03-04T05:06:07Z oops disk is full",
			attrs: map[string]any{"time": "2026-03-04T05:06:07Z", "lvl": "oops"},
			body:  "disk is full",
			time:  ts("2026-03-04T05:06:07Z"),
			sev:   plog.SeverityNumberError2,
		},
		{
			name:  "logfmt with epoch",
			cfg:   ParserConfig{Type: ParserLogfmt, Timestamp: &TimestampConfig{ParseFrom: "t", LayoutType: LayoutEpoch, Layout: "s.ms"}, Severity: &SeverityConfig{ParseFrom: "level"}},
			line:  `t=1767000000.250 level=err msg="a \"quoted\" value" flag`,
			attrs: map[string]any{"t": "1767000000.250", "level": "err", "msg": `a "quoted" value`, "flag": "true"},
			time:  time.Unix(1767000000, 250e6),
			sev:   plog.SeverityNumberError,
		},
		{
			name:    "json that is not an object",
			cfg:     ParserConfig{Type: ParserJSON},
			line:    `[1,2]`,
			attrs:   map[string]any{},
			failure: reasonParse,
		},
		{
			name:    "regex that does not match",
			cfg:     ParserConfig{Type: ParserRegex, Regex: `^(?P<a>\d+)$`},
			line:    "abc",
			attrs:   map[string]any{},
			failure: reasonParse,
		},
		{
			name:    "bad timestamp keeps the record",
			cfg:     ParserConfig{Type: ParserLogfmt, Timestamp: &TimestampConfig{ParseFrom: "t", Layout: "%Y-%m-%d"}},
			line:    "t=yesterday",
			attrs:   map[string]any{"t": "yesterday"},
			failure: reasonTimestamp,
		},
		{
			name:    "unknown severity",
			cfg:     ParserConfig{Type: ParserLogfmt, Severity: &SeverityConfig{ParseFrom: "level"}},
			line:    "level=chatty",
			attrs:   map[string]any{"level": "chatty"},
			failure: reasonSeverity,
		},
		{
			name:    "unterminated logfmt quote",
			cfg:     ParserConfig{Type: ParserLogfmt},
			line:    `a="b`,
			attrs:   map[string]any{},
			failure: reasonParse,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := newParser(&c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := plog.NewLogRecord()
			rec.Body().SetStr(c.line)
			if got := p.parse(c.line, rec); got != c.failure {
				t.Errorf("failure %q, want %q", got, c.failure)
			}
			if got := rec.Attributes().AsRaw(); !equalRaw(got, c.attrs) {
				t.Errorf("attributes %v, want %v", got, c.attrs)
			}
			body := c.body
			if body == "" {
				body = c.line
			}
			if rec.Body().AsString() != body {
				t.Errorf("body %q, want %q", rec.Body().AsString(), body)
			}
			if !c.time.IsZero() && !rec.Timestamp().AsTime().Equal(c.time) {
				t.Errorf("time %s, want %s", rec.Timestamp().AsTime(), c.time)
			}
			if rec.SeverityNumber() != c.sev {
				t.Errorf("severity %v, want %v", rec.SeverityNumber(), c.sev)
			}
		})
	}
}

func equalRaw(a, b map[string]any) bool {
	return len(a) == len(b) && fmtRaw(a) == fmtRaw(b)
}

func TestStrptime(t *testing.T) {
	for in, want := range map[string]string{
		"%Y-%m-%d %H:%M:%S":    "2006-01-02 15:04:05",
		"%d/%b/%Y:%H:%M:%S %z": "02/Jan/2006:15:04:05 -0700",
		"%a %e %T.%L %p %%":    "Mon _2 15:04:05.000 PM %",
	} {
		got, err := strptimeToGo(in)
		if err != nil || got != want {
			t.Errorf("strptimeToGo(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"%Q", "%"} {
		if _, err := strptimeToGo(bad); err == nil {
			t.Errorf("strptimeToGo(%q): no error", bad)
		}
	}
}
