package redactionprocessor

import (
	"context"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/pipeline"
)

// BenchmarkRedactionLogs redacts batches of 1000 log records with the
// corpus configuration (six blocked value patterns, one blocked key
// pattern): each record has six attributes and a string body, and one in
// ten carries a card number, an e-mail address and a token. It reports the
// cost per record.
func BenchmarkRedactionLogs(b *testing.B) {
	const n = 1000
	p, err := newProcessor(pipeline.Settings{}, corpusConfig(b), pipeline.SignalLogs, false)
	if err != nil {
		b.Fatal(err)
	}
	src := plog.NewLogs()
	rl := src.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "shop-gateway")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range n {
		lr := lrs.AppendEmpty()
		a := lr.Attributes()
		a.PutStr("http.route", "/api/v1/orders/{id}")
		a.PutStr("order.id", "ord-"+strconv.Itoa(i))
		a.PutInt("http.status_code", 200)
		a.PutDouble("duration_ms", 12.5)
		a.PutStr("user.tier", "gold")
		if i%10 == 0 {
			a.PutStr("customer.email", "user"+strconv.Itoa(i)+"@example.com")
			lr.Body().SetStr("payment declined for card 4111 1111 1111 1111, retry with Bearer abc.def.ghi")
		} else {
			a.PutStr("customer.id", "c-"+strconv.Itoa(i))
			lr.Body().SetStr("GET /api/v1/orders/" + strconv.Itoa(i) + " 200 in 12ms from worker 3")
		}
	}
	var ld plog.Logs
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ld = plog.NewLogs()
		src.CopyTo(ld)
		b.StartTimer()
		p.logs(context.Background(), ld)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
