package prometheusremotewriteexporter

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
)

// TestNodeIdentityKeepsNodesApart: two nodes whose application sets only
// service.name send the same gauge; by default their series differ by the
// node labels (DESIGN: node identity survives the mapping), and with
// promote_node_attributes: false they collide, as they would in any
// OTLP → Prometheus translation.
func TestNodeIdentityKeepsNodesApart(t *testing.T) {
	labelsOf := func(tr *translator, node, site string) []prompb.Label {
		md, ms := metrics("service.name", "pump", "node.name", node, "node.site", site)
		gauge(ms, "pressure", "", t0, 1.5)
		req := tr.translate(md).req
		for _, ts := range req.Timeseries {
			for _, l := range ts.Labels {
				if l.Name == "__name__" && l.Value == "pressure" {
					return ts.Labels
				}
			}
		}
		t.Fatalf("no pressure series in %v", req.Timeseries)
		return nil
	}
	same := func(a, b []prompb.Label) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i].Name != b[i].Name || a[i].Value != b[i].Value {
				return false
			}
		}
		return true
	}

	tr := defaultTranslator(nil)
	a, b := labelsOf(tr, "edge-1", "plant-2"), labelsOf(tr, "edge-2", "plant-2")
	t.Logf("default: %v / %v", a, b)
	if same(a, b) {
		t.Fatalf("two nodes' series have the same labels %v", a)
	}
	want := lbls("__name__", "pressure", "job", "pump", "node_name", "edge-1", "node_site", "plant-2")
	if !same(a, want) {
		t.Errorf("labels %v, want %v", a, want)
	}

	off := defaultTranslator(func(c *Config) { c.PromoteNodeAttributes = false })
	a, b = labelsOf(off, "edge-1", "plant-2"), labelsOf(off, "edge-2", "plant-2")
	t.Logf("promote_node_attributes: false: %v / %v", a, b)
	if !same(a, b) {
		t.Errorf("without node promotion the labels differ: %v / %v", a, b)
	}

	// Explicitly promoted attributes are kept alongside the node's.
	both := defaultTranslator(func(c *Config) { c.PromoteResourceAttributes = []string{"service.name"} })
	got := labelsOf(both, "edge-1", "plant-2")
	want = lbls("__name__", "pressure", "job", "pump", "node_name", "edge-1", "node_site", "plant-2", "service_name", "pump")
	if !same(got, want) {
		t.Errorf("with promote_resource_attributes: labels %v, want %v", got, want)
	}
}
