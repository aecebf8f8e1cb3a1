package syslogreceiver

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

func TestParseMapping(t *testing.T) {
	received := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		protocol string
		loc      *time.Location
		in       string
		ts       time.Time // zero: none
		sev      plog.SeverityNumber
		sevText  string
		body     string
		attrs    map[string]any
	}{
		{
			name: "rfc5424 with structured data", protocol: ProtocolRFC5424, loc: time.UTC,
			in:  `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 42 ID47 [exampleSDID@32473 iut="3" eventSource="Application"][meta seq="7"] An application event`,
			ts:  time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC),
			sev: plog.SeverityNumberInfo2, sevText: "notice", body: "An application event",
			attrs: map[string]any{"priority": int64(165), "facility": int64(20), "version": int64(1), "hostname": "mymachine.example.com",
				"appname": "evntslog", "proc_id": "42", "msg_id": "ID47",
				"structured_data": map[string]any{"exampleSDID@32473": map[string]any{"iut": "3", "eventSource": "Application"}, "meta": map[string]any{"seq": "7"}}},
		},
		{
			name: "rfc5424 nil fields", protocol: ProtocolRFC5424, loc: time.UTC,
			in:  `<8>1 - - - - - -`,
			sev: plog.SeverityNumberFatal, sevText: "emerg", body: "",
			attrs: map[string]any{"priority": int64(8), "facility": int64(1), "version": int64(1)},
		},
		{
			name: "rfc3164 in a time zone, year from the receive time", protocol: ProtocolRFC3164, loc: berlin,
			in:  `<34>Mar  1 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8`,
			ts:  time.Date(2026, 3, 1, 22, 14, 15, 0, berlin),
			sev: plog.SeverityNumberError2, sevText: "crit", body: "'su root' failed for lonvick on /dev/pts/8",
			attrs: map[string]any{"priority": int64(34), "facility": int64(4), "hostname": "mymachine", "appname": "su", "proc_id": "123"},
		},
		{
			name: "rfc3164 from last December", protocol: ProtocolRFC3164, loc: time.UTC,
			in:  `<14>Dec 31 23:59:59 host app: bye`,
			ts:  time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC),
			sev: plog.SeverityNumberInfo, sevText: "info", body: "bye",
			attrs: map[string]any{"priority": int64(14), "facility": int64(1), "hostname": "host", "appname": "app"},
		},
		{
			name: "auto takes rfc5424", protocol: ProtocolAuto, loc: time.UTC,
			in:  `<11>1 2026-03-15T11:00:00+01:00 h a - - - boom`,
			ts:  time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC),
			sev: plog.SeverityNumberError, sevText: "err", body: "boom",
			attrs: map[string]any{"priority": int64(11), "facility": int64(1), "version": int64(1), "hostname": "h", "appname": "a"},
		},
		{
			name: "auto takes rfc3164", protocol: ProtocolAuto, loc: time.UTC,
			in:  `<12>Mar 15 11:00:00 h a: warn`,
			ts:  time.Date(2026, 3, 15, 11, 0, 0, 0, time.UTC),
			sev: plog.SeverityNumberWarn, sevText: "warning", body: "warn",
			attrs: map[string]any{"priority": int64(12), "facility": int64(1), "hostname": "h", "appname": "a"},
		},
		{
			name: "rfc5424 parser given rfc3164 keeps the text", protocol: ProtocolRFC5424, loc: time.UTC,
			in:  `<15>Mar 15 11:00:00 h a: dbg`,
			sev: plog.SeverityNumberDebug, sevText: "debug", body: "Mar 15 11:00:00 h a: dbg",
			attrs: map[string]any{"priority": int64(15), "facility": int64(1)},
		},
		{
			name: "no PRI: user.notice, whole text", protocol: ProtocolAuto, loc: time.UTC,
			in:  `just some text`,
			sev: plog.SeverityNumberInfo2, sevText: "notice", body: "just some text",
			attrs: map[string]any{"priority": int64(13), "facility": int64(1)},
		},
		{
			name: "PRI out of range: user.notice, whole text", protocol: ProtocolRFC3164, loc: time.UTC,
			in:  `<192>x`,
			sev: plog.SeverityNumberInfo2, sevText: "notice", body: "<192>x",
			attrs: map[string]any{"priority": int64(13), "facility": int64(1)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newParser(c.protocol, c.loc, true)
			m := p.parse([]byte(c.in), received)
			lr := plog.NewLogRecord()
			m.appendTo(lr, c.loc)
			var want int64
			if !c.ts.IsZero() {
				want = c.ts.UnixNano()
			}
			if got := int64(lr.Timestamp()); got != want {
				t.Errorf("timestamp %s, want %s", lr.Timestamp().AsTime(), c.ts)
			}
			if lr.ObservedTimestamp().AsTime() != received {
				t.Errorf("observed %s", lr.ObservedTimestamp().AsTime())
			}
			if lr.SeverityNumber() != c.sev || lr.SeverityText() != c.sevText {
				t.Errorf("severity %v %q, want %v %q", lr.SeverityNumber(), lr.SeverityText(), c.sev, c.sevText)
			}
			if lr.Body().Str() != c.body {
				t.Errorf("body %q, want %q", lr.Body().Str(), c.body)
			}
			got := lr.Attributes().AsRaw()
			if len(got) != len(c.attrs) {
				t.Errorf("attributes %v, want %v", got, c.attrs)
			}
			for k, v := range c.attrs {
				if !equalRaw(got[k], v) {
					t.Errorf("attribute %s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
}

func equalRaw(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok != bok {
		return false
	}
	if !aok {
		return a == b
	}
	if len(am) != len(bm) {
		return false
	}
	for k := range am {
		if !equalRaw(am[k], bm[k]) {
			return false
		}
	}
	return true
}

func TestPutYear(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC)
	cases := []struct {
		month time.Month
		day   int
		want  int
	}{
		{time.December, 31, 2026}, // yesterday
		{time.January, 1, 2027},   // today
		{time.January, 2, 2027},   // a day ahead: a clock that is off
		{time.January, 3, 2026},   // more than a day ahead: last year
	}
	for _, c := range cases {
		ts := time.Date(0, c.month, c.day, 0, 0, 0, 0, time.UTC)
		if got := putYear(ts, now, time.UTC).Year(); got != c.want {
			t.Errorf("%s %d: year %d, want %d", c.month, c.day, got, c.want)
		}
	}
}

func TestSplitPriority(t *testing.T) {
	cases := []struct {
		in   string
		pri  uint8
		rest string
	}{
		{"<0>a", 0, "a"}, {"<191>a", 191, "a"}, {"<192>a", 13, "<192>a"}, {"<01>a", 13, "<01>a"},
		{"<>a", 13, "<>a"}, {"<1a>", 13, "<1a>"}, {"<1", 13, "<1"}, {"abc", 13, "abc"}, {"<1234>x", 13, "<1234>x"},
	}
	for _, c := range cases {
		pri, rest := splitPriority([]byte(c.in))
		if pri != c.pri || string(rest) != c.rest {
			t.Errorf("%q: %d %q, want %d %q", c.in, pri, rest, c.pri, c.rest)
		}
	}
}
