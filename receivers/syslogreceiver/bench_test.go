package syslogreceiver

import (
	"bufio"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// BenchmarkTCP: RFC 5424 messages with structured data, octet counted,
// over one TCP connection into the receiver and a sink that keeps
// nothing but counts. It reports messages/s and CPU-seconds per million
// messages (user+system of the whole test process: client, receiver and
// sink).
func BenchmarkTCP(b *testing.B) {
	for _, protocol := range []string{ProtocolRFC5424, ProtocolAuto} {
		b.Run(protocol, func(b *testing.B) {
			cfg := tcpConfig(func(c *Config) { c.Protocol = protocol })
			st := start(b, cfg, nil)
			st.sink.discard = true
			conn, err := net.Dial("tcp", st.tcp)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			w := bufio.NewWriterSize(conn, 64<<10)
			msg := `<165>1 2026-03-15T11:00:00.123Z edge-gw-7.plant.example plc-gateway 4711 ID47 [line@32473 cell="7" station="press-2"] temperature 81.5C above limit 80C on sensor 12`
			frame := []byte(fmt.Sprintf("%d %s", len(msg), msg))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			start := time.Now()
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			waitFor(b, time.Minute, "every message", func() bool { return st.accepted(transportTCP) >= float64(b.N) })
			b.StopTimer()
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			b.ReportMetric(cpu.Seconds()/float64(b.N)*1e6, "cpu-s/M")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
