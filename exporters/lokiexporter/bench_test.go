package lokiexporter

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/outpost-edge/outpost/internal/testutil"
)

const benchRecords = 1000

// benchLogs is n records as an edge node sends them: 4 services (resource
// attributes service.name, node.name, node.site, host.name, two more),
// severities mostly info with some warn and error, a trace context on
// half of them, three attributes each, one body in four a map, each
// service's records in time order (TestTranslate covers unordered input).
func benchLogs(n int) plog.Logs {
	ld := plog.NewLogs()
	const services = 4
	for s := range services {
		rl := ld.ResourceLogs().AppendEmpty()
		a := rl.Resource().Attributes()
		a.PutStr("service.name", fmt.Sprintf("service-%d", s))
		a.PutStr("node.name", "edge-17")
		a.PutStr("node.site", "plant-3")
		a.PutStr("host.name", "edge-17.plant-3.example")
		a.PutStr("service.version", "1.8.2")
		a.PutStr("deployment.environment", "production")
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("github.com/example/app/log")
		for i := s; i < n; i += services {
			r := sl.LogRecords().AppendEmpty()
			r.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond)))
			switch {
			case i%10 == 0:
				r.SetSeverityNumber(plog.SeverityNumberError)
				r.SetSeverityText("ERROR")
			case i%5 == 0:
				r.SetSeverityNumber(plog.SeverityNumberWarn)
				r.SetSeverityText("WARN")
			default:
				r.SetSeverityNumber(plog.SeverityNumberInfo)
				r.SetSeverityText("INFO")
			}
			if i%2 == 0 {
				r.SetTraceID(traceID)
				r.SetSpanID(spanID)
			}
			r.Attributes().PutStr("http.method", "GET")
			r.Attributes().PutStr("http.route", "/api/v1/orders/{id}")
			r.Attributes().PutInt("http.status_code", 200)
			if i%4 == 0 {
				m := r.Body().SetEmptyMap()
				m.PutStr("msg", "order processed")
				m.PutInt("order_id", int64(100000+i))
				m.PutDouble("took_ms", 12.5)
			} else {
				r.Body().SetStr(fmt.Sprintf("GET /api/v1/orders/%d 200 12.5ms user=%d", 100000+i, i%97))
			}
		}
	}
	return ld
}

// BenchmarkTranslate measures the translation of a batch to a
// push.PushRequest, and the whole encoding (translate, protobuf, snappy)
// that runs once per batch, per record: ns/record, B/record and
// allocs/record besides the per-batch figures. "large" is a 1000-record
// batch as the batch processor forms them (12 streams), "small" one SDK
// export of 20 records. Bytes/s are of the batch as OTLP protobuf;
// body-B/op is what goes on the wire.
func BenchmarkTranslate(b *testing.B) {
	for _, size := range []struct {
		name    string
		records int
	}{{"large", benchRecords}, {"small", 20}} {
		ld := benchLogs(size.records)
		raw, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		for _, format := range []string{BodyJSON, BodyLogfmt} {
			tr := mustTranslator(b, cfgWith(func(c *Config) { c.BodyFormat = format }))
			b.Run("translate/"+format+"/"+size.name, func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				testutil.PerItem(b, size.records, "record", func() { _ = tr.translate(ld, testNow) })
			})
			b.Run("encode/"+format+"/"+size.name, func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				var body int
				testutil.PerItem(b, size.records, "record", func() {
					r, err := encode(tr, ld, size.records, testNow)
					if err != nil {
						b.Fatal(err)
					}
					body = len(r.Body)
				})
				b.ReportMetric(float64(body), "body-B/op")
			})
		}
	}
}
