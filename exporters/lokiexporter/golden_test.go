package lokiexporter

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestTranslateGolden pins the exact bytes of the PushRequests the
// translation makes (stream order and labels, entry order, lines,
// structured metadata) for realistic, edge-case and random batches under
// several configurations. The golden files were written by the
// translation as it was before it was made to allocate less; rewrite them
// with -update only for an intended change of the output.
func TestTranslateGolden(t *testing.T) {
	inputs := map[string]func() plog.Logs{
		"bench":  func() plog.Logs { return benchLogs(200) },
		"edge":   edgeLogs,
		"random": func() plog.Logs { return randomLogs(rand.New(rand.NewPCG(9, 13)), 8) },
	}
	configs := map[string]func(*Config){
		"default": nil,
		"logfmt":  func(c *Config) { c.BodyFormat = BodyLogfmt },
		"custom": func(c *Config) {
			c.ResourceAttributes = ResourceDrop
			c.Labels = []Label{
				{Resource: "service.name"},
				{Label: "route", Attribute: "http.route", Default: "none"},
				{Attribute: "a.b"},
				{Severity: true, Default: "unknown"},
				{Label: "env", Resource: "deployment.environment"},
			}
		},
	}
	for _, in := range slices.Sorted(maps.Keys(inputs)) {
		for _, cf := range slices.Sorted(maps.Keys(configs)) {
			name := in + "-" + cf
			t.Run(name, func(t *testing.T) {
				ld := inputs[in]()
				req := mustTranslator(t, cfgWith(configs[cf])).translate(ld, testNow)
				raw, err := req.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				entries := 0
				for _, s := range req.Streams {
					entries += len(s.Entries)
				}
				if entries != ld.LogRecordCount() {
					t.Errorf("%d entries, want %d", entries, ld.LogRecordCount())
				}
				golden(t, name, raw)
			})
		}
	}
}

// golden compares raw with the golden file of name (stored
// snappy-compressed), or writes it with -update.
func golden(t *testing.T, name string, raw []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "golden")
	path := filepath.Join(dir, name+".pb.sz")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, snappy.Encode(nil, raw), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	sz, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := snappy.Decode(nil, sz)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, want) {
		i := 0
		for i < len(raw) && i < len(want) && raw[i] == want[i] {
			i++
		}
		t.Errorf("request differs from the golden one at byte %d (%d bytes, want %d)", i, len(raw), len(want))
	}
}

// edgeLogs is one batch of the cases that take the translation's side
// paths: bodies of every type (maps with nested values, NaN, bytes,
// invalid UTF-8, keys logfmt must rewrite), attribute names to sanitise
// and that collide, label values to quote, records without time or
// severity number, out of time order, more than 16 metadata entries, and
// resources without the label attributes.
func edgeLogs() plog.Logs {
	ld := plog.NewLogs()
	res := []map[string]any{
		{"service.name": "api", "node.name": "edge-1", "node.site": "s1", "host.name": "h", "a.b": "res", "9to5": 1, "deployment.environment": "prod"},
		{"node.name": "edge\"2", "node.site": "s\n2", "k8s.pod.name": "p-\xff", "level": "res-level"},
		{"service.name": "", "obj": map[string]any{"k": []any{1, 2.5, "x"}}, "bytes": []byte{0, 1, 2}},
		{},
	}
	for r, attrs := range res {
		rl := ld.ResourceLogs().AppendEmpty()
		_ = rl.Resource().Attributes().FromRaw(attrs)
		for s := range 2 {
			sl := rl.ScopeLogs().AppendEmpty()
			if s == 0 {
				sl.Scope().SetName("app/log")
				sl.Scope().SetVersion("1.2")
				sl.Scope().Attributes().PutStr("scope.kind", "x")
				sl.Scope().Attributes().PutStr("a.b", "scope")
			}
			for i := range 14 {
				lr := sl.LogRecords().AppendEmpty()
				switch i % 4 {
				case 0:
					lr.SetTimestamp(ts(time.Duration(10-i) * time.Second))
				case 1:
					lr.SetObservedTimestamp(ts(time.Duration(i) * time.Millisecond))
				case 2:
					lr.SetTimestamp(ts(time.Second))
				}
				if i%3 == 0 {
					lr.SetSeverityNumber(plog.SeverityNumber(1 + (i+r)%24))
				}
				lr.SetSeverityText([]string{"", "Warning", " INFO ", "crit"}[i%4])
				if i%2 == 0 {
					lr.SetTraceID(traceID)
				}
				if i%3 == 1 {
					lr.SetSpanID(spanID)
				}
				lr.SetFlags(plog.LogRecordFlags(i % 2))
				a := lr.Attributes()
				a.PutStr("http.route", []string{"/a", "", "/b c", "/d\"e"}[i%4])
				a.PutStr("a.b", fmt.Sprint("rec", i%2))
				a.PutStr("a_b", "collide")
				a.PutInt("n", int64(i))
				a.PutDouble("f", []float64{1.5, math.NaN(), math.Inf(-1), 1e21}[i%4])
				a.PutBool("ok", i%2 == 0)
				if i%5 == 0 {
					for k := range 18 {
						a.PutStr(fmt.Sprintf("extra.%d", k), strings.Repeat("v", k))
					}
				}
				if i%7 == 0 {
					a.PutStr("service_name", "shadow")
					a.PutStr("", "empty key")
					a.PutStr("ü", "non-ascii key")
				}
				b := lr.Body()
				switch i % 7 {
				case 0:
					b.SetStr("plain line \xff with invalid UTF-8")
				case 1:
					m := b.SetEmptyMap()
					m.PutStr("msg", "hello \"world\"\n\ttab")
					m.PutInt("n", int64(i))
					m.PutDouble("nan", math.NaN())
					m.PutDouble("inf", math.Inf(1))
					m.PutDouble("small", 1e-7)
					m.PutBool("b", true)
					m.PutEmptyBytes("raw").FromRaw([]byte("bytes"))
					m.PutEmpty("nil")
					m.PutStr("key with space=", "")
					m.PutStr("", "x")
					_ = m.PutEmptyMap("nested").FromRaw(map[string]any{"a": []any{1, "two", nil}})
					m.PutStr("ctl\x01", "v\x7f\u2028")
				case 2:
					b.SetInt(42)
				case 3:
					b.SetDouble(math.Inf(-1))
				case 4:
					_ = b.SetEmptySlice().FromRaw([]any{"a", 1.25, map[string]any{"k": "v"}})
				case 5:
					b.SetEmptyBytes().FromRaw([]byte{0xde, 0xad})
				case 6:
				}
			}
		}
	}
	return ld
}

// randomLogs makes resources resources of random records: attributes from
// a pool with collisions, random severities, bodies and timestamps. rng
// decides everything, so a seed gives the same batch.
func randomLogs(rng *rand.Rand, resources int) plog.Logs {
	keys := []string{"a", "a.b", "a_b", "http.route", "node.name", "service.name", "level", "trace_id", "", "9x", "naïve", "deployment.environment"}
	vals := []string{"", "v", "GET", "x\xffy", "with space", `q"uote`, "new\nline", "=", strings.Repeat("long", 20)}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var value func(v pcommon.Value, depth int)
	value = func(v pcommon.Value, depth int) {
		switch rng.IntN(8) {
		case 0:
			v.SetInt(rng.Int64N(1 << 40))
		case 1:
			v.SetDouble(rng.NormFloat64() * 1e3)
		case 2:
			v.SetBool(rng.IntN(2) == 0)
		case 3:
			if depth < 2 {
				m := v.SetEmptyMap()
				for range rng.IntN(4) {
					value(m.PutEmpty(pick(keys)), depth+1)
				}
				return
			}
			v.SetStr(pick(vals))
		case 4:
			if depth < 2 {
				s := v.SetEmptySlice()
				for range rng.IntN(3) {
					value(s.AppendEmpty(), depth+1)
				}
				return
			}
			v.SetStr(pick(vals))
		case 5:
			v.SetEmptyBytes().FromRaw([]byte(pick(vals)))
		default:
			v.SetStr(pick(vals))
		}
	}
	fill := func(m pcommon.Map, n int) {
		for range n {
			value(m.PutEmpty(pick(keys)), 0)
		}
	}
	ld := plog.NewLogs()
	for range resources {
		rl := ld.ResourceLogs().AppendEmpty()
		fill(rl.Resource().Attributes(), rng.IntN(6))
		for range 1 + rng.IntN(2) {
			sl := rl.ScopeLogs().AppendEmpty()
			if rng.IntN(2) == 0 {
				sl.Scope().SetName(pick(vals))
			}
			fill(sl.Scope().Attributes(), rng.IntN(2))
			for range rng.IntN(20) {
				lr := sl.LogRecords().AppendEmpty()
				if rng.IntN(5) != 0 {
					lr.SetTimestamp(ts(time.Duration(rng.IntN(4)) * time.Second))
				}
				lr.SetSeverityNumber(plog.SeverityNumber(rng.IntN(26)))
				lr.SetSeverityText(pick([]string{"", "info", "ERROR", "Warn "}))
				if rng.IntN(2) == 0 {
					lr.SetTraceID(traceID)
					lr.SetSpanID(spanID)
				}
				fill(lr.Attributes(), rng.IntN(6))
				value(lr.Body(), 0)
			}
		}
	}
	return ld
}

// TestTranslateReuse: a translator whose pooled translations and caches
// have served other batches, concurrently, translates each batch to the
// same bytes as a fresh one; and the caches stay within their bounds
// when every batch brings new names.
func TestTranslateReuse(t *testing.T) {
	marshal := func(req push.PushRequest) []byte {
		raw, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	inputs := []plog.Logs{benchLogs(200), edgeLogs(), benchLogs(3)}
	for seed := range uint64(12) {
		inputs = append(inputs, randomLogs(rand.New(rand.NewPCG(seed, 1)), 3))
	}
	cfg := cfgWith(func(c *Config) {
		c.Labels = append(DefaultLabels(), Label{Attribute: "http.route"}, Label{Label: "n", Attribute: "n"})
	})
	want := make([][]byte, len(inputs))
	for i, ld := range inputs {
		want[i] = marshal(mustTranslator(t, cfg).translate(ld, testNow))
	}
	shared := mustTranslator(t, cfg)
	done := make(chan error, 4)
	for w := range 4 {
		go func() {
			for round := range 5 {
				for k := range inputs {
					i := (k + w + round) % len(inputs)
					if got := marshal(shared.translate(inputs[i], testNow)); !bytes.Equal(got, want[i]) {
						done <- fmt.Errorf("worker %d round %d: batch %d differs from a fresh translator's", w, round, i)
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute):
			t.Fatal("workers did not finish within a minute")
		}
	}

	// Every batch with new attribute keys, label values and severity
	// texts: the caches are emptied at their bounds, and the output
	// stays right.
	tr := mustTranslator(t, cfg)
	for i := range 3 * maxCacheEntries / 100 {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for j := range 100 {
			lr := lrs.AppendEmpty()
			lr.SetTimestamp(ts(time.Duration(j)))
			lr.SetSeverityText(fmt.Sprintf("LEVEL%d", i*100+j))
			lr.Attributes().PutInt("n", int64(i*100+j))
			lr.Attributes().PutStr(fmt.Sprintf("key.%d", i*100+j), "v")
		}
		req := tr.translate(ld, testNow)
		if len(req.Streams) != 100 {
			t.Fatalf("batch %d: %d streams, want 100", i, len(req.Streams))
		}
		k := i*100 + 99
		wantLabels := fmt.Sprintf(`{level="level%d", n="%d", service_name="unknown_service"}`, k, k)
		wantMeta := fmt.Sprintf("key_%d", k)
		found := false
		for _, s := range req.Streams {
			if s.Labels == wantLabels {
				found = true
				if md := s.Entries[0].StructuredMetadata; len(md) != 2 || md[1].Name != wantMeta {
					t.Fatalf("batch %d: stream %s has metadata %v, want severity_text and %s", i, s.Labels, md, wantMeta)
				}
			}
		}
		if !found {
			t.Fatalf("batch %d: no stream %s", i, wantLabels)
		}
	}
	tl := tr.get(testNow)
	if n := len(tl.names) + len(tl.interned) + len(tl.lower); n > maxCacheEntries || tl.cached > maxCacheBytes {
		t.Errorf("caches hold %d entries, %d bytes; bounds %d, %d", n, tl.cached, maxCacheEntries, maxCacheBytes)
	}
}
