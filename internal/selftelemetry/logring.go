package selftelemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LogEntry is one warning or error outpost logged, as the status page shows
// it. Component is "kind id" from the logger's receiver=, processor=,
// exporter= or connector= attribute, empty for the service itself.
type LogEntry struct {
	Time      time.Time         `json:"time"`
	Level     string            `json:"level"`
	Message   string            `json:"message"`
	Component string            `json:"component,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
}

// LogRing keeps the last warnings and errors outpost logged, newest last,
// in a fixed number of slots: older entries are overwritten. It is fed by
// the handler LogRing.Handler wraps around the log output, so nothing is
// logged twice and no component needs to know of it.
type LogRing struct {
	mu   sync.Mutex
	buf  []LogEntry
	next int
	full bool
}

// maxLogAttrs bounds the attributes kept per entry, maxLogValue each
// value's length in bytes.
const (
	maxLogAttrs = 16
	maxLogValue = 512
)

// NewLogRing makes a ring of size entries (at least 1).
func NewLogRing(size int) *LogRing {
	return &LogRing{buf: make([]LogEntry, max(size, 1))}
}

func (r *LogRing) add(e LogEntry) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// Entries returns the kept entries, oldest first.
func (r *LogRing) Entries() []LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []LogEntry{}
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	return append(out, r.buf[:r.next]...)
}

// Handler wraps next: every record next is enabled for is passed on
// unchanged, and those at slog.LevelWarn or above are also kept in the
// ring (whatever next's level).
func (r *LogRing) Handler(next slog.Handler) slog.Handler {
	return &ringHandler{ring: r, next: next}
}

type ringHandler struct {
	ring  *LogRing
	next  slog.Handler
	attrs []slog.Attr // from WithAttrs, top level only
	group bool        // WithGroup was called: later attributes are grouped
}

// Enabled keeps warnings for the ring even when the log level (say error)
// leaves them out of the log.
func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

var componentKinds = []string{"receiver", "processor", "exporter", "connector"}

func (h *ringHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelWarn {
		e := LogEntry{Time: rec.Time.UTC(), Level: rec.Level.String(), Message: rec.Message}
		put := func(a slog.Attr) bool {
			for _, k := range componentKinds {
				if a.Key == k && e.Component == "" {
					e.Component = k + " " + a.Value.String()
					return true
				}
			}
			if len(e.Attrs) >= maxLogAttrs {
				return false
			}
			if e.Attrs == nil {
				e.Attrs = map[string]string{}
			}
			v := a.Value.Resolve().String()
			if len(v) > maxLogValue {
				v = v[:maxLogValue] + "…"
			}
			if _, ok := e.Attrs[a.Key]; !ok {
				e.Attrs[a.Key] = v
			}
			return true
		}
		for _, a := range h.attrs {
			put(a)
		}
		rec.Attrs(put)
		h.ring.add(e)
		if !h.next.Enabled(ctx, rec.Level) {
			return nil
		}
	}
	return h.next.Handle(ctx, rec)
}

func (h *ringHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &ringHandler{ring: h.ring, next: h.next.WithAttrs(attrs), attrs: h.attrs, group: h.group}
	if !h.group {
		n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	}
	return n
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	return &ringHandler{ring: h.ring, next: h.next.WithGroup(name), attrs: h.attrs, group: true}
}
