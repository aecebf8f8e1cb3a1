package syslogreceiver

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzFrameReader: any byte stream, in every framing, must be split
// without a panic into messages no larger than the maximum, ending in EOF,
// a skipped too-large message, or a framing error.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte("5 hello3 abc"), uint8(0), uint16(16))
	f.Add([]byte("<14>a\n<14>b\r\n\n"), uint8(2), uint16(8))
	f.Add([]byte("<14>a\x00<14>b"), uint8(2), uint16(8))
	f.Add([]byte("99999999999 x"), uint8(1), uint16(100))
	f.Add([]byte("12 short"), uint8(1), uint16(100))
	f.Add(bytes.Repeat([]byte("z"), 5000), uint8(0), uint16(4096))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8, maxSize uint16) {
		size := int(maxSize)%8192 + 1
		trailer := byte('\n')
		if mode&4 != 0 {
			trailer = 0
		}
		fr := newFrameReader(bytes.NewReader(in), framing(mode%3), trailer, size)
		for range len(in) + 1 {
			msg, err := fr.next()
			switch {
			case err == nil:
				if len(msg) == 0 || len(msg) > size {
					t.Fatalf("message of %d bytes (max %d)", len(msg), size)
				}
			case errors.Is(err, errTooLarge):
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errFraming):
				return
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		t.Fatalf("more messages than input bytes")
	})
}

// fuzzParse: any message, in one protocol, must become a record without a
// panic, with a severity and the text kept when it did not parse.
func fuzzParse(f *testing.F, protocol string) {
	for _, s := range []string{
		`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event`,
		`<34>Oct 11 22:14:15 mymachine su: 'su root' failed`,
		`<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!`,
		`<0>1 - - - - - -`,
		`<191>1 2026-01-01T00:00:00+14:00 h a p m [a b="\]"] x`,
		`no pri at all`,
		`<999>x`,
		"<14>Mar 15 11:00:00 h a: line\nbreak",
	} {
		f.Add([]byte(s))
	}
	loc, _ := time.LoadLocation("America/New_York")
	p := newParser(protocol, loc, true)
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in []byte) {
		m := p.parse(in, now)
		lr := plog.NewLogRecord()
		m.appendTo(lr, loc)
		if lr.SeverityNumber() == plog.SeverityNumberUnspecified {
			t.Fatalf("no severity for %q", in)
		}
		if m.parsed == nil && m.raw == "" && len(in) > 0 && !bytes.HasPrefix(in, []byte("<")) {
			t.Fatalf("text of %q lost", in)
		}
	})
}

func FuzzParseRFC5424(f *testing.F) { fuzzParse(f, ProtocolRFC5424) }
func FuzzParseRFC3164(f *testing.F) { fuzzParse(f, ProtocolRFC3164) }
func FuzzParseAuto(f *testing.F)    { fuzzParse(f, ProtocolAuto) }
