// Package filelogreceiver implements the `filelog` receiver: it tails
// files matched by doublestar globs and hands their lines, as log records,
// to the logs pipelines, with the promise that no line is lost and none
// is read twice (beyond one batch per file after a crash).
//
// Files are known by a fingerprint, the xxhash64 of their first
// fingerprint_size bytes, not by name, as in the OpenTelemetry Collector's
// fileconsumer design: a renamed file is followed, a copy is not read
// again, a truncated or recreated file is read from its start (the cases
// are tested one by one in cases_test.go). Unlike fileconsumer, the
// offset of a file advances only after the pipeline accepted the batch
// holding its lines (ConsumeLogs returned nil: every exporter queued it),
// and the checkpoint is saved after every such batch (checkpoint.go
// documents the file); under back-pressure the same lines are read again
// from the file later, so the file is the buffer and nothing is held in
// memory. One goroutine owns the files and the checkpoint; it takes an
// flock on the storage directory first, so that across a reload the new
// receiver waits for the old one.
//
// Line splitting, the flush of an unterminated last line, the cut at
// max_log_size and whitespace trimming are the Collector's pkg/stanza
// split, flush and trim packages. Parsers (json, regex, logfmt) fill
// attributes, timestamp and severity (parser.go).
//
// It does not: delete files after reading (delete_after_read), follow
// files renamed outside its globs before they were read to their end,
// read lines that logrotate's copytruncate loses between its copy and its
// truncation, or offer the Collector's general operator pipeline.
package filelogreceiver
