// Package debugexporter implements the `debug` exporter: it writes what
// reaches it, for a person to read while building or troubleshooting a
// pipeline.
//
// Every batch of every signal is counted into outpost_exporter_sent_items_total.
// What is written depends on verbosity:
//
//   - basic: one line per batch with its counts;
//   - normal: that line plus one line per resource and scope, with the
//     resource attributes, the scope and its counts (metric names, capped);
//   - detailed: every span, metric data point and log record, in a
//     multi-line form with attributes, timestamps, ids and values.
//
// Output goes through the component's logger at info (one record per
// batch; the text block in its "data" attribute), or as plain text to
// stdout or stderr. Sampling bounds the volume: in each second, per signal,
// the first sampling_initial batches are written, then every
// sampling_thereafter-th.
//
// What it deliberately does not do: it never changes, holds or forwards
// data; it never fails a batch (a broken output stream is counted under
// outpost_exporter_failed_items_total{reason="write"} and otherwise
// ignored, so that it cannot make the sender retry into other exporters);
// its text is not a stable format to parse — use the file exporter's OTLP
// JSON for that. Bytes are counted only for stdout/stderr output, where
// they are known.
package debugexporter
