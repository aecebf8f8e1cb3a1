package prometheusreceiver

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestEncodeYAMLNode: what print-config shows for `config:` hides secrets,
// leaves out the globals the receiver refuses, and decodes again to the
// same scrape settings.
func TestEncodeYAMLNode(t *testing.T) {
	var n yaml.Node
	src := `global: {scrape_interval: 5s}
scrape_configs:
  - job_name: a
    basic_auth: {username: u, password: hunter2}
    static_configs: [{targets: ["127.0.0.1:1"]}]
`
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var p PrometheusConfig
	if err := p.DecodeYAMLNode(n.Content[0]); err != nil {
		t.Fatal(err)
	}
	out, err := p.EncodeYAMLNode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"hunter2", "evaluation_interval", "query_log_file", "external_labels"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("encoded config contains %q:\n%s", bad, b)
		}
	}
	var q PrometheusConfig
	if err := q.DecodeYAMLNode(out); err != nil {
		t.Fatalf("the encoded config does not decode again: %v\n%s", err, b)
	}
	sc := q.Parsed.ScrapeConfigs
	if len(sc) != 1 || sc[0].JobName != "a" || time.Duration(sc[0].ScrapeInterval) != 5*time.Second {
		t.Errorf("decoded again: %+v", sc)
	}
}
