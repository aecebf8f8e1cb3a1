package configs

import (
	"strings"
	"testing"

	"github.com/outpost-edge/outpost/pipeline"
)

type listenConfig struct {
	TCP *struct {
		ListenAddress string `yaml:"listen_address"`
	} `yaml:"tcp"`
	UDP *struct {
		ListenAddress string `yaml:"listen_address"`
	} `yaml:"udp"`
}

func (*listenConfig) Validate() error { return nil }

// TestPortClashTCPAndUDP: a receiver's TCP listener and UDP socket on one
// port (syslog's defaults) are no clash; two UDP sockets or two TCP
// listeners on one port are.
func TestPortClashTCPAndUDP(t *testing.T) {
	f := machineFactories()
	f.Receivers["listen"] = pipeline.ReceiverFactory{Type: "listen", Signals: []pipeline.Signal{pipeline.SignalTraces},
		CreateDefaultConfig: func() pipeline.Config { return &listenConfig{} }}
	for _, c := range []struct{ name, receivers, want string }{
		{"tcp and udp", "  listen: {tcp: {listen_address: 127.0.0.1:5514}, udp: {listen_address: 127.0.0.1:5514}}\n", ""},
		{"two udp", "  listen: {udp: {listen_address: 127.0.0.1:5514}}\n  listen/2: {udp: {listen_address: 0.0.0.0:5514}}\n",
			"x.yaml:3:3: receivers.listen/2.udp.listen_address: 0.0.0.0:5514: receivers.listen.udp.listen_address already listens on this port (127.0.0.1:5514): two listeners cannot share a port"},
		{"two tcp", "  listen: {tcp: {listen_address: 127.0.0.1:5514}}\n  listen/2: {tcp: {listen_address: localhost:5514}}\n",
			"x.yaml:3:3: receivers.listen/2.tcp.listen_address: localhost:5514: receivers.listen.tcp.listen_address already listens on this port (127.0.0.1:5514): two listeners cannot share a port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ids := "listen"
			if strings.Contains(c.receivers, "listen/2") {
				ids = "listen, listen/2"
			}
			src := "receivers:\n" + c.receivers + "exporters: {exp: }\nservice: {pipelines: {traces: {receivers: [" + ids + "], exporters: [exp]}}}\n"
			_, err := Parse("x.yaml", []byte(src), f, noEnv)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Errorf("got:\n%v\nwant:\n%s", err, c.want)
			}
		})
	}
}
