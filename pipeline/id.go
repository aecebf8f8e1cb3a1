package pipeline

import (
	"fmt"
	"regexp"
	"strings"
)

// Signal is one of the three kinds of telemetry.
type Signal string

// The signals.
const (
	SignalTraces  Signal = "traces"
	SignalMetrics Signal = "metrics"
	SignalLogs    Signal = "logs"
)

// Signals lists every signal, in a fixed order.
var Signals = []Signal{SignalTraces, SignalMetrics, SignalLogs}

// ParseSignal maps a name to a Signal.
func ParseSignal(s string) (Signal, error) {
	switch Signal(s) {
	case SignalTraces, SignalMetrics, SignalLogs:
		return Signal(s), nil
	}
	return "", fmt.Errorf("unknown signal %q (want traces, metrics or logs)", s)
}

// ID names a configured component or pipeline: "type" or "type/name", as in
// the OpenTelemetry Collector (otlp, otlp/central, traces/edge).
type ID struct {
	Type string
	Name string
}

var idPart = regexp.MustCompile(`^[a-zA-Z][0-9a-zA-Z_]{0,62}$`)

// ParseID parses "type" or "type/name". The type must start with a letter and
// hold only letters, digits and underscores; the name may hold anything but
// spaces and must not be empty after the slash.
func ParseID(s string) (ID, error) {
	typ, name, hasName := strings.Cut(s, "/")
	if !idPart.MatchString(typ) {
		return ID{}, fmt.Errorf("invalid id %q: type must start with a letter and hold only letters, digits and '_'", s)
	}
	if hasName && (name == "" || strings.ContainsAny(name, " \t\n")) {
		return ID{}, fmt.Errorf("invalid id %q: the name after '/' must be non-empty and without spaces", s)
	}
	return ID{Type: typ, Name: name}, nil
}

// MustID is ParseID for literals known to be valid (tests and defaults).
func MustID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func (id ID) String() string {
	if id.Name == "" {
		return id.Type
	}
	return id.Type + "/" + id.Name
}
