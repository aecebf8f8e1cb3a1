package syslogreceiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-edge/outpost/internal/loglimit"
	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/internal/serverconfig"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// Values of the transport label.
const (
	transportTCP = "tcp"
	transportTLS = "tls"
	transportUDP = "udp"
)

// Values of the reason label of outpost_receiver_refused_items_total.
const (
	reasonThrottled   = "throttled"   // UDP: the pipeline pushed back; dropped
	reasonUnavailable = "unavailable" // UDP: other retryable refusal; dropped
	reasonPermanent   = "permanent"
	reasonRejected    = "rejected"
	reasonShutdown    = "shutdown" // TCP: still refused when the receiver was stopped
	reasonBusy        = "busy"     // UDP: the receiver's batch buffer was full
)

// Values of the reason label of outpost_receiver_bad_requests_total (a
// request is one message).
const (
	reasonDecode      = "decode"       // TCP framing broken; the connection is closed
	reasonTooLarge    = "too_large"    // over max_log_size, or more than memory_limit can hold
	reasonMemoryLimit = "memory_limit" // UDP: no room under memory_limit; dropped
)

// tlsHandshakeTimeout bounds a TLS handshake, so that a client that
// connects and sends nothing does not hold a connection slot for long.
const tlsHandshakeTimeout = 10 * time.Second

// udpReadBuffer is the UDP socket's receive buffer: bursts wait there
// while the reader waits for the batcher. The kernel caps it at
// net.core.rmem_max; datagrams it drops when full are counted by the
// kernel (the socket's drops in /proc/net/udp, RcvbufErrors), not here.
const udpReadBuffer = 4 << 20

// logEvery is the shortest interval between two log lines of one kind.
const logEvery = 10 * time.Second

type lifecycle uint8

const (
	created lifecycle = iota
	started
	stopped
)

// receiver receives syslog over TCP (optionally TLS) and UDP.
type receiver struct {
	id         pipeline.ID
	cfg        *Config
	loc        *time.Location
	logger     *slog.Logger
	limitedLog *loglimit.Limiter
	telemetry  *selftelemetry.Metrics
	memory     *memlimit.Limiter // nil: unlimited
	consume    consumeFunc
	framing    framing
	trailer    byte

	// runCtx is given to the pipeline and to memory waits; it is cancelled
	// when Shutdown gives up (its context ended), as abandon is closed.
	runCtx    context.Context
	cancelRun context.CancelFunc
	abandon   chan struct{}

	tcp    *batcher             // nil without TCP
	udp    *batcher             // nil without UDP
	tcpSec *serverconfig.Server // nil without TCP; TLS when tcp.tls is set

	mu       sync.Mutex
	state    lifecycle
	tcpLn    net.Listener
	udpConn  net.PacketConn
	conns    map[net.Conn]struct{}
	readers  sync.WaitGroup // the accept loop, connection readers, the UDP reader
	batchers sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
}

func newReceiver(set pipeline.Settings, cfg *Config, next pipeline.Consumers) (*receiver, error) {
	loc, err := time.LoadLocation(cfg.Location)
	if err != nil {
		return nil, fmt.Errorf("syslog receiver %s: location: %w", set.ID, err)
	}
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	r := &receiver{
		id:         set.ID,
		cfg:        cfg,
		loc:        loc,
		logger:     logger,
		limitedLog: loglimit.New(logger, logEvery),
		telemetry:  tel,
		memory:     set.Memory,
		consume:    next.Logs.ConsumeLogs,
		trailer:    '\n',
		abandon:    make(chan struct{}),
		conns:      map[net.Conn]struct{}{},
	}
	if cfg.NonTransparentFramingTrailer == TrailerNUL {
		r.trailer = 0
	}
	switch {
	case cfg.EnableOctetCounting == nil:
		r.framing = framingAuto
	case *cfg.EnableOctetCounting:
		r.framing = framingOctetCounting
	default:
		r.framing = framingNonTransparent
	}
	r.runCtx, r.cancelRun = context.WithCancel(context.Background())
	if t := cfg.TCP; t != nil {
		// The files are read now, so that a missing or invalid one fails
		// the configuration (run, reload, validate), not the first sender.
		sec, err := serverconfig.New(t.server(), logger)
		if err != nil {
			return nil, fmt.Errorf("syslog receiver %s: tcp.%w", set.ID, err)
		}
		r.tcpSec = sec
		transport := transportTCP
		if t.TLS != nil {
			transport = transportTLS
		}
		r.tcp = newBatcher(r, transport, true)
	}
	if cfg.UDP != nil {
		r.udp = newBatcher(r, transportUDP, false)
	}
	return r, nil
}

func (r *receiver) newCounters(transport string) *counters {
	id, sig := r.id.String(), string(pipeline.SignalLogs)
	c := &counters{
		accepted: r.telemetry.ReceiverAccepted.WithLabelValues(id, sig, transport),
		refusedV: map[string]prometheus.Counter{},
		badV:     map[string]prometheus.Counter{},
	}
	refused := []string{reasonPermanent, reasonRejected}
	bad := []string{reasonTooLarge}
	if transport == transportUDP {
		refused = append(refused, reasonThrottled, reasonUnavailable, reasonBusy)
		bad = append(bad, reasonMemoryLimit)
	} else {
		refused = append(refused, reasonShutdown)
		bad = append(bad, reasonDecode)
	}
	for _, reason := range refused {
		c.refusedV[reason] = r.telemetry.ReceiverRefused.WithLabelValues(id, sig, transport, reason)
	}
	for _, reason := range bad {
		c.badV[reason] = r.telemetry.ReceiverBadRequests.WithLabelValues(id, sig, transport, reason)
	}
	return c
}

// Start opens the listeners and serves in the background.
func (r *receiver) Start(_ context.Context, host pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case started:
		return fmt.Errorf("syslog receiver %s: already started", r.id)
	case stopped:
		return fmt.Errorf("syslog receiver %s: already shut down", r.id)
	}
	if t := r.cfg.TCP; t != nil {
		ln, err := host.Listen("tcp", t.ListenAddress)
		if err != nil {
			return fmt.Errorf("syslog receiver %s: tcp: listen on %s: %w", r.id, t.ListenAddress, err)
		}
		// With tcp.tls, every connection is TLS; the certificate and CA
		// files are stat'ed at each handshake, so a rotated certificate is
		// served to new connections without a restart.
		r.tcpLn = r.tcpSec.Listener(ln)
	}
	if u := r.cfg.UDP; u != nil {
		conn, err := listenUDP(u.ListenAddress)
		if err != nil {
			if r.tcpLn != nil {
				_ = r.tcpLn.Close()
			}
			return fmt.Errorf("syslog receiver %s: udp: listen on %s: %w", r.id, u.ListenAddress, err)
		}
		if uc, ok := conn.(*net.UDPConn); ok {
			// Best effort: the kernel caps it at net.core.rmem_max.
			_ = uc.SetReadBuffer(udpReadBuffer)
		}
		r.udpConn = conn
	}
	for _, b := range []*batcher{r.tcp, r.udp} {
		if b != nil {
			r.batchers.Go(b.run)
		}
	}
	if r.tcpLn != nil {
		r.readers.Go(func() { r.acceptLoop(r.tcpLn) })
	}
	if r.udpConn != nil {
		r.readers.Go(func() { r.readUDP(r.udpConn) })
	}
	r.state = started
	r.warnIfExposed()
	return nil
}

// Shutdown stops reading (closes the listeners and every connection:
// what clients sent after that is theirs to resend, as syslog over TCP
// has no acknowledgement), then hands what was read to the pipeline. A
// batch read over TCP that the pipeline still refuses is retried until
// ctx ends; then it is counted (reason shutdown) and ctx's error is
// returned. Shutdown is idempotent.
func (r *receiver) Shutdown(ctx context.Context) error {
	r.shutdownOnce.Do(func() { r.shutdownErr = r.shutdown(ctx) })
	return r.shutdownErr
}

func (r *receiver) shutdown(ctx context.Context) error {
	r.mu.Lock()
	wasStarted := r.state == started
	r.state = stopped
	if r.tcpLn != nil {
		_ = r.tcpLn.Close()
	}
	if r.udpConn != nil {
		_ = r.udpConn.Close()
	}
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	defer r.cancelRun()
	if !wasStarted {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.readers.Wait()
		for _, b := range []*batcher{r.tcp, r.udp} {
			if b != nil {
				close(b.in)
			}
		}
		r.batchers.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		// Give up retrying; readers blocked on a batcher and batchers in
		// the pipeline return soon after.
		close(r.abandon)
		r.cancelRun()
		<-done
		return fmt.Errorf("syslog receiver %s: shutdown: %w", r.id, ctx.Err())
	}
}

// addrs returns the listening addresses (nil when off or before Start).
func (r *receiver) addrs() (tcpAddr, udpAddr net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tcpLn != nil {
		tcpAddr = r.tcpLn.Addr()
	}
	if r.udpConn != nil {
		udpAddr = r.udpConn.LocalAddr()
	}
	return tcpAddr, udpAddr
}

func (r *receiver) acceptLoop(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.stopped() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			r.limitedLog.Warn("accept", "syslog receiver: accept failed", "error", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		r.mu.Lock()
		if r.state != started {
			r.mu.Unlock()
			_ = conn.Close()
			return
		}
		if len(r.conns) >= r.cfg.TCP.MaxConnections {
			r.mu.Unlock()
			_ = conn.Close()
			r.limitedLog.Warn("max-connections", "syslog receiver: tcp.max_connections reached; connection closed", "remote", conn.RemoteAddr().String(), "max_connections", r.cfg.TCP.MaxConnections)
			continue
		}
		r.conns[conn] = struct{}{}
		r.readers.Add(1)
		r.mu.Unlock()
		go r.serveConn(conn)
	}
}

func (r *receiver) stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state == stopped
}

// serveConn reads one TCP (or TLS) connection until it ends. Each message
// is charged to memory_limit before it is parsed (waiting, not reading, while
// there is no room) and handed to the batcher (waiting, not reading, while
// the batcher is full): a slow pipeline stops the reads, and TCP's window
// stops the sender.
func (r *receiver) serveConn(conn net.Conn) {
	defer r.readers.Done()
	defer func() {
		_ = conn.Close()
		r.mu.Lock()
		delete(r.conns, conn)
		r.mu.Unlock()
	}()
	if tc, ok := conn.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
		if err := tc.HandshakeContext(r.runCtx); err != nil {
			r.limitedLog.Warn("tls-handshake", "syslog receiver: TLS handshake failed", "remote", conn.RemoteAddr().String(), "error", err)
			return
		}
		_ = tc.SetDeadline(time.Time{})
	}
	b := r.tcp
	fr := newFrameReader(conn, r.framing, r.trailer, int(r.cfg.TCP.MaxLogSize))
	p := newParser(r.cfg.Protocol, r.loc, true)
	for {
		raw, err := fr.next()
		switch {
		case err == nil:
		case errors.Is(err, errTooLarge):
			b.c.bad(reasonTooLarge).Inc()
			r.limitedLog.Warn("too-large", "syslog receiver: message over tcp.max_log_size skipped", "max_log_size", int64(r.cfg.TCP.MaxLogSize))
			continue
		case errors.Is(err, errFraming):
			b.c.bad(reasonDecode).Inc()
			r.limitedLog.Warn("framing", "syslog receiver: connection closed, its framing is broken", "remote", conn.RemoteAddr().String(), "error", err)
			return
		default:
			return // EOF, closed, reset
		}
		var charge *memlimit.Charge
		if r.memory != nil {
			charge, err = r.memory.AdmitWait(r.runCtx, int64(len(raw))*memlimit.Expansion)
			if err != nil {
				if errors.Is(err, memlimit.ErrTooLarge) {
					b.c.bad(reasonTooLarge).Inc()
					continue
				}
				// Only Shutdown giving up ends the wait: the message is lost.
				b.c.refused(reasonShutdown).Inc()
				return
			}
		}
		b.in <- entry{msg: r.parse(p, raw), charge: charge}
	}
}

// parse parses raw with p, logging (rate-limited) a message that did not
// parse and is kept as its text.
func (r *receiver) parse(p *parser, raw []byte) message {
	m := p.parse(raw, time.Now())
	if m.parsed == nil {
		r.limitedLog.Info("unparsed", "syslog receiver: a message is not "+r.cfg.Protocol+" syslog; kept whole as the body",
			"protocol", r.cfg.Protocol, "bytes", len(raw)) // not the content: it may hold what a redaction processor removes
	}
	return m
}

// readUDP reads datagrams, one message each, until the socket is closed.
// While the pipeline takes batches it waits for the batcher like a TCP
// reader (bursts wait in the socket's receive buffer); while the pipeline
// refuses them (back-pressure), or under memory_limit, it does not wait: a
// datagram that finds the batcher full or no room is dropped and counted.
func (r *receiver) readUDP(conn net.PacketConn) {
	b := r.udp
	buf := make([]byte, maxUDPSize)
	p := newParser(r.cfg.Protocol, r.loc, true)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.stopped() {
				return
			}
			r.limitedLog.Warn("udp-read", "syslog receiver: UDP read failed", "error", err)
			continue
		}
		raw := trimTrailer(buf[:n])
		if len(raw) == 0 {
			continue
		}
		refusing := b.refusing.Load()
		if refusing && len(b.in) == cap(b.in) {
			b.c.refused(reasonBusy).Inc()
			r.limitedLog.Warn("udp-busy", "syslog receiver: the pipeline refuses data; UDP messages are dropped")
			continue
		}
		var charge *memlimit.Charge
		if r.memory != nil {
			charge, err = r.memory.Admit(int64(len(raw)) * memlimit.Expansion)
			if err != nil {
				reason := reasonMemoryLimit
				if errors.Is(err, memlimit.ErrTooLarge) {
					reason = reasonTooLarge
				}
				b.c.bad(reason).Inc()
				r.limitedLog.Warn("udp-"+reason, "syslog receiver: UDP message dropped at memory_limit", "error", err)
				continue
			}
		}
		e := entry{msg: r.parse(p, raw), charge: charge}
		if !refusing {
			b.in <- e
			continue
		}
		select {
		case b.in <- e:
		default:
			charge.Release()
			b.c.refused(reasonBusy).Inc()
		}
	}
}
