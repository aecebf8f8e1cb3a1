package prometheusreceiver

import (
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // substrings of the error; none: valid
	}{
		{name: "valid", src: `
config:
  global:
    scrape_interval: 5s
  scrape_configs:
    - job_name: node
      static_configs: [{targets: ["127.0.0.1:9100"]}]
      metric_relabel_configs:
        - source_labels: [__name__]
          regex: go_.*
          action: drop
    - job_name: files
      file_sd_configs: [{files: ["/tmp/targets/*.json"]}]
    - job_name: http
      http_sd_configs: [{url: "http://127.0.0.1:8000/sd"}]
    - job_name: dns
      dns_sd_configs: [{names: ["_prometheus._tcp.example.internal"]}]
`},
		{name: "missing config", src: `{}`, want: []string{"config: required"}},
		{name: "no scrape configs", src: "config:\n  global: {scrape_interval: 5s}\n", want: []string{"at least one scrape config"}},
		{name: "unknown key in a scrape config", src: `
config:
  scrape_configs:
    - job_name: node
      scrape_intervall: 5s
      static_configs: [{targets: ["127.0.0.1:9100"]}]
`, want: []string{"scrape_intervall", "not found"}},
		{name: "sections outpost does not use, all reported", src: `
config:
  global:
    external_labels: {site: a}
    evaluation_interval: 1m
  rule_files: [a.yml]
  remote_write: [{url: "http://x/api/v1/write"}]
  scrape_configs:
    - job_name: node
      static_configs: [{targets: ["127.0.0.1:9100"]}]
`, want: []string{"rule_files: not used by outpost", "remote_write: not used by outpost", "global.external_labels", "global.evaluation_interval"}},
		{name: "discovery not compiled in", src: `
config:
  scrape_configs:
    - job_name: k8s
      kubernetes_sd_configs: [{role: pod}]
`, want: []string{"kubernetes_sd_configs"}},
		{name: "duplicate job", src: `
config:
  scrape_configs:
    - job_name: a
      static_configs: [{targets: ["127.0.0.1:1"]}]
    - job_name: a
      static_configs: [{targets: ["127.0.0.1:2"]}]
`, want: []string{"found multiple scrape configs with job name"}},
		{name: "timeout above interval", src: `
config:
  scrape_configs:
    - job_name: a
      scrape_interval: 5s
      scrape_timeout: 10s
      static_configs: [{targets: ["127.0.0.1:1"]}]
`, want: []string{"scrape timeout greater than scrape interval"}},
		{name: "not a mapping", src: "config: [a]\n", want: []string{"expected a mapping"}},
		{name: "scrape failure log file", src: `
config:
  scrape_configs:
    - job_name: a
      scrape_failure_log_file: /tmp/x
      static_configs: [{targets: ["127.0.0.1:1"]}]
`, want: []string{"scrape_failure_log_file: not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := decodeConfig(t, tc.src)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				scs := cfg.Config.Parsed.ScrapeConfigs
				if len(scs) != 4 || time.Duration(scs[0].ScrapeInterval) != 5*time.Second || len(scs[0].MetricRelabelConfigs) != 1 {
					t.Fatalf("parsed %d scrape configs, first %+v", len(scs), scs[0])
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error with %q, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
