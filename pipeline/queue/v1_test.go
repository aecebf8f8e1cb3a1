package queue

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

var update = flag.Bool("update", false, "regenerate testdata/v1 (only while format version 1 is the current one)")

const v1Dir = "testdata/v1"

// v1Created is the Created time of record i of a lane in testdata/v1.
func v1Created(lane Lane, i int) time.Time {
	return time.Date(2026, 2, 3, 4, 5, 6, 100000000*int(lane)+1000*i+7, time.UTC)
}

func v1SpanName(lane Lane, i, j int) string { return fmt.Sprintf("v1-%s-%d-%d", lane, i, j) }

func v1Body(t testing.TB, lane Lane, i int) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "upgrade-test")
	ss := rs.ScopeSpans().AppendEmpty()
	for j := range 2 {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(v1SpanName(lane, i, j))
		sp.SetTraceID([16]byte{byte(lane) + 1, byte(i) + 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
		sp.SetSpanID([8]byte{byte(lane) + 1, byte(i) + 1, byte(j) + 1, 4, 5, 6, 7, 8})
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGenerateV1 writes testdata/v1 when run with -update:
//
//	go test ./pipeline/queue/ -run TestGenerateV1 -args -update
//
// Never run it once the format version is no longer 1: the directory must
// keep what version 1 wrote (add testdata/v2 instead).
func TestGenerateV1(t *testing.T) {
	if !*update {
		t.Skip("run with -args -update to regenerate testdata/v1")
	}
	if formatVersion != 1 {
		t.Fatalf("format version is %d: testdata/v1 must not be regenerated", formatVersion)
	}
	for l := range Lane(NumLanes) {
		if err := os.RemoveAll(filepath.Join(v1Dir, l.String())); err != nil {
			t.Fatal(err)
		}
	}
	q, err := Open(Options{Dir: v1Dir, Limits: Limits{MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for l := range Lane(NumLanes) {
		for i := range 3 {
			err := q.Append(Record{Lane: l, Created: v1Created(l, i), Items: 2, Signal: "traces",
				Encoding: "proto", Compression: "", Body: v1Body(t, l, i)})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Write a cursor slot (pointing at the first record, so nothing
		// is skipped) so that the cursor format is pinned as well.
		q.mu.Lock()
		q.writeCursorLocked(&q.lanes[l], position{seg: 1, off: segHeaderSize})
		q.mu.Unlock()
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(v1Dir, lockName)); err != nil {
		t.Fatal(err)
	}
}

// TestReadV1 is the upgrade guard: this binary must read a queue directory
// written by format version 1.
func TestReadV1(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, v1Dir, dir) // README.md included: Open ignores it
	q := openQueue(t, Options{Dir: dir, Limits: Limits{MaxBytes: 1 << 20, MaxAge: 0}})
	var names []string
	for l := range Lane(NumLanes) {
		for i := range 3 {
			d := tryRead(q)
			if d == nil {
				t.Fatalf("lane %s record %d missing", l, i)
			}
			r := d.Record
			if r.Lane != l || !r.Created.Equal(v1Created(l, i)) || r.Items != 2 || r.Signal != "traces" ||
				r.Encoding != "proto" || r.Compression != "" {
				t.Fatalf("lane %s record %d: %+v", l, i, r)
			}
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(r.Body); err != nil {
				t.Fatalf("lane %s record %d: body: %v", l, i, err)
			}
			rs := req.Traces().ResourceSpans().At(0)
			if v, _ := rs.Resource().Attributes().Get("service.name"); v.Str() != "upgrade-test" {
				t.Fatalf("service.name = %q", v.Str())
			}
			spans := rs.ScopeSpans().At(0).Spans()
			var got []string
			for j := range spans.Len() {
				got = append(got, spans.At(j).Name())
			}
			if want := []string{v1SpanName(l, i, 0), v1SpanName(l, i, 1)}; !slices.Equal(got, want) {
				t.Fatalf("span names %v, want %v", got, want)
			}
			names = append(names, got...)
			q.Ack(d)
		}
	}
	if d := tryRead(q); d != nil {
		t.Fatalf("extra record %+v", d.Record)
	}
	t.Logf("read %d v1 records, spans %v", 9, names)
}
