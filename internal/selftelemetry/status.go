package selftelemetry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Topology is the configured pipeline graph the status page draws. The
// service sets it at start and after each successful reload (see
// Server.SetTopology); selftelemetry cannot see the pipeline package.
type Topology struct {
	Pipelines []TopologyPipeline
	// Connectors lists the connector IDs: a connector appears as an
	// exporter of one pipeline and a receiver of another.
	Connectors []string
}

// TopologyPipeline is one configured pipeline by component ID ("type" or
// "type/name"), in configuration order.
type TopologyPipeline struct {
	ID         string
	Signal     string
	Receivers  []string
	Processors []string
	Exporters  []string
}

// StatusDoc is the JSON document GET /api/v1/status answers (see
// docs/operations.md, "Status page"). Rates are items (or bytes) per second
// over the window between two polls at least minRateWindow apart; they are
// null until the server has two samples.
type StatusDoc struct {
	Time          time.Time        `json:"time"`
	WindowSeconds float64          `json:"window_seconds"`
	Pipelines     []StatusPipeline `json:"pipelines"`
	Nodes         []StatusNode     `json:"nodes"`
	Edges         []StatusEdge     `json:"edges"`
	Queues        []StatusQueue    `json:"queues"`
	Uplink        StatusUplink     `json:"uplink"`
	Blocked       []StatusBlocked  `json:"blocked"`
	Memory        StatusMemory     `json:"memory"`
	Errors        []LogEntry       `json:"errors"`
}

// StatusPipeline is a pipeline with its stages as node keys.
type StatusPipeline struct {
	ID         string   `json:"id"`
	Signal     string   `json:"signal"`
	Receivers  []string `json:"receivers"`
	Processors []string `json:"processors"`
	Exporters  []string `json:"exporters"`
}

// StatusNode is one component. Key is "kind:id" (kind receiver, processor,
// exporter or connector). ItemsTotal counts what it took in (receivers:
// accepted items), dropped (processors) or delivered (exporters).
type StatusNode struct {
	Key            string   `json:"key"`
	Kind           string   `json:"kind"`
	ID             string   `json:"id"`
	ItemsTotal     float64  `json:"items_total"`
	ItemsPerSecond *float64 `json:"items_per_second"`
	FailedTotal    float64  `json:"failed_total,omitempty"`
	Blocked        string   `json:"blocked,omitempty"` // the reason, when blocked
}

// StatusEdge is a hop of a pipeline. ItemsPerSecond is the items entering
// the hop: for a receiver, what it accepted for the pipeline's signal; after
// a processor, the pipeline's input less what the processors so far
// dropped. It is null where outpost does not count (a connector feeding a
// pipeline) and before two samples.
type StatusEdge struct {
	Pipeline       string   `json:"pipeline"`
	From           string   `json:"from"`
	To             string   `json:"to"`
	ItemsPerSecond *float64 `json:"items_per_second"`
}

// StatusQueue is one lane of an exporter's queue. Fill is bytes over the
// exporter's capacity (0..1; 0 when the capacity is unknown).
type StatusQueue struct {
	Exporter         string  `json:"exporter"`
	Lane             string  `json:"lane"`
	Bytes            float64 `json:"bytes"`
	CapacityBytes    float64 `json:"capacity_bytes"`
	Fill             float64 `json:"fill"`
	Records          float64 `json:"records"`
	Items            float64 `json:"items"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}

// StatusUplink is the shared uplink budget and its use.
type StatusUplink struct {
	BudgetBytesPerSecond float64           `json:"budget_bytes_per_second"` // 0: unlimited
	BurstBytes           float64           `json:"burst_bytes"`
	BytesTotal           float64           `json:"bytes_total"`
	BytesPerSecond       *float64          `json:"bytes_per_second"`
	WaitSecondsTotal     float64           `json:"wait_seconds_total"`
	Exporters            []StatusUplinkUse `json:"exporters"`
}

// StatusUplinkUse is one exporter's share of the uplink.
type StatusUplinkUse struct {
	Exporter       string   `json:"exporter"`
	BytesTotal     float64  `json:"bytes_total"`
	BytesPerSecond *float64 `json:"bytes_per_second"`
}

// StatusBlocked is an exporter whose sends fail because of the endpoint.
type StatusBlocked struct {
	Exporter string `json:"exporter"`
	Reason   string `json:"reason"`
}

// StatusMemory is memory_limit and what is counted against it.
type StatusMemory struct {
	LimitBytes    float64 `json:"limit_bytes"`
	InFlightBytes float64 `json:"in_flight_bytes"`
}

// minRateWindow is the shortest window rates are computed over; polls
// closer together get the previous rates.
const minRateWindow = time.Second

// statusSource builds StatusDocs from the registry, keeping the previous
// counter sample to compute rates from.
type statusSource struct {
	m      *Metrics
	errors *LogRing

	mu       sync.Mutex
	topology Topology
	prev     map[string]float64
	prevAt   time.Time
	rates    map[string]float64
	window   float64
}

func (s *statusSource) setTopology(t Topology) {
	s.mu.Lock()
	s.topology = t
	s.mu.Unlock()
}

// counterKey names the counter series the status page takes rates of.
func counterKey(kind, id, signal string) string { return kind + "|" + id + "|" + signal }

func (s *statusSource) doc(now time.Time) (*StatusDoc, error) {
	fams, err := s.m.Registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather metrics: %w", err)
	}
	by := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		by[f.GetName()] = f
	}
	// Counters summed over the labels the page does not show.
	counters := map[string]float64{}
	sum := func(family, kind string, labels ...string) {
		f := by[family]
		if f == nil {
			return
		}
		for _, m := range f.GetMetric() {
			k := kind
			for _, l := range labels {
				k += "|" + label(m, l)
			}
			counters[k] += value(m)
		}
	}
	sum("outpost_receiver_accepted_items_total", "receiver", "receiver", "signal")
	sum("outpost_processor_dropped_items_total", "processor", "processor", "signal")
	sum("outpost_exporter_sent_items_total", "exporter", "exporter", "signal")
	sum("outpost_exporter_failed_items_total", "exporter_failed", "exporter", "signal")
	sum("outpost_uplink_bytes_total", "uplink", "exporter")

	s.mu.Lock()
	top := s.topology
	ring := s.errors
	if s.prev == nil || now.Sub(s.prevAt) >= minRateWindow {
		if s.prev != nil {
			dt := now.Sub(s.prevAt).Seconds()
			s.rates = make(map[string]float64, len(counters))
			for k, v := range counters {
				d := v - s.prev[k]
				if d < 0 { // a series that restarted
					d = v
				}
				s.rates[k] = d / dt
			}
			s.window = dt
		}
		s.prev, s.prevAt = counters, now
	}
	rates, window := s.rates, s.window
	s.mu.Unlock()

	rate := func(k string) *float64 {
		if rates == nil {
			return nil
		}
		v := rates[k]
		return &v
	}
	signalSum := func(kind, id string, m map[string]float64, signal string) float64 {
		if signal != "" {
			return m[counterKey(kind, id, signal)]
		}
		var t float64
		for _, sig := range []string{"traces", "metrics", "logs"} {
			t += m[counterKey(kind, id, sig)]
		}
		return t
	}
	signalRate := func(kind, id, signal string) *float64 {
		if rates == nil {
			return nil
		}
		v := signalSum(kind, id, rates, signal)
		return &v
	}

	d := &StatusDoc{Time: now.UTC(), WindowSeconds: window, Pipelines: []StatusPipeline{}, Nodes: []StatusNode{},
		Edges: []StatusEdge{}, Queues: []StatusQueue{}, Blocked: []StatusBlocked{}, Errors: []LogEntry{},
		Uplink: StatusUplink{Exporters: []StatusUplinkUse{}}}
	blocked := map[string]string{}
	if f := by["outpost_exporter_blocked"]; f != nil {
		for _, m := range f.GetMetric() {
			if value(m) > 0 {
				e := label(m, "exporter")
				blocked[e] = label(m, "reason")
				d.Blocked = append(d.Blocked, StatusBlocked{Exporter: e, Reason: label(m, "reason")})
			}
		}
	}
	sort.Slice(d.Blocked, func(i, j int) bool { return d.Blocked[i].Exporter < d.Blocked[j].Exporter })

	connector := map[string]bool{}
	for _, c := range top.Connectors {
		connector[c] = true
	}
	key := func(kind, id string) string {
		if (kind == "receiver" || kind == "exporter") && connector[id] {
			return "connector:" + id
		}
		return kind + ":" + id
	}
	nodes := map[string]*StatusNode{}
	node := func(kind, id string) string {
		k := key(kind, id)
		if nodes[k] != nil {
			return k
		}
		n := &StatusNode{Key: k, Kind: kind, ID: id}
		switch {
		case connector[id] && kind != "processor":
			n.Kind = "connector"
		case kind == "receiver":
			n.ItemsTotal = signalSum("receiver", id, counters, "")
			n.ItemsPerSecond = signalRate("receiver", id, "")
		case kind == "processor":
			n.ItemsTotal = signalSum("processor", id, counters, "")
			n.ItemsPerSecond = signalRate("processor", id, "")
		case kind == "exporter":
			n.ItemsTotal = signalSum("exporter", id, counters, "")
			n.ItemsPerSecond = signalRate("exporter", id, "")
			n.FailedTotal = signalSum("exporter_failed", id, counters, "")
			n.Blocked = blocked[id]
		}
		nodes[k] = n
		return k
	}

	for _, p := range top.Pipelines {
		sp := StatusPipeline{ID: p.ID, Signal: p.Signal}
		for _, r := range p.Receivers {
			sp.Receivers = append(sp.Receivers, node("receiver", r))
		}
		for _, pr := range p.Processors {
			sp.Processors = append(sp.Processors, node("processor", pr))
		}
		for _, e := range p.Exporters {
			sp.Exporters = append(sp.Exporters, node("exporter", e))
		}
		d.Pipelines = append(d.Pipelines, sp)

		// The pipeline's input is the sum of its receivers' accepted
		// items; unknown when a connector feeds it.
		var in *float64
		if rates != nil {
			v := 0.0
			in = &v
		}
		for _, r := range p.Receivers {
			var er *float64
			if !connector[r] {
				er = signalRate("receiver", r, p.Signal)
			}
			if er == nil {
				in = nil
			} else if in != nil {
				*in += *er
			}
			for _, to := range firstStage(sp) {
				d.Edges = append(d.Edges, StatusEdge{Pipeline: p.ID, From: key("receiver", r), To: to, ItemsPerSecond: er})
			}
		}
		for i, pr := range p.Processors {
			if in != nil {
				v := max(*in-rates[counterKey("processor", pr, p.Signal)], 0)
				in = &v
			}
			var next []string
			if i+1 < len(sp.Processors) {
				next = []string{sp.Processors[i+1]}
			} else {
				next = sp.Exporters
			}
			for _, to := range next {
				var r *float64
				if in != nil {
					v := *in
					r = &v
				}
				d.Edges = append(d.Edges, StatusEdge{Pipeline: p.ID, From: sp.Processors[i], To: to, ItemsPerSecond: r})
			}
		}
	}
	keys := make([]string, 0, len(nodes))
	for k := range nodes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.Nodes = append(d.Nodes, *nodes[k])
	}

	capacity := map[string]float64{}
	if f := by["outpost_queue_capacity_bytes"]; f != nil {
		for _, m := range f.GetMetric() {
			capacity[label(m, "exporter")] = value(m)
		}
	}
	queues := map[string]*StatusQueue{}
	lane := func(m *dto.Metric) *StatusQueue {
		e, l := label(m, "exporter"), label(m, "lane")
		q := queues[e+"|"+l]
		if q == nil {
			q = &StatusQueue{Exporter: e, Lane: l, CapacityBytes: capacity[e]}
			queues[e+"|"+l] = q
		}
		return q
	}
	for name, set := range map[string]func(*StatusQueue, float64){
		"outpost_queue_bytes":              func(q *StatusQueue, v float64) { q.Bytes = v },
		"outpost_queue_records":            func(q *StatusQueue, v float64) { q.Records = v },
		"outpost_queue_items":              func(q *StatusQueue, v float64) { q.Items = v },
		"outpost_queue_oldest_age_seconds": func(q *StatusQueue, v float64) { q.OldestAgeSeconds = v },
	} {
		if f := by[name]; f != nil {
			for _, m := range f.GetMetric() {
				set(lane(m), value(m))
			}
		}
	}
	for _, q := range queues {
		if q.CapacityBytes > 0 {
			q.Fill = min(q.Bytes/q.CapacityBytes, 1)
		}
		d.Queues = append(d.Queues, *q)
	}
	sort.Slice(d.Queues, func(i, j int) bool {
		a, b := d.Queues[i], d.Queues[j]
		return a.Exporter < b.Exporter || a.Exporter == b.Exporter && a.Lane < b.Lane
	})

	d.Uplink.BudgetBytesPerSecond = gaugeValue(by, "outpost_uplink_budget_bytes_per_second")
	d.Uplink.BurstBytes = gaugeValue(by, "outpost_uplink_burst_bytes")
	if f := by["outpost_uplink_wait_seconds_total"]; f != nil {
		for _, m := range f.GetMetric() {
			d.Uplink.WaitSecondsTotal += value(m)
		}
	}
	var upRate *float64
	if rates != nil {
		upRate = new(float64)
	}
	var ups []string
	for k := range counters {
		if len(k) > len("uplink|") && k[:len("uplink|")] == "uplink|" {
			ups = append(ups, k[len("uplink|"):])
		}
	}
	slices.Sort(ups)
	for _, e := range ups {
		u := StatusUplinkUse{Exporter: e, BytesTotal: counters["uplink|"+e], BytesPerSecond: rate("uplink|" + e)}
		d.Uplink.BytesTotal += u.BytesTotal
		if upRate != nil {
			*upRate += *u.BytesPerSecond
		}
		d.Uplink.Exporters = append(d.Uplink.Exporters, u)
	}
	d.Uplink.BytesPerSecond = upRate

	d.Memory.LimitBytes = gaugeValue(by, "outpost_memory_limit_bytes")
	d.Memory.InFlightBytes = gaugeValue(by, "outpost_memory_in_flight_bytes")
	if ring != nil {
		d.Errors = ring.Entries()
	}
	return d, nil
}

// firstStage is what a pipeline's receivers feed: its first processor, or
// its exporters.
func firstStage(p StatusPipeline) []string {
	if len(p.Processors) > 0 {
		return p.Processors[:1]
	}
	return p.Exporters
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func gaugeValue(by map[string]*dto.MetricFamily, name string) float64 {
	f := by[name]
	if f == nil || len(f.GetMetric()) == 0 {
		return 0
	}
	return value(f.GetMetric()[0])
}

func (s *statusSource) serveJSON(w http.ResponseWriter, r *http.Request) {
	d, err := s.doc(time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(d)
}
