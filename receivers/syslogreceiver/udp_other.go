//go:build !linux

package syslogreceiver

import "net"

// listenUDP opens the UDP socket. Outside Linux the port is not shared: a
// reload that keeps the address fails to bind it while the old receiver
// holds it.
func listenUDP(address string) (net.PacketConn, error) {
	return net.ListenPacket("udp", address)
}
