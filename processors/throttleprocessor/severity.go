package throttleprocessor

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

// textSeverity maps severity texts that sources commonly write (syslog,
// logfmt, log4j, Go's slog) to the lowest number of their range in the
// OpenTelemetry log data model.
var textSeverity = map[string]plog.SeverityNumber{
	"trace":       plog.SeverityNumberTrace,
	"debug":       plog.SeverityNumberDebug,
	"info":        plog.SeverityNumberInfo,
	"information": plog.SeverityNumberInfo,
	"notice":      plog.SeverityNumberInfo2,
	"warn":        plog.SeverityNumberWarn,
	"warning":     plog.SeverityNumberWarn,
	"error":       plog.SeverityNumberError,
	"err":         plog.SeverityNumberError,
	"crit":        plog.SeverityNumberFatal,
	"critical":    plog.SeverityNumberFatal,
	"alert":       plog.SeverityNumberFatal2,
	"emerg":       plog.SeverityNumberFatal3,
	"emergency":   plog.SeverityNumberFatal3,
	"fatal":       plog.SeverityNumberFatal,
	"panic":       plog.SeverityNumberFatal,
}

// severityOf is a record's severity number; when unset, the one its
// severity text names (case-insensitive, a trailing digit 2-4 as in
// ERROR2 ignored), else 0.
func severityOf(lr plog.LogRecord) plog.SeverityNumber {
	if n := lr.SeverityNumber(); n != plog.SeverityNumberUnspecified {
		return n
	}
	t := lr.SeverityText()
	if t == "" {
		return 0
	}
	if n, ok := textSeverity[t]; ok { // the usual lower-case spelling, no allocation
		return n
	}
	t = strings.ToLower(t)
	if l := len(t); l > 1 && t[l-1] >= '2' && t[l-1] <= '4' {
		t = t[:l-1]
	}
	return textSeverity[t]
}
