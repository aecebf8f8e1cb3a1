package syslogreceiver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/configs"
	"github.com/outpost-edge/outpost/internal/serverconfig"
)

// Values of `protocol`.
const (
	ProtocolRFC5424 = "rfc5424"
	ProtocolRFC3164 = "rfc3164"
	ProtocolAuto    = "auto"
)

// Values of `non_transparent_framing_trailer`.
const (
	TrailerLF  = "LF"
	TrailerNUL = "NUL"
)

// Defaults.
const (
	// DefaultListenAddress is the TCP and the UDP address when a section is
	// named without one (the port the OpenTelemetry Collector's syslog
	// receiver documents, on 127.0.0.1).
	DefaultListenAddress = "127.0.0.1:54526"
	// DefaultMaxLogSize caps one message on TCP: RFC 5425 asks receivers to
	// take at least 2048 octets and should take 8192; 64KiB covers stack
	// traces and keeps max_connections × max_log_size of read buffers small.
	DefaultMaxLogSize = 64 << 10
	// DefaultMaxConnections bounds concurrent TCP connections.
	DefaultMaxConnections = 256
	// DefaultSendBatchSize and DefaultTimeout bound the batches handed to
	// the pipeline.
	DefaultSendBatchSize = 512
	DefaultTimeout       = 200 * time.Millisecond
)

// maxLogSizeLimit bounds max_log_size: a message is held whole in memory.
const maxLogSizeLimit = 16 << 20

// maxUDPSize is the largest UDP payload.
const maxUDPSize = 65535

// Config configures a syslog receiver. Keys follow the OpenTelemetry
// Collector's syslog receiver where they mean the same thing.
type Config struct {
	// Protocol is the syslog format: rfc5424 (default, as the Collector),
	// rfc3164, or auto (outpost's addition: each message is read as RFC
	// 5424 when its header says so, "<PRI>1 ", else as RFC 3164).
	Protocol string `yaml:"protocol"`
	// Location is the IANA time zone of RFC 3164 timestamps, which carry
	// none (default UTC, as the Collector). Also their year is missing: a
	// timestamp is put in the current year, or in the previous one when
	// that would place it more than a day in the future (a December
	// message read in January).
	Location string `yaml:"location"`
	// EnableOctetCounting picks the TCP framing of RFC 6587: true, octet
	// counting only ("LEN SP MSG"); false, non-transparent framing only
	// (messages end with the trailer); unset (outpost's default), each
	// connection is looked at once: a first byte that is a digit means
	// octet counting, anything else non-transparent framing.
	EnableOctetCounting *bool `yaml:"enable_octet_counting"`
	// NonTransparentFramingTrailer is what ends a message in
	// non-transparent framing: LF (default) or NUL.
	NonTransparentFramingTrailer string `yaml:"non_transparent_framing_trailer"`
	// TCP enables syslog over TCP (RFC 6587) and, with tls, over TLS (RFC
	// 5425). Naming the section enables it with its defaults.
	TCP *TCPConfig `yaml:"tcp"`
	// UDP enables syslog over UDP (RFC 5426), one message per datagram.
	UDP *UDPConfig `yaml:"udp"`
	// Batch bounds what is collected before it is handed to the pipeline.
	Batch BatchConfig `yaml:"batch"`
}

// TCPConfig configures the TCP listener.
type TCPConfig struct {
	// ListenAddress is host:port (default 127.0.0.1:54526).
	ListenAddress string `yaml:"listen_address"`
	// MaxLogSize caps one message (the SYSLOG-MSG, without framing).
	// Larger messages are skipped and counted as too_large. Default 64KiB,
	// at most 16MiB.
	MaxLogSize configs.ByteSize `yaml:"max_log_size"`
	// MaxConnections caps concurrent connections; more are closed at once.
	// Default 256.
	MaxConnections int `yaml:"max_connections"`
	// TLS, when set, serves syslog over TLS (RFC 5425) on the listener:
	// the shared server `tls` block (internal/serverconfig), mutual TLS
	// with client_ca_file, files followed at each handshake. Syslog has no
	// credentials in its protocol, so there is no `auth` block: client
	// certificates are the way to authenticate senders.
	TLS *serverconfig.TLS `yaml:"tls"`
}

// server is the TCP listener's security blocks.
func (c *TCPConfig) server() serverconfig.Blocks {
	return serverconfig.Blocks{TLS: c.TLS}
}

// SetDefaults implements configs.Defaulter.
func (c *TCPConfig) SetDefaults() {
	*c = TCPConfig{
		ListenAddress:  DefaultListenAddress,
		MaxLogSize:     DefaultMaxLogSize,
		MaxConnections: DefaultMaxConnections,
	}
}

// UDPConfig configures the UDP listener.
type UDPConfig struct {
	// ListenAddress is host:port (default 127.0.0.1:54526).
	ListenAddress string `yaml:"listen_address"`
}

// SetDefaults implements configs.Defaulter.
func (c *UDPConfig) SetDefaults() {
	*c = UDPConfig{ListenAddress: DefaultListenAddress}
}

// BatchConfig bounds a batch: it is handed to the pipeline when it holds
// SendBatchSize messages or Timeout after its first message, whichever
// comes first.
type BatchConfig struct {
	SendBatchSize int           `yaml:"send_batch_size"`
	Timeout       time.Duration `yaml:"timeout"`
}

func createDefaultConfig() *Config {
	return &Config{
		Protocol:                     ProtocolRFC5424,
		Location:                     "UTC",
		NonTransparentFramingTrailer: TrailerLF,
		Batch:                        BatchConfig{SendBatchSize: DefaultSendBatchSize, Timeout: DefaultTimeout},
	}
}

// Validate reports every problem in the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch c.Protocol {
	case ProtocolRFC5424, ProtocolRFC3164, ProtocolAuto:
	default:
		errs = append(errs, fmt.Errorf("protocol: must be rfc5424, rfc3164 or auto (got %q)", c.Protocol))
	}
	if _, err := time.LoadLocation(c.Location); err != nil || c.Location == "" {
		errs = append(errs, fmt.Errorf("location: unknown time zone %q", c.Location))
	}
	switch c.NonTransparentFramingTrailer {
	case TrailerLF, TrailerNUL:
	default:
		errs = append(errs, fmt.Errorf("non_transparent_framing_trailer: must be LF or NUL (got %q)", c.NonTransparentFramingTrailer))
	}
	if c.TCP == nil && c.UDP == nil {
		errs = append(errs, errors.New("must enable at least one of tcp, udp"))
	}
	if c.TCP == nil && c.EnableOctetCounting != nil {
		errs = append(errs, errors.New("enable_octet_counting: applies to tcp, which is not enabled"))
	}
	if t := c.TCP; t != nil {
		errs = append(errs, validateAddress("tcp.listen_address", t.ListenAddress))
		if t.MaxLogSize <= 0 || t.MaxLogSize > maxLogSizeLimit {
			errs = append(errs, fmt.Errorf("tcp.max_log_size: must be between 1B and 16MiB (got %s)", t.MaxLogSize))
		}
		if t.MaxConnections <= 0 {
			errs = append(errs, fmt.Errorf("tcp.max_connections: must be > 0 (got %d)", t.MaxConnections))
		}
		errs = append(errs, prefixed("tcp.", t.server().Validate()))
	}
	if u := c.UDP; u != nil {
		errs = append(errs, validateAddress("udp.listen_address", u.ListenAddress))
	}
	if c.Batch.SendBatchSize <= 0 || c.Batch.SendBatchSize > 1<<16 {
		errs = append(errs, fmt.Errorf("batch.send_batch_size: must be between 1 and 65536 (got %d)", c.Batch.SendBatchSize))
	}
	if c.Batch.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("batch.timeout: must be > 0 (got %s)", c.Batch.Timeout))
	}
	return errors.Join(errs...)
}

func validateAddress(key, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: want host:port, got %q", key, addr)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%s: invalid host %q", key, host)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s: invalid port %q (want 0 to 65535)", key, port)
	}
	return nil
}

// prefixed puts prefix before each of the errors err joins.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s%w", prefix, e)
	}
	return errors.Join(out...)
}
