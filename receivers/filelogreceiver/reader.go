package filelogreceiver

import (
	"bufio"
	"context"

	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/gzip"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/split"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/trim"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Attribute keys, from the OpenTelemetry semantic conventions (log.file.*).
const (
	attrFileName         = "log.file.name"
	attrFilePath         = "log.file.path"
	attrFileNameResolved = "log.file.name_resolved"
	attrFilePathResolved = "log.file.path_resolved"
)

// fingerprint hashes the first bytes of a file.
func fingerprint(prefix []byte) uint64 { return xxhash.Sum64(prefix) }

// readError is a failure to read a file (not a refusal by the pipeline):
// the file is tried again at the next poll.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// eofReader remembers whether its reader ended cleanly (io.EOF): a
// compressed file's last line is sent only then, never from a torn file.
type eofReader struct {
	r     io.Reader
	clean bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.clean = true
	}
	return n, err
}

// batch is the lines read for one hand-over to the pipeline.
type batch struct {
	logs  plog.Logs
	recs  plog.LogRecordSlice
	bytes int   // line bytes
	end   int64 // offset just after the batch's last line
}

// splitter builds the split function of one pass over a file: the
// Collector's stanza split (newlines or a multiline pattern, in the file's
// encoding), its flush of an unterminated last line after
// force_flush_period, its cut at max_log_size and its whitespace trim. pos
// is advanced by every byte the scanner consumes, so that after each token
// it is the offset just past it; cut is set when the last token was cut at
// max_log_size.
type splitter struct {
	pos int64
	cut bool
}

func (r *receiver) splitFunc(s *splitter, rec *fileRecord, cleanEOF *eofReader) (bufio.SplitFunc, error) {
	maxLog := int(r.cfg.MaxLogSize)
	m := r.cfg.Multiline
	sf, err := split.Config{LineStartPattern: m.LineStartPattern, LineEndPattern: m.LineEndPattern, OmitPattern: m.OmitPattern}.
		Func(r.enc.enc, false, maxLog)
	if err != nil {
		return nil, err
	}
	if cleanEOF != nil {
		// A compressed file is whole: its unterminated last line is sent
		// once the stream ended cleanly.
		inner := sf
		sf = func(data []byte, atEOF bool) (int, []byte, error) {
			adv, tok, err := inner(data, atEOF)
			if err == nil && tok == nil && adv == 0 && atEOF && cleanEOF.clean && len(data) > 0 {
				return len(data), data, nil
			}
			return adv, tok, err
		}
	} else if r.cfg.ForceFlushPeriod > 0 {
		sf = rec.flush.Func(sf, r.cfg.ForceFlushPeriod)
	}
	sf = trim.ToLength(sf, maxLog)
	lengthCut := sf
	sf = func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := lengthCut(data, atEOF)
		s.cut = tok != nil && len(tok) == maxLog && adv == maxLog && !atEOF
		return adv, tok, err
	}
	sf = trim.WithFunc(sf, trim.Config{PreserveLeading: r.cfg.PreserveLeadingWhitespaces, PreserveTrailing: r.cfg.PreserveTrailingWhitespaces}.Func())
	counted := sf
	return func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := counted(data, atEOF)
		if err == nil && adv > 0 {
			s.pos += int64(adv)
		}
		return adv, tok, err
	}, nil
}

// readFrom reads the file of c from its record's offset to its end, in
// batches; after each batch the pipeline accepted, the offset advances
// and the checkpoint is saved. It returns the pipeline's refusal (the
// offset stays before the refused batch) or a *readError.
func (r *receiver) readFrom(ctx context.Context, c *candidate) error {
	rec := c.rec
	var src io.Reader
	var gz *eofReader
	if c.gzip {
		if _, err := c.f.Seek(0, io.SeekStart); err != nil {
			return &readError{err}
		}
		zr, err := gzip.NewReader(bufio.NewReader(c.f))
		if err != nil {
			return &readError{fmt.Errorf("gzip: %w", err)}
		}
		gz = &eofReader{r: zr}
		if _, err := io.CopyN(io.Discard, gz, rec.offset); err != nil {
			return &readError{fmt.Errorf("gzip: skip to offset %d: %w", rec.offset, err)}
		}
		src = gz
	} else {
		if _, err := c.f.Seek(rec.offset, io.SeekStart); err != nil {
			return &readError{err}
		}
		// Read no further than the size seen at the poll: lines appended
		// meanwhile wait for the next poll, so one busy file cannot hold
		// the others back.
		src = io.LimitReader(c.f, c.size-rec.offset)
	}
	s := &splitter{pos: rec.offset}
	sf, err := r.splitFunc(s, rec, gz)
	if err != nil {
		return &readError{err}
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, min(64<<10, int(r.cfg.MaxLogSize)+1)), int(r.cfg.MaxLogSize)+64<<10)
	sc.Split(sf)

	attrs := r.fileAttributes(c.path)
	h := &handOver{r: r, ctx: ctx, rec: rec}
	b := r.newBatch(attrs)
	now := pcommon.NewTimestampFromTime(time.Now())
	for sc.Scan() {
		tok := sc.Bytes()
		cut := s.cut
		b.end = s.pos
		if len(tok) == 0 {
			continue
		}
		r.addLine(b, tok, attrs, now, cut)
		if b.recs.Len() >= r.cfg.MaxBatchSize || b.bytes >= r.maxBatch {
			if !h.send(b) {
				break
			}
			b = r.newBatch(attrs)
			now = pcommon.NewTimestampFromTime(time.Now())
		}
	}
	scanErr := sc.Err()
	if b.recs.Len() > 0 {
		h.send(b)
	}
	if err := h.wait(); err != nil {
		return err
	}
	if b.recs.Len() == 0 && b.end > rec.offset {
		rec.offset = b.end // only empty lines: saved with the next batch
	}
	if scanErr != nil {
		return &readError{scanErr}
	}
	if gz != nil && gz.clean {
		rec.done = true
		r.saveCheckpoint()
	}
	return nil
}

// handOver hands the batches of one pass over a file to the pipeline, in
// order. The first is handed over on the reading goroutine; from the
// second on, a helper goroutine (one per pass, ended by wait) hands
// batch k over and saves its checkpoint while batch k+1 is read and
// parsed. It takes k+1 only after k is in the checkpoint, so at most one
// accepted batch is ever missing from it (a crash delivers at most one
// batch twice), and at most two batches are in memory.
type handOver struct {
	r   *receiver
	ctx context.Context
	rec *fileRecord

	sent    int
	batches chan *batch   // unbuffered; nil until the helper runs
	failed  chan struct{} // closed when a hand-over failed
	done    chan struct{} // closed when the helper has returned
	err     error         // the failure; read after done or failed
}

// deliver hands b over and commits it; it records a failure.
func (h *handOver) deliver(b *batch) bool {
	if err := h.r.deliver(h.ctx, b); err != nil {
		h.err = err
		return false
	}
	h.r.commit(h.rec, b.end)
	return true
}

// send hands b over (or queues it for the helper); false means a batch
// was refused and reading must stop.
func (h *handOver) send(b *batch) bool {
	h.sent++
	if h.sent == 1 {
		return h.deliver(b)
	}
	if h.err != nil && h.batches == nil {
		return false
	}
	if h.batches == nil {
		h.batches = make(chan *batch)
		h.failed = make(chan struct{})
		h.done = make(chan struct{})
		go func() {
			defer close(h.done)
			for b := range h.batches {
				if !h.deliver(b) {
					close(h.failed)
					for range h.batches {
						// Refused: the rest is read again from the file.
					}
					return
				}
			}
		}()
	}
	select {
	case h.batches <- b:
		return true
	case <-h.failed:
		return false
	}
}

// wait ends the helper and returns the first failure.
func (h *handOver) wait() error {
	if h.batches != nil {
		close(h.batches)
		<-h.done
	}
	return h.err
}

// commit advances rec past an accepted batch and saves the checkpoint.
func (r *receiver) commit(rec *fileRecord, end int64) {
	rec.offset = end
	r.saveCheckpoint()
}

func (r *receiver) newBatch(attrs []kv) *batch {
	logs := plog.NewLogs()
	recs := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	return &batch{logs: logs, recs: recs}
}

// kv is an attribute every record of a file gets.
type kv struct{ k, v string }

func (r *receiver) fileAttributes(path string) []kv {
	var out []kv
	if r.cfg.IncludeFileName {
		out = append(out, kv{attrFileName, filepath.Base(path)})
	}
	if r.cfg.IncludeFilePath {
		out = append(out, kv{attrFilePath, path})
	}
	if r.cfg.IncludeFileNameResolved || r.cfg.IncludeFilePathResolved {
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			resolved = path
		}
		if abs, err := filepath.Abs(resolved); err == nil {
			resolved = abs
		}
		if r.cfg.IncludeFileNameResolved {
			out = append(out, kv{attrFileNameResolved, filepath.Base(resolved)})
		}
		if r.cfg.IncludeFilePathResolved {
			out = append(out, kv{attrFilePathResolved, resolved})
		}
	}
	return out
}

// addLine appends one record for tok.
func (r *receiver) addLine(b *batch, tok []byte, attrs []kv, now pcommon.Timestamp, cut bool) {
	lr := b.recs.AppendEmpty()
	lr.SetObservedTimestamp(now)
	b.bytes += len(tok)
	if cut {
		r.altered.WithLabelValues(reasonSplit).Inc()
	}
	if r.enc.nop {
		lr.Body().SetEmptyBytes().FromRaw(tok)
	} else {
		line, ok := r.decode(tok)
		if !ok {
			r.altered.WithLabelValues(reasonInvalidEncoding).Inc()
		}
		lr.Body().SetStr(line)
		if r.parser != nil {
			if failure := r.parser.parse(line, lr); failure != "" {
				r.altered.WithLabelValues(failure).Inc()
			}
		}
	}
	if len(attrs) > 0 {
		a := lr.Attributes()
		for _, x := range attrs {
			a.PutStr(x.k, x.v)
		}
	}
}

// decode turns a token into UTF-8; ok is false when bytes that do not
// decode were replaced by U+FFFD.
func (r *receiver) decode(tok []byte) (string, bool) {
	if r.enc.utf8 {
		if utf8.Valid(tok) {
			return string(tok), true
		}
		return strings.ToValidUTF8(string(tok), "\uFFFD"), false
	}
	out, err := r.enc.enc.NewDecoder().Bytes(tok)
	if err != nil || !utf8.Valid(out) {
		return strings.ToValidUTF8(string(out), "\uFFFD"), false
	}
	return string(out), true
}
