package lokiexporter

import (
	"context"
	"github.com/klauspost/compress/snappy"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline/sender"
)

// TestFault10_LokiTooLargeIsSplit: Loki answers 413 to a push; the request
// is sent again in two halves and every entry arrives. Before, a 413 was
// permanent and every record of the request was dropped.
func TestFault10_LokiTooLargeIsSplit(t *testing.T) {
	loki := startFakeLoki(t)
	tel := selftelemetry.New()
	e := startExporter(t, wireConfig(loki.url(), nil), "", tel)
	loki.set(func(f *fakeLoki) {
		f.script = []answer{{status: 413, body: "request body too large"}}
	})
	ld := wireLogs()
	err := e.ConsumeLogs(context.Background(), ld)
	failed := testutil.ToFloat64(tel.ExporterFailed.WithLabelValues(e.id, "logs", sender.ReasonTooLarge)) +
		testutil.ToFloat64(tel.ExporterFailed.WithLabelValues(e.id, "logs", sender.ReasonPermanent))
	t.Logf("%d log records, Loki answered 413 once: %d entries arrived in %d pushes (%d attempts), %g dropped; err %v",
		ld.LogRecordCount(), loki.entries(), len(loki.received()), loki.attemptCount(), failed, err)
	if err != nil || loki.entries() != ld.LogRecordCount() || failed != 0 || len(loki.received()) != 2 {
		t.Errorf("err %v, entries %d of %d, dropped %g, pushes %d (want 2)", err, loki.entries(), ld.LogRecordCount(), failed, len(loki.received()))
	}
}

// splitPush keeps every entry, and refuses a body whose count differs
// from its record.
func TestSplitPush(t *testing.T) {
	tr := mustTranslator(t, cfgWith(nil))
	ld := wireLogs()
	r, err := encode(tr, ld, ld.LogRecordCount(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	// As the Output sends it: compressed for the wire.
	r.Body, r.Compression = snappy.Encode(nil, r.Body), compressionSnappy
	a, b, err := splitPush(r)
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := decodeBody(a.Body)
	rb, _ := decodeBody(b.Body)
	na, nb := 0, 0
	for _, s := range ra.Streams {
		na += len(s.Entries)
	}
	for _, s := range rb.Streams {
		nb += len(s.Entries)
	}
	if na != a.Items || nb != b.Items || na+nb != ld.LogRecordCount() || a.Compression != compressionSnappy {
		t.Errorf("halves %d (%d) + %d (%d) entries of %d", na, a.Items, nb, b.Items, ld.LogRecordCount())
	}
	r.Items++
	if _, _, err := splitPush(r); err == nil {
		t.Error("a body with fewer entries than its record says was split")
	}
}
