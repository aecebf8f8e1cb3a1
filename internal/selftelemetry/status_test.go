package selftelemetry

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func testTopology() Topology {
	return Topology{
		Connectors: []string{"spanmetrics"},
		Pipelines: []TopologyPipeline{
			{ID: "traces", Signal: "traces", Receivers: []string{"otlp"}, Processors: []string{"probabilistic_sampler", "batch"}, Exporters: []string{"otlphttp/central", "spanmetrics"}},
			{ID: "metrics/red", Signal: "metrics", Receivers: []string{"spanmetrics"}, Exporters: []string{"prometheusremotewrite"}},
		},
	}
}

// TestStatusDoc checks the JSON document built from the registry: nodes
// and edges follow the topology, rates are the counters' differences over
// the window, the queue fill is bytes over capacity, a blocked exporter is
// named, and polls closer than minRateWindow reuse the last rates.
func TestStatusDoc(t *testing.T) {
	m := New()
	ring := NewLogRing(4)
	src := &statusSource{m: m, errors: ring}
	src.setTopology(testTopology())

	m.QueueCapacity.WithLabelValues("otlphttp/central").Set(1000)
	m.QueueBytes.WithLabelValues("otlphttp/central", "normal").Set(250)
	m.QueueRecords.WithLabelValues("otlphttp/central", "normal").Set(3)
	m.QueueOldestAge.WithLabelValues("otlphttp/central", "normal").Set(12)
	m.ExporterBlocked.WithLabelValues("otlphttp/central", "unauthorized").Set(1)
	m.ExporterBlocked.WithLabelValues("prometheusremotewrite", "unauthorized").Set(0)
	m.UplinkRate.Set(5000)
	m.MemoryLimit.Set(1 << 20)
	m.MemoryInFlight.Set(1 << 18)
	slog.New(ring.Handler(slog.DiscardHandler)).With("exporter", "otlphttp/central").
		Error("send failed", "error", "401 Unauthorized")

	t0 := time.Unix(1000, 0)
	d, err := src.doc(t0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Edges[0].ItemsPerSecond != nil || d.Uplink.BytesPerSecond != nil {
		t.Errorf("first sample: rates %v, %v, want null", d.Edges[0].ItemsPerSecond, d.Uplink.BytesPerSecond)
	}

	m.ReceiverAccepted.WithLabelValues("otlp", "traces", "grpc").Add(150)
	m.ReceiverAccepted.WithLabelValues("otlp", "traces", "http").Add(50)
	m.ReceiverAccepted.WithLabelValues("otlp", "logs", "http").Add(1000) // not this pipeline's signal
	m.ProcessorDropped.WithLabelValues("probabilistic_sampler", "traces", "sampled_out").Add(120)
	m.ExporterSent.WithLabelValues("prometheusremotewrite", "metrics").Add(40)
	m.UplinkBytes.WithLabelValues("prometheusremotewrite").Add(800)

	d, err = src.doc(t0.Add(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(d, "", "  ")
	t.Logf("status document:\n%s", b)

	rate := func(from, to string) float64 {
		t.Helper()
		for _, e := range d.Edges {
			if e.From == from && e.To == to {
				if e.ItemsPerSecond == nil {
					return -1
				}
				return *e.ItemsPerSecond
			}
		}
		t.Fatalf("no edge %s -> %s", from, to)
		return 0
	}
	for _, tc := range []struct {
		from, to string
		want     float64
	}{
		{"receiver:otlp", "processor:probabilistic_sampler", 100},  // 200 traces items / 2 s
		{"processor:probabilistic_sampler", "processor:batch", 40}, // less 60/s dropped
		{"processor:batch", "exporter:otlphttp/central", 40},
		{"processor:batch", "connector:spanmetrics", 40},
		{"connector:spanmetrics", "exporter:prometheusremotewrite", -1}, // not counted
	} {
		if got := rate(tc.from, tc.to); got != tc.want {
			t.Errorf("edge %s -> %s: %v/s, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	if len(d.Edges) != 5 {
		t.Errorf("%d edges, want 5", len(d.Edges))
	}
	keys := []string{}
	for _, n := range d.Nodes {
		keys = append(keys, n.Key)
	}
	if got, want := strings.Join(keys, " "), "connector:spanmetrics exporter:otlphttp/central exporter:prometheusremotewrite processor:batch processor:probabilistic_sampler receiver:otlp"; got != want {
		t.Errorf("nodes %s, want %s", got, want)
	}
	for _, n := range d.Nodes {
		switch n.Key {
		case "exporter:otlphttp/central":
			if n.Blocked != "unauthorized" {
				t.Errorf("otlphttp/central blocked %q, want unauthorized", n.Blocked)
			}
		case "exporter:prometheusremotewrite":
			if n.Blocked != "" || n.ItemsTotal != 40 || *n.ItemsPerSecond != 20 {
				t.Errorf("prometheusremotewrite: %+v, want not blocked, 40 sent at 20/s", n)
			}
		case "receiver:otlp":
			if n.ItemsTotal != 1200 || *n.ItemsPerSecond != 600 {
				t.Errorf("otlp: %v total at %v/s, want 1200 at 600/s (all signals)", n.ItemsTotal, *n.ItemsPerSecond)
			}
		}
	}
	if len(d.Blocked) != 1 || d.Blocked[0] != (StatusBlocked{Exporter: "otlphttp/central", Reason: "unauthorized"}) {
		t.Errorf("blocked %+v, want only otlphttp/central (unauthorized)", d.Blocked)
	}
	if len(d.Queues) != 1 || d.Queues[0].Fill != 0.25 || d.Queues[0].Records != 3 || d.Queues[0].OldestAgeSeconds != 12 {
		t.Errorf("queues %+v, want one lane 25%% full, 3 records, 12 s old", d.Queues)
	}
	if d.Uplink.BudgetBytesPerSecond != 5000 || *d.Uplink.BytesPerSecond != 400 || d.Uplink.BytesTotal != 800 {
		t.Errorf("uplink %+v, want 400 B/s of 5000, 800 total", d.Uplink)
	}
	if d.Memory.LimitBytes != 1<<20 || d.Memory.InFlightBytes != 1<<18 {
		t.Errorf("memory %+v", d.Memory)
	}
	if len(d.Errors) != 1 || d.Errors[0].Component != "exporter otlphttp/central" || d.Errors[0].Attrs["error"] != "401 Unauthorized" {
		t.Errorf("errors %+v, want the exporter's send failure", d.Errors)
	}

	// A poll 0.5 s later keeps the 2 s window's rates.
	m.ReceiverAccepted.WithLabelValues("otlp", "traces", "grpc").Add(1000)
	d2, err := src.doc(t0.Add(2500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if *d2.Edges[0].ItemsPerSecond != 100 || d2.WindowSeconds != 2 {
		t.Errorf("poll within the window: %v/s over %v s, want the previous 100/s over 2 s", *d2.Edges[0].ItemsPerSecond, d2.WindowSeconds)
	}
}

// TestLogRing: the ring keeps the newest warnings and errors, oldest first,
// passes every record on, and skips records below warn.
func TestLogRing(t *testing.T) {
	ring := NewLogRing(3)
	var out strings.Builder
	log := slog.New(ring.Handler(slog.NewTextHandler(&out, nil)))
	log.Info("started")
	for i := range 5 {
		log.With("receiver", "otlp").WithGroup("g").Warn("refused", "n", i)
	}
	log.Error("last", "error", strings.Repeat("x", 2000))
	got := ring.Entries()
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	if got[0].Message != "refused" || got[0].Component != "receiver otlp" || got[2].Message != "last" || got[2].Level != "ERROR" {
		t.Errorf("entries %+v", got)
	}
	if n := len(got[2].Attrs["error"]); n > maxLogValue+len("…") {
		t.Errorf("attr kept at %d bytes, want at most %d", n, maxLogValue)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 7 {
		t.Errorf("%d lines logged, want all 7", lines)
	}
}

// TestStatusEndpoints: / serves the embedded page with no external
// assets, /api/v1/status the JSON document.
func TestStatusEndpoints(t *testing.T) {
	s, err := NewServer("127.0.0.1:0", true, New(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	s.SetTopology(testTopology())
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "api/v1/status") {
		t.Errorf("/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, ext := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(page, ext) {
			t.Errorf("page refers to %q: it must load nothing from elsewhere", ext)
		}
	}
	if resp, _ := get("/nothing"); resp.StatusCode != 404 {
		t.Errorf("/nothing: %d, want 404", resp.StatusCode)
	}
	resp, body := get("/api/v1/status")
	var d StatusDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/api/v1/status: %v %s", err, resp.Header.Get("Content-Type"))
	}
	if len(d.Pipelines) != 2 || d.Pipelines[1].Receivers[0] != "connector:spanmetrics" {
		t.Errorf("pipelines %+v", d.Pipelines)
	}
	t.Logf("/ %d bytes, /api/v1/status %d bytes", len(page), len(body))
}
