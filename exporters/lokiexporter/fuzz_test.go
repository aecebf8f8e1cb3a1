package lokiexporter

import (
	"github.com/klauspost/compress/snappy"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// FuzzTranslate feeds arbitrary OTLP logs protobuf through the whole
// encoding (translate, marshal, snappy) with both body formats. It must
// never panic, keep every record, and produce a body Loki's wire package
// decodes back.
func FuzzTranslate(f *testing.F) {
	for _, ld := range []plog.Logs{wireLogs(), benchLogs(20)} {
		b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x0a\x00"))
	json := mustTranslator(f, cfgWith(nil))
	logfmt := mustTranslator(f, cfgWith(func(c *Config) { c.BodyFormat = BodyLogfmt; c.ResourceAttributes = ResourceDrop }))
	f.Fuzz(func(t *testing.T, data []byte) {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			return
		}
		ld := req.Logs()
		n := ld.LogRecordCount()
		for _, tr := range []*translator{json, logfmt} {
			r, err := encode(tr, ld, n, testNow)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			back, err := decodeBody(snappy.Encode(nil, r.Body)) // the Output's wire compression
			if err != nil {
				t.Fatalf("decode what we encoded: %v", err)
			}
			got := 0
			for _, s := range back.Streams {
				if len(s.Labels) < 2 || s.Labels[0] != '{' || s.Labels[len(s.Labels)-1] != '}' {
					t.Fatalf("stream labels %q", s.Labels)
				}
				got += len(s.Entries)
			}
			if got != n {
				t.Fatalf("%d entries for %d records", got, n)
			}
		}
	})
}
