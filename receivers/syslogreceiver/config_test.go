package syslogreceiver

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string // substrings of the error; none: valid
	}{
		{name: "tcp defaults", mutate: func(c *Config) {}},
		{name: "udp only", mutate: func(c *Config) { c.TCP = nil; c.UDP = &UDPConfig{}; c.UDP.SetDefaults() }},
		{name: "auto, rfc3164, NUL", mutate: func(c *Config) {
			c.Protocol = ProtocolRFC3164
			c.Location = "Europe/Berlin"
			c.NonTransparentFramingTrailer = TrailerNUL
			c.EnableOctetCounting = ptr(false)
		}},
		{name: "nothing enabled", mutate: func(c *Config) { c.TCP = nil }, want: []string{"must enable at least one of tcp, udp"}},
		{name: "bad values", mutate: func(c *Config) {
			c.Protocol = "rfc9999"
			c.Location = "Mars/Olympus"
			c.NonTransparentFramingTrailer = "CR"
			c.TCP.ListenAddress = "nohost"
			c.TCP.MaxLogSize = 0
			c.TCP.MaxConnections = 0
			c.TCP.TLS = &serverconfig.TLS{MinVersion: "1.1"}
			c.Batch.SendBatchSize = 0
			c.Batch.Timeout = 0
		}, want: []string{"protocol: must be rfc5424, rfc3164 or auto", `location: unknown time zone "Mars/Olympus"`,
			"non_transparent_framing_trailer: must be LF or NUL", `tcp.listen_address: want host:port, got "nohost"`,
			"tcp.max_log_size: must be between 1B and 16MiB", "tcp.max_connections: must be > 0",
			"tcp.tls.cert_file: required", "tcp.tls.key_file: required", `tcp.tls.min_version: want "1.2" or "1.3", got "1.1"`,
			"batch.send_batch_size: must be between 1 and 65536", "batch.timeout: must be > 0"}},
		{name: "octet counting without tcp", mutate: func(c *Config) {
			c.TCP = nil
			c.UDP = &UDPConfig{ListenAddress: "127.0.0.1:70000"}
			c.EnableOctetCounting = ptr(true)
		}, want: []string{"enable_octet_counting: applies to tcp", `udp.listen_address: invalid port "70000"`}},
		{name: "too large", mutate: func(c *Config) { c.TCP.MaxLogSize = 17 << 20 }, want: []string{"tcp.max_log_size"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tcpConfig(c.mutate)
			err := cfg.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(c.want) {
				t.Errorf("%d errors, want %d: %v", n, len(c.want), err)
			}
		})
	}
}

// TestConfigFile decodes every key strictly, so that a yaml tag that does
// not match the documented key fails here.
func TestConfigFile(t *testing.T) {
	data, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := createDefaultConfig()
	if err := configs.Decode("testdata/config.yaml", data, cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Protocol: ProtocolAuto, Location: "Europe/Berlin", EnableOctetCounting: ptr(true), NonTransparentFramingTrailer: TrailerNUL,
		TCP: &TCPConfig{ListenAddress: "0.0.0.0:6514", MaxLogSize: 1 << 20, MaxConnections: 32,
			TLS: &serverconfig.TLS{CertFile: "/etc/outpost/syslog.crt", KeyFile: "/etc/outpost/syslog.key", ClientCAFile: "/etc/outpost/ca.crt", MinVersion: "1.3"}},
		UDP:   &UDPConfig{ListenAddress: "127.0.0.1:5514"},
		Batch: BatchConfig{SendBatchSize: 100, Timeout: time.Second},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", cfg, want)
	}
	// Naming a section enables it with its defaults.
	cfg = createDefaultConfig()
	if err := configs.Decode("inline", []byte("tcp:\nudp:\n"), cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.TCP == nil || cfg.TCP.ListenAddress != DefaultListenAddress || cfg.TCP.MaxLogSize != DefaultMaxLogSize ||
		cfg.UDP == nil || cfg.UDP.ListenAddress != DefaultListenAddress || cfg.EnableOctetCounting != nil {
		t.Errorf("defaults %+v %+v %+v", cfg, cfg.TCP, cfg.UDP)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}
