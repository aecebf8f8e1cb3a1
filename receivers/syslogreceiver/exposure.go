package syslogreceiver

import (
	"strings"

	"github.com/outpost-edge/outpost/internal/serverconfig"
)

// Warnings logged at start for a listener beyond loopback (see
// serverconfig.IsLoopback: ":514", 0.0.0.0 and [::] count as exposed).
// Syslog carries no credentials, so the shared `auth` block does not
// apply: over TCP a sender is authenticated by its client certificate
// (tcp.tls.client_ca_file) or not at all, and UDP has neither TLS nor
// authentication.
const (
	msgExposedTCP = "receiver listens beyond this host without "
	msgExposedUDP = "receiver listens beyond this host over UDP, which has neither TLS nor authentication: any host can read or send"
)

// warnIfExposed logs a warning for each listener on a non-loopback
// address that other hosts can read or send to: TCP without tls or
// without client certificates, and UDP always. It reports how many it
// logged.
func (r *receiver) warnIfExposed() int {
	n := 0
	if t := r.cfg.TCP; t != nil && !serverconfig.IsLoopback(t.ListenAddress) {
		var missing []string
		if t.TLS == nil {
			missing = append(missing, "TLS (tcp.tls)")
		}
		if t.TLS == nil || t.TLS.ClientCAFile == "" {
			missing = append(missing, "client certificates (tcp.tls.client_ca_file)")
		}
		if len(missing) > 0 {
			r.logger.Warn(msgExposedTCP+strings.Join(missing, " or "),
				"protocol", transportTCP, "endpoint", t.ListenAddress)
			n++
		}
	}
	if u := r.cfg.UDP; u != nil && !serverconfig.IsLoopback(u.ListenAddress) {
		r.logger.Warn(msgExposedUDP, "protocol", transportUDP, "endpoint", u.ListenAddress)
		n++
	}
	return n
}
