package testutil

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// NodeExporterCollectors are the node_exporter collectors tests enable:
// the ones that read /proc and /sys and work in a container (no systemd,
// hardware or wifi collectors that log errors or wait on D-Bus).
var NodeExporterCollectors = []string{
	"cpu", "meminfo", "loadavg", "filesystem", "netdev", "stat", "uname",
	"time", "vmstat", "os", "filefd", "sockstat",
}

// NodeExporter starts Debian's prometheus-node-exporter
// ($NODE_EXPORTER_BIN, else from PATH) on a free 127.0.0.1 port with
// NodeExporterCollectors and returns its address once /metrics answers.
// Without the binary it skips the test, or fails it under CI=true.
func NodeExporter(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("NODE_EXPORTER_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("prometheus-node-exporter"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("prometheus-node-exporter not found: `make apt-deps` installs it")
			}
			t.Skip("prometheus-node-exporter not found: `make apt-deps` installs it")
		}
	}
	addr := FreeAddr(t)
	args := []string{"--web.listen-address=" + addr, "--collector.disable-defaults"}
	for _, c := range NodeExporterCollectors {
		args = append(args, "--collector."+c)
	}
	Start(t, bin, args...)
	Eventually(t, 15*time.Second, "node_exporter answers /metrics", func() bool {
		code, _, err := HTTPGet("http://" + addr + "/metrics")
		return err == nil && code == 200
	})
	return addr
}
