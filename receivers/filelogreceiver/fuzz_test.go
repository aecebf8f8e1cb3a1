package filelogreceiver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/configs"
)

func fuzzParser(f *testing.F, cfg ParserConfig, seeds ...string) {
	p, err := newParser(&cfg)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rec := plog.NewLogRecord()
		rec.Body().SetStr(line)
		failure := p.parse(line, rec)
		switch failure {
		case "", reasonParse, reasonTimestamp, reasonSeverity:
		default:
			t.Fatalf("unknown failure %q", failure)
		}
		if failure == reasonParse && rec.Body().Str() != line {
			t.Fatalf("a line that does not parse lost its body")
		}
	})
}

// FuzzJSONDecoder holds the JSON reader to encoding/json: it accepts a
// line exactly when the standard library decodes it as one object.
func FuzzJSONDecoder(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1} x`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, ` {} `, `{"a":1e400}`, `{"a":"\ud800"}`, `[]`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		stdErr := dec.Decode(&obj)
		if stdErr == nil && obj == nil {
			stdErr = errors.New("null")
		}
		if stdErr == nil {
			if _, err := dec.Token(); err != io.EOF {
				stdErr = errors.New("data after the object")
			}
		}
		err := parseJSON(line, pcommon.NewMap())
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("parseJSON(%q) = %v, encoding/json: %v", line, err, stdErr)
		}
	})
}

func FuzzJSONParser(f *testing.F) {
	fuzzParser(f, ParserConfig{Type: ParserJSON, Timestamp: &TimestampConfig{ParseFrom: "ts", LayoutType: LayoutEpoch, Layout: "ms"}, Severity: &SeverityConfig{ParseFrom: "level"}},
		`{"ts":1767000000000,"level":"info","msg":"x"}`, `{"a":{"b":[1,2.5,null,true]}}`, `{`, `[]`, `{"ts":"x"} {}`)
}

func FuzzRegexParser(f *testing.F) {
	fuzzParser(f, ParserConfig{Type: ParserRegex, Regex: `^(?P<time>\S+) (?P<level>\w+)(?: (?P<msg>.*))?$`, BodyFrom: "msg",
		Timestamp: &TimestampConfig{ParseFrom: "time", Layout: "%Y-%m-%dT%H:%M:%S%z"}, Severity: &SeverityConfig{ParseFrom: "level"}},
		"2026-01-02T03:04:05+0000 error boom", "x y", "")
}

func FuzzLogfmtParser(f *testing.F) {
	fuzzParser(f, ParserConfig{Type: ParserLogfmt, Timestamp: &TimestampConfig{ParseFrom: "t", LayoutType: LayoutEpoch, Layout: "s.ns"}, Severity: &SeverityConfig{ParseFrom: "level"}},
		`t=1.5 level=warn msg="a \"b\"" k`, `a="`, `=x`, `a=b"c`, "k=v\tk2=\"\\u00e9\"")
}

// FuzzSplitter runs the split function the receiver builds (stanza split,
// force flush, max_log_size cut, trim, offset count) over arbitrary file
// content: it never panics, never returns a record over max_log_size,
// and its offset never passes the bytes it was given.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), uint8(0), uint8(8))
	f.Add([]byte("2026 x\n y\n2026 z\n"), uint8(1), uint8(16))
	f.Add([]byte("x;y;;z"), uint8(2), uint8(1))
	f.Add([]byte("\xff\xfe\x00a\n"), uint8(3), uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, mode, maxLog uint8) {
		cfg := createDefaultConfig()
		cfg.Include = []string{"/x"}
		cfg.MaxLogSize = configs.ByteSize(1 + int(maxLog))
		cfg.PreserveLeadingWhitespaces = mode&4 != 0
		switch mode % 4 {
		case 1:
			cfg.Multiline.LineStartPattern = `^\d{4}`
		case 2:
			cfg.Multiline.LineEndPattern = `;`
		case 3:
			cfg.Encoding = "utf-16le"
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		enc, _ := lookupEncoding(cfg.Encoding)
		r := &receiver{cfg: cfg, enc: enc}
		s := &splitter{}
		sf, err := r.splitFunc(s, &fileRecord{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 16), int(cfg.MaxLogSize)+64<<10)
		sc.Split(sf)
		last := int64(0)
		for sc.Scan() {
			if len(sc.Bytes()) > int(cfg.MaxLogSize) {
				t.Fatalf("record of %d bytes over max_log_size %d", len(sc.Bytes()), cfg.MaxLogSize)
			}
			if s.pos < last || s.pos > int64(len(data)) {
				t.Fatalf("offset %d after %d, data %d bytes", s.pos, last, len(data))
			}
			last = s.pos
			line, _ := r.decode(sc.Bytes())
			if !utf8.ValidString(line) || strings.ContainsRune(line, utf8.RuneError) && cfg.Encoding == "utf-8" && utf8.Valid(sc.Bytes()) {
				t.Fatalf("decoded %q from %q", line, sc.Bytes())
			}
		}
	})
}
