// Package fileexporter implements the `file` exporter: it appends traces,
// metrics and logs to a file as OTLP JSON, one line per batch, each line an
// Export{Trace,Metrics,Logs}ServiceRequest as the OpenTelemetry Collector's
// file exporter writes it, so jq, the Collector's otlpjsonfile receiver and
// other OTLP tools read it. Lines of the three signals may share one file;
// a reader tells them apart by the top-level key (resourceSpans,
// resourceMetrics, resourceLogs).
//
// One mutex and one buffered writer serve every signal and pipeline. A
// batch is accepted once it is in the buffer; the buffer is flushed every
// flush_interval, when a line does not fit, before a rotation and on
// Shutdown (which also fsyncs and closes). With fsync: true every flush
// also fsyncs. Items and bytes are counted as sent when they reach the
// file. A failed write returns a retryable error for the batch at hand;
// batches already accepted into the buffer are then lost and counted under
// outpost_exporter_failed_items_total{reason="write"}, and the file is cut
// back to its last whole line. Set flush_interval: 0 to write (and, with
// fsync, sync) every batch before accepting it.
//
// With rotation, a file never grows past max_size (but a line larger than
// max_size gets a file of its own): it is renamed to <path>.1, older
// backups shift up, at most max_backups are kept.
//
// On start, a last line left partial by a crash is ended with a newline so
// that it spoils no later line; readers should skip lines that do not
// parse.
//
// What it deliberately does not do: it is no durable queue (the buffer is
// in memory and acknowledged before it is written; use flush_interval: 0
// and fsync: true to close that window); it does not compress, does not
// write protobuf (format: json only, for now), and does not rotate by time.
// It expects to be the only writer of its path: two exporters sharing a
// path keep whole lines (each flush is one append of whole lines) but
// rotate each other's files unpredictably. During a reload the old and new
// graph briefly both write; that is safe, though lines written by the old
// one after a rotation by the new one land in <path>.1.
package fileexporter
