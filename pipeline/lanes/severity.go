package lanes

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

// parseSeverityConfig parses log_severity_at_least: one of the six OTLP
// severity names (any case) or a SeverityNumber from 1 to 24.
func parseSeverityConfig(s string) (plog.SeverityNumber, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 1 && n <= 24 {
			return plog.SeverityNumber(n), true
		}
		return 0, false
	}
	switch strings.ToUpper(s) {
	case "TRACE":
		return plog.SeverityNumberTrace, true
	case "DEBUG":
		return plog.SeverityNumberDebug, true
	case "INFO":
		return plog.SeverityNumberInfo, true
	case "WARN":
		return plog.SeverityNumberWarn, true
	case "ERROR":
		return plog.SeverityNumberError, true
	case "FATAL":
		return plog.SeverityNumberFatal, true
	}
	return 0, false
}

// maxSeverityText is the longest severity text severityFromText looks at;
// longer texts are not severity words.
const maxSeverityText = 16

// severityFromText maps a log record's SeverityText to a SeverityNumber
// for records whose SeverityNumber is unspecified. It returns 0 for text it
// does not know. The table is in the package documentation; keep the two
// in step.
func severityFromText(text string) plog.SeverityNumber {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > maxSeverityText {
		return 0
	}
	// Lower-case into a stack buffer: records arrive as "ERROR", "Error"
	// and "error", and strings.ToLower would allocate per record.
	var buf [maxSeverityText]byte
	n := len(text)
	for i := 0; i < n; i++ {
		c := text[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	w := buf[:n]
	// OTLP's short names with a step: "error2", "WARN3".
	step := plog.SeverityNumber(0)
	if d := w[n-1]; n > 1 && '2' <= d && d <= '4' {
		step = plog.SeverityNumber(d - '1')
		w = w[:n-1]
	}
	if step != 0 {
		// Steps exist only on the six OTLP names.
		switch string(w) {
		case "trace", "debug", "info", "warn", "error", "fatal":
		default:
			return 0
		}
	}
	var base plog.SeverityNumber
	switch string(w) {
	case "trace", "trc", "finest", "verbose":
		base = plog.SeverityNumberTrace
	case "debug", "dbg", "fine", "finer", "config":
		base = plog.SeverityNumberDebug
	case "info", "inf", "information", "informational":
		base = plog.SeverityNumberInfo
	case "notice":
		base = plog.SeverityNumberInfo2
	case "warn", "warning", "wrn":
		base = plog.SeverityNumberWarn
	case "error", "err", "severe":
		base = plog.SeverityNumberError
	case "crit", "critical":
		base = plog.SeverityNumberError2
	case "fatal", "alert":
		base = plog.SeverityNumberFatal
	case "emerg", "emergency", "panic":
		base = plog.SeverityNumberFatal2
	default:
		return 0
	}
	return base + step
}
