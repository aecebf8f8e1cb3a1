package otlpsink

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/outpost-edge/outpost/pipeline"
)

func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for r := range 2 {
		sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
		sm.Metrics().AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(int64(r))
		sum := sm.Metrics().AppendEmpty().SetEmptySum()
		sum.DataPoints().AppendEmpty()
		sum.DataPoints().AppendEmpty()
		sm.Metrics().AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty().SetCount(3)
		sm.Metrics().AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
		sm.Metrics().AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
		sm.Metrics().AppendEmpty().SetName("no data")
	}
	return md
}

func testLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("a")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.LogRecords().AppendEmpty()
	sl.LogRecords().AppendEmpty()
	ld.ResourceLogs().AppendEmpty()
	return ld
}

func TestCountItemsAgreesWithPdata(t *testing.T) {
	tb, _ := ptraceotlp.NewExportRequestFromTraces(traces(17)).MarshalProto()
	mb, _ := pmetricotlp.NewExportRequestFromMetrics(testMetrics()).MarshalProto()
	lb, _ := plogotlp.NewExportRequestFromLogs(testLogs()).MarshalProto()
	for _, tc := range []struct {
		sig  pipeline.Signal
		body []byte
		want int
	}{
		{pipeline.SignalTraces, tb, 17},
		{pipeline.SignalMetrics, mb, testMetrics().DataPointCount()},
		{pipeline.SignalLogs, lb, 3},
		{pipeline.SignalTraces, nil, 0},
		// The deprecated instrumentation_library_spans (1000), used only
		// when scope_spans is absent.
		{pipeline.SignalTraces, deprecatedTraces(2), 2},
	} {
		got, err := countItems(tc.sig, tc.body)
		if err != nil || got != tc.want {
			t.Errorf("%s: %d, %v; want %d", tc.sig, got, err, tc.want)
		}
		if n, err := pdataCount(tc.sig, tc.body); err != nil || n != tc.want {
			t.Errorf("%s: pdata counts %d, %v; want %d", tc.sig, n, err, tc.want)
		}
	}
	if _, err := countItems(pipeline.SignalTraces, []byte{0x0a, 0x05, 1}); err == nil {
		t.Error("truncated message accepted")
	}
}

// deprecatedTraces encodes n spans under ResourceSpans field 1000.
func deprecatedTraces(n int) []byte {
	var scope []byte
	for range n {
		scope = protowire.AppendTag(scope, 2, protowire.BytesType)
		scope = protowire.AppendBytes(scope, nil)
	}
	rs := protowire.AppendTag(nil, 1000, protowire.BytesType)
	rs = protowire.AppendBytes(rs, scope)
	req := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(req, rs)
}

func pdataCount(sig pipeline.Signal, body []byte) (int, error) {
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		err := req.UnmarshalProto(body)
		return req.Traces().SpanCount(), err
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		err := req.UnmarshalProto(body)
		return req.Metrics().DataPointCount(), err
	default:
		req := plogotlp.NewExportRequest()
		err := req.UnmarshalProto(body)
		return req.Logs().LogRecordCount(), err
	}
}

// FuzzCountItems checks that the wire walker never panics and, when both it
// and pdata accept a body, counts what pdata counts. Either may accept what
// the other refuses: the walker does not look inside items, and pdata skips
// some malformed unknown fields (groups) that the walker refuses.
func FuzzCountItems(f *testing.F) {
	tb, _ := ptraceotlp.NewExportRequestFromTraces(traces(3)).MarshalProto()
	mb, _ := pmetricotlp.NewExportRequestFromMetrics(testMetrics()).MarshalProto()
	lb, _ := plogotlp.NewExportRequestFromLogs(testLogs()).MarshalProto()
	f.Add(uint8(0), tb)
	f.Add(uint8(1), mb)
	f.Add(uint8(2), lb)
	f.Add(uint8(0), deprecatedTraces(3))
	f.Fuzz(func(t *testing.T, s uint8, body []byte) {
		sig := pipeline.Signals[int(s)%3]
		want, perr := pdataCount(sig, body)
		got, err := countItems(sig, body)
		if err == nil && perr == nil && got != want {
			t.Fatalf("%s: walker %d, %v; pdata %d", sig, got, err, want)
		}
	})
}
