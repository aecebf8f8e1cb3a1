package selftelemetry

import "github.com/prometheus/client_golang/prometheus"

// FilelogMetrics are the metrics of the filelog receiver that the
// receiver metrics (accepted, refused) cannot say.
type FilelogMetrics struct {
	// AlteredLines counts lines sent other than as they were in the file,
	// by reason: split (over max_log_size), invalid_encoding, parse_error,
	// timestamp_error, severity_error.
	AlteredLines *prometheus.CounterVec // receiver, reason
	// UnreadBytes is the bytes of the tracked files not yet accepted by the
	// pipeline, as of the last poll: the backlog the files hold.
	UnreadBytes *prometheus.GaugeVec // receiver
	// Files is the number of files the receiver tracks.
	Files *prometheus.GaugeVec // receiver
}

func (m *Metrics) newFilelogMetrics() *FilelogMetrics {
	altered := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "outpost_receiver_filelog_altered_lines_total",
		Help: "Lines the filelog receiver sent other than as they were in the file, by reason (split, invalid_encoding, parse_error, timestamp_error, severity_error).",
	}, []string{"receiver", "reason"})
	unread := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outpost_receiver_filelog_unread_bytes",
		Help: "Bytes of the files a filelog receiver tracks that the pipeline has not accepted yet, as of its last poll.",
	}, []string{"receiver"})
	files := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outpost_receiver_filelog_files",
		Help: "Files a filelog receiver tracks (fingerprint and offset kept).",
	}, []string{"receiver"})
	m.Registry.MustRegister(altered, unread, files)
	for _, c := range []struct{ name, help string }{
		{"outpost_receiver_filelog_altered_lines_total", "Lines the filelog receiver sent other than as they were in the file, by reason."},
		{"outpost_receiver_filelog_unread_bytes", "Bytes of the files a filelog receiver tracks that the pipeline has not accepted yet."},
		{"outpost_receiver_filelog_files", "Files a filelog receiver tracks."},
	} {
		m.families = append(m.families, Family{Name: c.name, Help: c.help})
	}
	return &FilelogMetrics{AlteredLines: altered, UnreadBytes: unread, Files: files}
}
