// Command lokipush pushes numbered log lines through
// github.com/grafana/loki-client-go, a real Loki push client (the library
// Promtail's client grew from), so that tests can drive outpost's loki
// receiver with it. It is built into bin/lokipush by `make bin/lokipush`;
// it lives in the tools module so that outpost's own go.mod never requires
// the client, which pins github.com/prometheus/prometheus v0.35.0 here (its
// labels are still a slice at that version, so no build tag is needed).
//
// Line i (0 ≤ i < -lines) goes to stream i mod -streams, labelled
// {service_name="<-service>", stream="s<k>"}, as "lokipush line <i>",
// with structured metadata seq="<i>" and a timestamp of -start plus i
// milliseconds. The client batches, retries 429 and 5xx with backoff and
// drops a batch when its retries run out; lokipush waits for it to flush
// (Stop), prints "sent N dropped M" from the client's own counters, and
// exits 1 when anything was dropped.
//
// -ca-file, -cert-file and -key-file set the client's TLS (an https URL);
// -bearer-token-file, or -basic-user with -basic-password-file, its
// credentials: the client's own HTTP configuration (Prometheus's common
// HTTPClientConfig, as Promtail's), files read by it.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/grafana/loki-client-go/loki"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

func main() {
	url := flag.String("url", "", "push URL, such as http://127.0.0.1:3500/loki/api/v1/push")
	tenant := flag.String("tenant", "", "X-Scope-OrgID to send (none when empty)")
	lines := flag.Int("lines", 100, "lines to push")
	streams := flag.Int("streams", 1, "streams to spread them over")
	service := flag.String("service", "lokipush", "service_name label")
	asJSON := flag.Bool("json", false, "push JSON instead of snappy protobuf")
	start := flag.Int64("start", time.Now().Add(-time.Minute).UnixNano(), "timestamp of line 0, Unix nanoseconds")
	batchWait := flag.Duration("batch-wait", 100*time.Millisecond, "longest wait before a batch is sent")
	batchSize := flag.Int("batch-size", 16<<10, "largest batch, bytes")
	caFile := flag.String("ca-file", "", "CA bundle that signs the server's certificate (TLS)")
	certFile := flag.String("cert-file", "", "client certificate (mutual TLS)")
	keyFile := flag.String("key-file", "", "client certificate's key (mutual TLS)")
	tokenFile := flag.String("bearer-token-file", "", "file holding the bearer token to send")
	basicUser := flag.String("basic-user", "", "basic auth username")
	basicPasswordFile := flag.String("basic-password-file", "", "file holding the basic auth password")
	flag.Parse()
	if *url == "" || *lines < 0 || *streams < 1 {
		fmt.Fprintln(os.Stderr, "lokipush: -url is required, -lines ≥ 0, -streams ≥ 1")
		os.Exit(2)
	}
	cfg, err := loki.NewDefaultConfig(*url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lokipush:", err)
		os.Exit(2)
	}
	cfg.TenantID = *tenant
	cfg.EncodeJson = *asJSON
	cfg.BatchWait = *batchWait
	cfg.BatchSize = *batchSize
	cfg.BackoffConfig.MinBackoff = 100 * time.Millisecond
	cfg.BackoffConfig.MaxBackoff = 2 * time.Second
	cfg.BackoffConfig.MaxRetries = 20
	cfg.Client.TLSConfig = config.TLSConfig{CAFile: *caFile, CertFile: *certFile, KeyFile: *keyFile}
	cfg.Client.BearerTokenFile = *tokenFile
	if *basicUser != "" {
		cfg.Client.BasicAuth = &config.BasicAuth{Username: *basicUser, PasswordFile: *basicPasswordFile}
	}
	c, err := loki.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lokipush:", err)
		os.Exit(2)
	}
	for i := range *lines {
		ls := model.LabelSet{
			"service_name": model.LabelValue(*service),
			"stream":       model.LabelValue("s" + strconv.Itoa(i%*streams)),
		}
		md := push.LabelsAdapter{{Name: "seq", Value: strconv.Itoa(i)}}
		ts := time.Unix(0, *start+int64(i)*int64(time.Millisecond))
		if err := c.HandleWithMetadata(ls, ts, "lokipush line "+strconv.Itoa(i), md); err != nil {
			fmt.Fprintln(os.Stderr, "lokipush:", err)
			os.Exit(1)
		}
	}
	c.Stop()
	sent, dropped := total("promtail_sent_entries_total"), total("promtail_dropped_entries_total")
	fmt.Printf("sent %d dropped %d\n", sent, dropped)
	if dropped > 0 || sent != int64(*lines) {
		os.Exit(1)
	}
}

// total sums a counter family of the client's default registry.
func total(name string) int64 {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return -1
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			n += counter(m)
		}
	}
	return int64(n)
}

func counter(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}
