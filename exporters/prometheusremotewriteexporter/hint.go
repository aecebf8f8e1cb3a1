package prometheusremotewriteexporter

// refusalHint is appended to the error (and so to the log line) of a
// request Prometheus refused for one of the sample reasons: it names the
// server setting that decides whether such samples are taken, so that the
// operator of a site whose backlog is being refused after a long outage
// knows what to change. It is "" for reasons no setting changes
// (duplicate_sample: a stored sample disagrees with the sent one).
//
// The window Prometheus applies (tsdb/head_append.go): a sample older than
// the head's newest sample minus half a block (1h with the default 2h
// blocks) is out of bounds, and a sample older than the newest of its
// series is out of order, unless storage.tsdb.out_of_order_time_window
// (Mimir and Cortex: out_of_order_time_window, per tenant, or
// -ingester.out-of-order-time-window) covers it; beyond that window it is
// too old. The head moves with every other writer, so a site's backlog
// goes out of bounds an hour after its outage began while other sites
// keep sending.
func refusalHint(reason string) string {
	switch reason {
	case ReasonOutOfBounds:
		return " (hint: Prometheus takes samples more than about 1h behind its newest sample only within storage.tsdb.out_of_order_time_window; " +
			"set it above the longest uplink outage (Mimir: out_of_order_time_window / -ingester.out-of-order-time-window), and queue.max_age no longer than it)"
	case ReasonTooOld:
		return " (hint: the samples are older than the server's storage.tsdb.out_of_order_time_window (Mimir: out_of_order_time_window); " +
			"raise it above the longest uplink outage, or set queue.max_age below it so that outpost drops such data itself, counted as expired)"
	case ReasonOutOfOrder:
		return " (hint: older than the newest sample of their series; Prometheus takes them only within storage.tsdb.out_of_order_time_window " +
			"(Mimir: out_of_order_time_window); keep queue.consumers: 1 so that requests arrive in order)"
	}
	return ""
}
