// Package lanes decides the priority lane (high, normal, low) of every
// span, metric data point and log record an exporter queues, from the
// rules in the exporter's `priority:` section, and splits a pdata batch
// into one part per lane. The queue keeps one lane per part; its senders
// drain higher lanes first and, when the disk is full, drop the lowest lane
// first.
//
// # Rules
//
// Rules are tried in order and the first that matches an item decides its
// lane; items no rule matches go to `default` (normal unless set). A rule's
// conditions must all hold. Conditions that belong to one signal
// (log_severity_at_least, span_status, metric_name) never hold for items of
// another, so a rule with one of them applies to that signal only, while a
// rule with only an attribute condition applies to all three. A signal for
// which no rule applies is not looked at: its batches go to the default
// lane whole.
//
// Attributes are looked up on the item, then its scope, then its
// resource; the first that has the key decides, even if its value does not
// match. Values are compared as strings (pdata's AsString). Regular
// expressions (metric_name, attribute.regex) must match the whole string.
//
// # Granularity
//
// Traces are classified per span and logs per log record. Metrics are
// classified per data point: metric_name is matched once per metric, and
// when no rule the metric can meet has an attribute condition, every data
// point takes the metric's lane without being looked at; otherwise each
// data point is checked (its own attributes, then scope, then resource),
// so one metric's points may fall in several lanes. Each part then holds
// the metric with its name, description, unit, metadata, type, temporality
// and monotonicity, and only its own points. Per-point granularity keeps
// the item counts of the queue (data points) exact and lets a rule such as
// "points with env=prod of slo_.*" work without a metric-level notion of
// attributes.
//
// # Severity words
//
// A log record's SeverityNumber is used when set. When it is UNSPECIFIED
// (0), its SeverityText is mapped, ignoring case and surrounding space:
//
//	TRACE (1)    trace, trc, finest, verbose
//	DEBUG (5)    debug, dbg, fine, finer, config
//	INFO (9)     info, inf, information, informational
//	INFO2 (10)   notice
//	WARN (13)    warn, warning, wrn
//	ERROR (17)   error, err, severe
//	ERROR2 (18)  crit, critical
//	FATAL (21)   fatal, alert
//	FATAL2 (22)  emerg, emergency, panic
//
// The six OTLP names also take a step 2 to 4 ("ERROR3" is 19), as OTLP's
// short names do. Syslog's eight levels and the usual words of log4j,
// java.util.logging (severe, fine, finer, finest, config), Python and Go
// loggers are covered; syslog's alert and emergency are both FATAL, as they
// demand action now. A record with neither a number nor a known word has
// no severity and meets no log_severity_at_least condition.
// log_severity_at_least itself takes only TRACE, DEBUG, INFO, WARN, ERROR,
// FATAL (any case) or a number from 1 to 24.
//
// # Splitting
//
// Split* take ownership of the batch. When every item falls in one lane —
// the common case — the batch is returned as that lane's part, untouched;
// the only allocations are the two empty parts of the other lanes (pdata
// has no shared empty batch). Otherwise the lane with the most items keeps
// the input, and the other lanes' items are moved out: whole resources,
// scopes and metrics when all their items share a lane, single items
// otherwise, the resource and scope (attributes, schema URL, name,
// version) copied into each part that receives some of their items. Each
// part keeps the batch's order. Resources, scopes and metrics without any
// items stay with the lane that keeps the input, unless their container
// is moved or left without items, in which case they go with it or are
// dropped. A read-only batch is copied before it is split.
//
// # Not done here
//
// The package only classifies and splits. It does not decode YAML (the
// configs package does, with the yaml tags here), queue, drop or count
// anything, and keeps no state between batches beyond pooled scratch
// buffers. It does not read span events, links or exemplars, and has no
// rule for body content: a rule that needs a log's body belongs in a
// processor that sets an attribute the rules can match.
package lanes
