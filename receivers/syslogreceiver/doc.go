// Package syslogreceiver receives syslog messages and hands them to logs
// pipelines: the `syslog` receiver.
//
// Transports: UDP (RFC 5426, one message per datagram), TCP (RFC 6587:
// octet counting, "LEN SP MSG", or non-transparent framing, each message
// ended by LF or NUL; by default the framing is picked per connection from
// its first byte) and TLS (RFC 5425: TCP with octet counting inside TLS).
// Formats: RFC 5424, RFC 3164, or both, told apart per message (`protocol:
// auto`), parsed by github.com/leodido/go-syslog/v4.
//
// Mapping, as the OpenTelemetry Collector's syslog receiver: the severity
// becomes the record's SeverityNumber and SeverityText (emerg → FATAL
// "emerg", alert → ERROR3, crit → ERROR2, err → ERROR, warning → WARN,
// notice → INFO2, info → INFO, debug → DEBUG); the attributes priority,
// facility, version (RFC 5424), hostname, appname, proc_id, msg_id and
// structured_data (a map of SD-ID to a map of its parameters). Unlike the
// Collector, the body is the MSG part, not the whole line, so that the
// header does not cross the uplink twice. Timestamps are the message's;
// RFC 3164 timestamps are read in `location` and given a year (see
// putYear). A message that does not parse is kept, as RFC 3164 has a relay
// do: its whole text is the body and its PRI (or 13, user.notice) gives
// the severity.
//
// Delivery. Messages are batched (batch.send_batch_size, batch.timeout)
// and each batch is handed to the pipeline synchronously. Syslog has no
// acknowledgement: a TCP sender counts a message as delivered once TCP
// took it, so outpost never loses what it has read: a batch read over TCP
// that the pipeline refuses with a retryable error (a full queue under
// `block`, memory_limit) is retried, and meanwhile the connections are
// not read, so TCP's window stops the senders. What a sender wrote into
// the socket before outpost stopped or crashed but outpost had not read is
// lost with the connection; that is syslog over TCP, not outpost. UDP
// cannot push back: a datagram that finds the receiver behind, or no room
// under memory_limit, or whose batch the pipeline refuses, is dropped and
// counted (outpost_receiver_refused_items_total and
// outpost_receiver_bad_requests_total, reasons in docs/metrics.md).
//
// Memory: each message is charged to memory_limit (memlimit.Expansion
// bytes per byte) before it is parsed and released once the pipeline has
// answered for its batch. Read buffers, outside the charge, are bounded by
// tcp.max_connections × tcp.max_log_size and one 64KiB UDP buffer.
//
// Security: tcp.tls is the shared server `tls` block of
// internal/serverconfig (mutual TLS with client_ca_file; certificate, key
// and CA files re-read at the next handshake after they change, so
// rotation needs no restart; files read at creation, so a missing one
// fails the configuration). Syslog carries no credentials, so there is no
// `auth` block: a TCP sender is authenticated by its client certificate or
// not at all, and UDP by nothing. Start warns for a listener beyond
// loopback that lacks TLS or client certificates (TCP), and for every UDP
// listener beyond loopback.
//
// Not done: RFC 3195 (BEEP), relaying or forwarding syslog, DTLS.
package syslogreceiver
