package pipeline

import (
	"fmt"
	"net"
	"sync"
)

// Listeners shares TCP listeners between the graph that runs and the graph
// that replaces it on reload, so that the port never closes: one goroutine
// per socket accepts connections and hands each to whichever holder asks
// next. The socket closes when its last holder closes. A zero value is
// ready to use; it must outlive every graph that uses it.
type Listeners struct {
	mu      sync.Mutex
	sockets map[string]*sharedSocket
}

type sharedSocket struct {
	key     string
	ln      net.Listener
	conns   chan net.Conn
	holders int
	err     error         // set when the accept loop ends
	dead    chan struct{} // closed when the accept loop ends
}

// Listen implements Host.Listen. An address with port 0 always gets a socket
// of its own.
func (l *Listeners) Listen(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	if port == "0" {
		return net.Listen(network, address)
	}
	key := network + "|" + address
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sockets == nil {
		l.sockets = map[string]*sharedSocket{}
	}
	s, ok := l.sockets[key]
	if !ok {
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		s = &sharedSocket{key: key, ln: ln, conns: make(chan net.Conn), dead: make(chan struct{})}
		l.sockets[key] = s
		go s.acceptLoop()
	}
	s.holders++
	return &heldListener{owner: l, sock: s, closed: make(chan struct{})}, nil
}

func (s *sharedSocket) acceptLoop() {
	defer close(s.dead)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.err = err
			return
		}
		s.conns <- c
	}
}

func (l *Listeners) release(s *sharedSocket) {
	l.mu.Lock()
	s.holders--
	last := s.holders == 0
	if last {
		delete(l.sockets, s.key)
	}
	l.mu.Unlock()
	if !last {
		return
	}
	_ = s.ln.Close()
	// A connection accepted after the last holder left has nobody to serve
	// it: close it so the client retries.
	for {
		select {
		case c := <-s.conns:
			_ = c.Close()
		case <-s.dead:
			return
		}
	}
}

// handBack offers c to the other holders; once the socket is gone (the
// last holder left), c is closed so the client retries.
func (s *sharedSocket) handBack(c net.Conn) {
	select {
	case s.conns <- c:
	case <-s.dead:
		_ = c.Close()
	}
}

type heldListener struct {
	owner     *Listeners
	sock      *sharedSocket
	closeOnce sync.Once
	closed    chan struct{}
}

func (h *heldListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.sock.conns:
		select {
		case <-h.closed:
			// Closed while the connection came in (select picks at random
			// among ready cases): it belongs to a holder still serving.
			go h.sock.handBack(c)
			return nil, net.ErrClosed
		default:
		}
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	case <-h.sock.dead:
		return nil, h.sock.err
	}
}

func (h *heldListener) Close() error {
	h.closeOnce.Do(func() {
		close(h.closed)
		h.owner.release(h.sock)
	})
	return nil
}

func (h *heldListener) Addr() net.Addr { return h.sock.ln.Addr() }
