package main

import (
	"context"
	"log/slog"
)

// uniqueKeys is a slog.Handler that drops an attribute whose key the
// record already has (from the logger's With chain or earlier in the
// record), keeping the first. Components get a logger that already
// carries receiver=, exporter=, pipeline= ..., and some add their own
// again; a record must still name each key once, so that a line reads
// unambiguously and a JSON log is an object without duplicate members.
// Attributes inside groups are left as they are.
type uniqueKeys struct {
	next slog.Handler
	keys map[string]bool // keys added by WithAttrs, at the top level
	// grouped is set once WithGroup was called: later attributes belong
	// to a group and cannot clash with the top level.
	grouped bool
}

func (h *uniqueKeys) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *uniqueKeys) Handle(ctx context.Context, r slog.Record) error {
	if h.grouped {
		return h.next.Handle(ctx, r)
	}
	seen := make(map[string]bool, len(h.keys)+r.NumAttrs())
	for k := range h.keys {
		seen[k] = true
	}
	var attrs []slog.Attr
	dup := false
	r.Attrs(func(a slog.Attr) bool {
		if seen[a.Key] {
			dup = true
			return true
		}
		seen[a.Key] = true
		attrs = append(attrs, a)
		return true
	})
	if !dup {
		return h.next.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(attrs...)
	return h.next.Handle(ctx, nr)
}

func (h *uniqueKeys) WithAttrs(attrs []slog.Attr) slog.Handler {
	if h.grouped {
		return &uniqueKeys{next: h.next.WithAttrs(attrs), grouped: true}
	}
	keys := make(map[string]bool, len(h.keys)+len(attrs))
	for k := range h.keys {
		keys[k] = true
	}
	var kept []slog.Attr
	for _, a := range attrs {
		if keys[a.Key] {
			continue
		}
		keys[a.Key] = true
		kept = append(kept, a)
	}
	return &uniqueKeys{next: h.next.WithAttrs(kept), keys: keys}
}

func (h *uniqueKeys) WithGroup(name string) slog.Handler {
	return &uniqueKeys{next: h.next.WithGroup(name), grouped: true}
}

// durationSeconds makes a time.Duration a number of seconds (a float), for
// the JSON format: machines read seconds; the text format keeps the
// duration's own form (1m30s).
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}
