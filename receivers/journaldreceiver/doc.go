// Package journaldreceiver reads the systemd journal by running
// `journalctl --output=json --follow --no-pager --all` as a child process
// (the Go journal library needs cgo; outpost is a static binary), with the
// configured filters (--directory or --file, --unit, --identifier,
// --priority, FIELD=value matches joined with "+").
//
// # Cursor: nothing acknowledged is read twice, nothing is lost
//
// Entries are handed to the logs pipeline in batches (at most 512 entries
// or 1 MiB of JSON, or what was read within 200ms). Only once
// ConsumeLogs has returned nil (the batch is in every exporter's queue)
// is the __CURSOR of its last entry stored, in the file "cursor" under the
// receiver's storage directory (storage.directory/receiver_<id>), written
// to a temporary file, fsynced and renamed over it, with the directory
// fsynced: a crash leaves the old cursor or the new one. At start, and
// whenever journalctl is run again, it resumes with --after-cursor (then
// start_at does not apply). So a kill -9 or power cut reads again at most
// the batch in flight, and loses nothing the journal still holds.
//
// Back-pressure: while the pipeline refuses a batch with a retryable error
// (a full queue under `block`), the batch is retried with backoff (100ms
// doubling to 5s, or the throttle's hint), the cursor stays, and nothing
// more is read: the reader stops reading journalctl's stdout, journalctl
// blocks on its pipe, and the journal is the buffer. memory_limit is
// charged for each batch (memlimit.Expansion bytes per byte of JSON)
// before it is decoded; while it is taken, reading waits. A batch refused
// for good is counted (refused_items reason permanent, or rejected inside a
// partial success) and its cursor stored, so that one bad batch cannot
// stop the journal.
//
// journalctl exiting (a missing file, a bad cursor, a crash) is logged and
// it is run again after the stored cursor, with backoff from 100ms
// doubling to 30s (back to 100ms after a run of a minute or more).
//
// # Mapping
//
// One log record per entry, all of a batch in one resource and scope:
//
//   - MESSAGE is the body: a string; when journald stored it as bytes (it
//     holds a newline or another control character) it is the string of
//     those bytes if they are valid UTF-8, else bytes.
//   - PRIORITY (0-7, syslog levels) sets the severity as the OpenTelemetry
//     Collector's journald receiver does: 0 FATAL, 1 ERROR3, 2 ERROR2, 3
//     ERROR, 4 WARN, 5 INFO2, 6 INFO, 7 DEBUG, with the syslog keyword
//     (emerg, alert, crit, err, warning, notice, info, debug) as the
//     severity text. Another value stays an attribute.
//   - __REALTIME_TIMESTAMP (µs) is the timestamp; the observed time is
//     when the batch was read.
//   - Every other field is an attribute of the same name (__CURSOR,
//     _SYSTEMD_UNIT, SYSLOG_IDENTIFIER, _PID, ...): a string; bytes for a
//     field journalctl prints as an array of numbers (binary); a slice for
//     a field that repeats (of strings, or of bytes). A null (a field
//     journalctl left out) is skipped.
//
// A line that does not decode, or has no __CURSOR, is skipped and counted
// (bad_requests reason decode); a line over 4 MiB likewise (too_large).
//
// # What it does not do
//
// No reading of the journal without journalctl; no grouping of entries by
// unit into resources; no fallback when a stored cursor is refused by
// journalctl (it logs the error and retries; remove the cursor file to
// start over from start_at).
package journaldreceiver
