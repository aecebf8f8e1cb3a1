package journaldreceiver

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

func TestDecodeEntry(t *testing.T) {
	for _, c := range []struct {
		name, line string
		body       any
		sev        plog.SeverityNumber
		ts         int64
		attrs      map[string]any
		err        string
	}{
		{"plain", `{"__CURSOR":"c1","MESSAGE":"hi","PRIORITY":"6","__REALTIME_TIMESTAMP":"1700000000000001","_PID":"42"}`,
			"hi", plog.SeverityNumberInfo, 1700000000000001000, map[string]any{"__CURSOR": "c1", "_PID": "42"}, ""},
		{"binary message, utf-8", `{"__CURSOR":"c","MESSAGE":[104,105,10]}`, "hi\n", 0, 0, map[string]any{"__CURSOR": "c"}, ""},
		{"binary message, not utf-8", `{"__CURSOR":"c","MESSAGE":[255,0]}`, []byte{255, 0}, 0, 0, map[string]any{"__CURSOR": "c"}, ""},
		{"repeated and binary fields", `{"__CURSOR":"c","TAG":["a","b"],"BLOB":[1,2],"BLOBS":[[1],[2,3]],"BIG":null}`, "", 0, 0,
			map[string]any{"__CURSOR": "c", "TAG": []any{"a", "b"}, "BLOB": []byte{1, 2}, "BLOBS": []any{[]byte{1}, []byte{2, 3}}}, ""},
		{"priority out of range stays an attribute", `{"__CURSOR":"c","PRIORITY":"9"}`, "", 0, 0, map[string]any{"__CURSOR": "c", "PRIORITY": "9"}, ""},
		{"every priority", `{"__CURSOR":"c","PRIORITY":"0"}`, "", plog.SeverityNumberFatal, 0, map[string]any{"__CURSOR": "c"}, ""},
		{"no cursor", `{"MESSAGE":"x"}`, nil, 0, 0, nil, "no __CURSOR"},
		{"not an object", `["x"]`, nil, 0, 0, nil, "JSON object"},
		{"byte over 255", `{"__CURSOR":"c","B":[256]}`, nil, 0, 0, nil, "bytes"},
		{"number value", `{"__CURSOR":"c","B":5}`, nil, 0, 0, nil, "unexpected value"},
		{"trailing data", `{"__CURSOR":"c"} {}`, nil, 0, 0, nil, "after the entry"},
		{"truncated", `{"__CURSOR":"c"`, nil, 0, 0, nil, "EOF"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lr := plog.NewLogRecord()
			_, err := decodeEntry([]byte(c.line), lr)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body := lr.Body().AsRaw()
			if c.body == "" && body == nil {
				body = ""
			}
			if !reflect.DeepEqual(body, c.body) || lr.SeverityNumber() != c.sev || int64(lr.Timestamp()) != c.ts {
				t.Fatalf("body %#v sev %v ts %d", body, lr.SeverityNumber(), lr.Timestamp())
			}
			if got := lr.Attributes().AsRaw(); fmt.Sprint(got) != fmt.Sprint(c.attrs) {
				t.Fatalf("attributes %v, want %v", got, c.attrs)
			}
		})
	}
}

// FuzzDecodeEntry: any line decodes or fails, never panics; a decoded
// entry always has its cursor.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(`{"__CURSOR":"s=1;i=2","MESSAGE":"hi","PRIORITY":"3","__REALTIME_TIMESTAMP":"1700000000000000","TAG":["a","b"],"B":[1,2],"BB":[[1],[2]],"N":null}`))
	f.Add([]byte(`{"__CURSOR":"c","MESSAGE":[255,0,10]}`))
	f.Add([]byte(`{"__CURSOR":"c","MESSAGE":["a",[1]]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		lr := plog.NewLogRecord()
		cursor, err := decodeEntry(line, lr)
		if err == nil && cursor == "" {
			t.Fatal("decoded an entry without a cursor")
		}
	})
}

func TestReadLine(t *testing.T) {
	// Exercised through the receiver; here the cap: a line longer than
	// the limit is skipped whole, the next one read.
	r := strings.NewReader(strings.Repeat("x", 100) + "\nshort\n")
	br := newTestReader(r)
	line, tooLong, err := readLine(br, 50)
	if !tooLong || line != nil || err != nil {
		t.Fatalf("long line: %q %v %v", line, tooLong, err)
	}
	line, tooLong, err = readLine(br, 50)
	if tooLong || string(line) != "short\n" || err != nil {
		t.Fatalf("next line: %q %v %v", line, tooLong, err)
	}
}
