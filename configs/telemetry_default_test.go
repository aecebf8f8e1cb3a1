package configs

import (
	"net"
	"net/netip"
	"testing"
)

// TestTelemetryLoopbackByDefault: telemetry.address, which serves the
// status page, /metrics and /debug/pprof/, listens on loopback unless the
// file says otherwise.
func TestTelemetryLoopbackByDefault(t *testing.T) {
	cfg, err := Parse("x.yaml", []byte(`
receivers: {recv: {}}
exporters: {exp: {}}
service: {pipelines: {traces: {receivers: [recv], exporters: [exp]}}}
`), testFactories(), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.Telemetry.Address)
	if err != nil {
		t.Fatal(err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		t.Errorf("default telemetry.address %q is not on loopback", cfg.Telemetry.Address)
	}
}
