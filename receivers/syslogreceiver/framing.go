package syslogreceiver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// framing is how messages are delimited on a stream (RFC 6587).
type framing uint8

const (
	// framingAuto decides on the connection's first byte: a digit means
	// octet counting, anything else non-transparent framing.
	framingAuto framing = iota
	// framingOctetCounting is "MSG-LEN SP SYSLOG-MSG" (RFC 6587 3.4.1,
	// the framing of RFC 5425).
	framingOctetCounting
	// framingNonTransparent is "SYSLOG-MSG TRAILER" (RFC 6587 3.4.2).
	framingNonTransparent
)

// maxLenDigits is the most digits of an octet count: max_log_size is at
// most 16MiB (8 digits); one more lets a too-large count be recognised
// (and skipped) rather than taken as broken framing.
const maxLenDigits = 9

// errTooLarge is returned by frameReader.next for a message over the
// maximum size; the message has been skipped and the next one can be read.
var errTooLarge = errors.New("message larger than max_log_size")

// errFraming is wrapped by frameReader.next when the stream cannot be
// framed (an octet count that is not a number): the rest of the connection
// cannot be delimited and must be closed.
var errFraming = errors.New("syslog framing")

// frameReader splits a stream into syslog messages. It is used by one
// goroutine.
type frameReader struct {
	r       *bufio.Reader
	mode    framing
	trailer byte
	max     int
	buf     []byte // a message assembled across the bufio buffer's end
}

func newFrameReader(r io.Reader, mode framing, trailer byte, maxSize int) *frameReader {
	// The bufio buffer holds most messages whole, so that next returns a
	// slice of it without copying.
	size := min(max(maxSize, 4096), 64<<10)
	return &frameReader{r: bufio.NewReaderSize(r, size), mode: mode, trailer: trailer, max: maxSize}
}

// next returns the next message, without its framing (and, in
// non-transparent framing, without a CR before an LF trailer). The slice
// is valid until the next call. Errors: io.EOF at a clean end of the
// stream; errTooLarge for a message over the maximum, which has been
// skipped; one wrapping errFraming when the stream cannot be framed; a
// read error. Empty messages (blank lines) are skipped.
func (f *frameReader) next() ([]byte, error) {
	for {
		if f.mode == framingAuto {
			b, err := f.r.Peek(1)
			if err != nil {
				return nil, err
			}
			if b[0] >= '0' && b[0] <= '9' {
				f.mode = framingOctetCounting
			} else {
				f.mode = framingNonTransparent
			}
		}
		var msg []byte
		var err error
		if f.mode == framingOctetCounting {
			msg, err = f.nextCounted()
		} else {
			msg, err = f.nextDelimited()
		}
		if err != nil || len(msg) > 0 {
			return msg, err
		}
	}
}

func (f *frameReader) nextCounted() ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		// Some senders end each counted frame with a newline anyway.
		if (c == '\n' || c == '\r') && digits == 0 {
			continue
		}
		if c < '0' || c > '9' || digits == maxLenDigits {
			return nil, fmt.Errorf("%w: octet count expected, got byte %q", errFraming, c)
		}
		n = n*10 + int(c-'0')
		digits++
	}
	if n > f.max {
		if _, err := f.r.Discard(n); err != nil {
			return nil, unexpected(err)
		}
		return nil, errTooLarge
	}
	if n <= f.r.Size() {
		b, err := f.r.Peek(n)
		if err != nil {
			return nil, unexpected(err)
		}
		_, _ = f.r.Discard(n)
		return trimTrailer(b), nil
	}
	f.buf = f.buf[:0]
	if cap(f.buf) < n {
		f.buf = make([]byte, 0, n)
	}
	f.buf = f.buf[:n]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return nil, unexpected(err)
	}
	return trimTrailer(f.buf), nil
}

func (f *frameReader) nextDelimited() ([]byte, error) {
	line, err := f.r.ReadSlice(f.trailer)
	if err == nil {
		return f.trim(line[:len(line)-1])
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if err == io.EOF && len(line) > 0 {
			// The last message of a stream may end without a trailer.
			return f.trim(line)
		}
		return nil, err
	}
	// Longer than the bufio buffer: assemble it, up to the maximum.
	f.buf = append(f.buf[:0], line...)
	tooLarge := false
	for {
		line, err = f.r.ReadSlice(f.trailer)
		done := err == nil || (err == io.EOF && len(line) > 0)
		if err == nil {
			line = line[:len(line)-1]
		}
		if !tooLarge {
			if len(f.buf)+len(line) > f.max {
				tooLarge = true
				f.buf = f.buf[:0]
			} else {
				f.buf = append(f.buf, line...)
			}
		}
		if done {
			if tooLarge {
				return nil, errTooLarge
			}
			return f.trim(f.buf)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// trim drops a CR before an LF trailer; a message over the maximum once
// trimmed is too large (reachable when the maximum is smaller than the
// bufio buffer).
func (f *frameReader) trim(b []byte) ([]byte, error) {
	if f.trailer == '\n' {
		b = bytes.TrimSuffix(b, []byte{'\r'})
	}
	if len(b) > f.max {
		return nil, errTooLarge
	}
	return b, nil
}

// trimTrailer drops line ends and NULs that end a message: senders such as
// rsyslog (RSYSLOG_SyslogProtocol23Format) end the counted message with a
// newline, and no log line means to end with one.
func trimTrailer(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
