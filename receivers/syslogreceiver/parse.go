package syslogreceiver

import (
	"bytes"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Attribute keys, as the OpenTelemetry Collector's syslog parser names
// them.
const (
	attrPriority       = "priority"
	attrFacility       = "facility"
	attrVersion        = "version"
	attrHostname       = "hostname"
	attrAppname        = "appname"
	attrProcID         = "proc_id"
	attrMsgID          = "msg_id"
	attrStructuredData = "structured_data"
)

// fallbackPriority is the PRI that RFC 3164 (4.3.3) has a relay give a
// message without a valid one: facility user, severity notice.
const fallbackPriority = 13

// severities maps a syslog severity (0 emergency to 7 debug) to the
// OpenTelemetry severity number and text, as the Collector's syslog parser
// does: the number keeps the order, the text is the syslog keyword.
var severities = [8]struct {
	number plog.SeverityNumber
	text   string
}{
	{plog.SeverityNumberFatal, "emerg"},
	{plog.SeverityNumberError3, "alert"},
	{plog.SeverityNumberError2, "crit"},
	{plog.SeverityNumberError, "err"},
	{plog.SeverityNumberWarn, "warning"},
	{plog.SeverityNumberInfo2, "notice"},
	{plog.SeverityNumberInfo, "info"},
	{plog.SeverityNumberDebug, "debug"},
}

// message is one received syslog message: parsed, or, when it did not
// parse, its text as received.
type message struct {
	parsed syslog.Message // nil: did not parse
	raw    string         // parsed == nil: the whole message
	// pri is the message's PRI when it did not parse: the valid <N>
	// prefix, or fallbackPriority.
	pri      uint8
	received time.Time
}

// parser parses messages in one format. It is used by one goroutine (the
// machines keep state between calls).
type parser struct {
	machine syslog.Machine
	loc     *time.Location
}

// newParser makes a parser for protocol (rfc5424, rfc3164 or auto);
// loc is the time zone of RFC 3164 timestamps. embeddedNewlines lets an
// RFC 3164 message hold line breaks (octet counting, UDP), where the
// framing, not a newline, ends a message.
func newParser(protocol string, loc *time.Location, embeddedNewlines bool) *parser {
	opts3164 := []syslog.MachineOption{
		rfc3164.WithLocaleTimezone(loc),
		rfc3164.WithRFC3339(),
		rfc3164.WithSecondFractions(),
		rfc3164.WithLenientDay(),
	}
	if embeddedNewlines {
		opts3164 = append(opts3164, rfc3164.WithEmbeddedNewlines())
	}
	var m syslog.Machine
	switch protocol {
	case ProtocolRFC3164:
		m = rfc3164.NewMachine(opts3164...)
	case ProtocolAuto:
		m = auto.NewMachine(auto.WithRFC3164Options(opts3164...))
	default:
		m = rfc5424.NewMachine()
	}
	return &parser{machine: m, loc: loc}
}

// parse parses b (not kept: the result copies what it needs). A message
// that does not parse, or parses without a valid PRI, is kept whole as its
// text, as RFC 3164 has a relay do.
func (p *parser) parse(b []byte, received time.Time) message {
	m, err := p.machine.Parse(b)
	if err == nil && m != nil && m.Valid() && hasPriority(m) {
		return message{parsed: m, received: received}
	}
	pri, rest := splitPriority(b)
	return message{raw: string(rest), pri: pri, received: received}
}

func hasPriority(m syslog.Message) bool {
	switch v := m.(type) {
	case *rfc5424.SyslogMessage:
		return v.Priority != nil
	case *rfc3164.SyslogMessage:
		return v.Priority != nil
	}
	return false
}

// splitPriority returns the PRI of a "<N>" prefix (N at most 191, at most
// three digits, no leading zero) and the rest of b, or fallbackPriority and
// b whole.
func splitPriority(b []byte) (uint8, []byte) {
	if len(b) < 3 || b[0] != '<' {
		return fallbackPriority, b
	}
	end := bytes.IndexByte(b[:min(len(b), 5)], '>')
	if end < 2 {
		return fallbackPriority, b
	}
	digits := b[1:end]
	if len(digits) > 1 && digits[0] == '0' {
		return fallbackPriority, b
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return fallbackPriority, b
		}
		n = n*10 + int(c-'0')
	}
	if n > 191 {
		return fallbackPriority, b
	}
	return uint8(n), b[end+1:]
}

// appendTo fills lr from m. The body is the MSG part (the whole text when
// the message did not parse); the header fields become attributes named
// as the Collector names them; the timestamp is the message's (an RFC
// 3164 one put in a year by putYear), the observed timestamp when it was
// read.
func (m *message) appendTo(lr plog.LogRecord, loc *time.Location) {
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(m.received))
	attrs := lr.Attributes()
	attrs.EnsureCapacity(8) // the most appendTo puts: one growth instead of several
	if m.parsed == nil {
		setPriority(lr, m.pri)
		lr.Body().SetStr(m.raw)
		return
	}
	var base *syslog.Base
	switch v := m.parsed.(type) {
	case *rfc5424.SyslogMessage:
		base = &v.Base
		attrs.PutInt(attrVersion, int64(v.Version))
		if v.StructuredData != nil && len(*v.StructuredData) > 0 {
			sd := attrs.PutEmptyMap(attrStructuredData)
			for id, params := range *v.StructuredData {
				pm := sd.PutEmptyMap(id)
				for k, val := range params {
					pm.PutStr(k, val)
				}
			}
		}
	case *rfc3164.SyslogMessage:
		base = &v.Base
	default:
		return
	}
	if base.Priority != nil {
		setPriority(lr, *base.Priority)
	}
	if base.Timestamp != nil {
		ts := *base.Timestamp
		if ts.Year() == 0 {
			ts = putYear(ts, m.received, loc)
		}
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	}
	putStr := func(key string, v *string) {
		if v != nil && *v != "" {
			attrs.PutStr(key, *v)
		}
	}
	putStr(attrHostname, base.Hostname)
	putStr(attrAppname, base.Appname)
	putStr(attrProcID, base.ProcID)
	putStr(attrMsgID, base.MsgID)
	if base.Message != nil {
		lr.Body().SetStr(*base.Message)
	} else {
		lr.Body().SetStr("")
	}
}

func setPriority(lr plog.LogRecord, pri uint8) {
	sev := severities[pri%8]
	lr.SetSeverityNumber(sev.number)
	lr.SetSeverityText(sev.text)
	lr.Attributes().PutInt(attrPriority, int64(pri))
	lr.Attributes().PutInt(attrFacility, int64(pri/8))
}

// putYear gives an RFC 3164 timestamp (month, day and time, parsed in
// loc, year 0) a year: the year of now in loc, or the year before when
// that would put it more than a day after now (a message of 31 December
// read on 1 January; a day allows for clocks that are off).
func putYear(ts, now time.Time, loc *time.Location) time.Time {
	ts = ts.In(loc)
	year := now.In(loc).Year()
	t := time.Date(year, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), loc)
	if t.Sub(now) > 24*time.Hour {
		t = time.Date(year-1, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), loc)
	}
	return t
}
