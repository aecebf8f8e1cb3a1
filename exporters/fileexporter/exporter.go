package fileexporter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
)

const (
	// bufferSize is the write buffer. Lines never straddle a flush: a line
	// that does not fit is preceded by a flush, and a line larger than the
	// buffer is written straight through.
	bufferSize = 64 << 10

	fileMode = 0o640
	dirMode  = 0o750
)

// signal indexes the per-signal state.
type signal int

const (
	sigTraces signal = iota
	sigMetrics
	sigLogs
	numSignals
)

var signalNames = [numSignals]pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalLogs}

type signalCounters struct {
	sent, sentBytes                          prometheus.Counter
	failedWrite, failedEncode, failedStopped prometheus.Counter
}

// pending is what sits in the write buffer for one signal: accepted, not
// yet counted as sent.
type pending struct{ items, bytes int }

type runState int

const (
	stateCreated runState = iota
	stateRunning
	stateClosed
)

var errNotRunning = errors.New("file exporter is not running")

type exporter struct {
	path          string
	flushInterval time.Duration
	fsync         bool
	rotation      *Rotation
	logger        *slog.Logger
	counters      [numSignals]signalCounters

	// mu guards everything below: one writer for every signal.
	mu      sync.Mutex
	state   runState
	f       *os.File // nil until opened, after a failed write and after a rotation that failed half-way
	bw      *bufio.Writer
	size    int64 // bytes of the current file, written or buffered
	durable int64 // bytes of the current file known written (and synced, with fsync)
	pending [numSignals]pending
	failing bool // a write failed and none has succeeded since (logged once)

	stop chan struct{} // closed by Shutdown to end flushLoop
	done chan struct{} // closed by flushLoop when it ends
}

func newExporter(set pipeline.Settings, cfg *Config) *exporter {
	e := &exporter{
		path:          cfg.Path,
		flushInterval: cfg.FlushInterval,
		fsync:         cfg.FSync,
		logger:        set.Logger,
		bw:            bufio.NewWriterSize(nil, bufferSize),
	}
	if cfg.Rotation != nil {
		r := *cfg.Rotation
		e.rotation = &r
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New() // counted, but seen by nobody
	}
	id := set.ID.String()
	for i, name := range signalNames {
		s := string(name)
		e.counters[i] = signalCounters{
			sent:          tel.ExporterSent.WithLabelValues(id, s),
			sentBytes:     tel.ExporterSentBytes.WithLabelValues(id, s),
			failedWrite:   tel.ExporterFailed.WithLabelValues(id, s, "write"),
			failedEncode:  tel.ExporterFailed.WithLabelValues(id, s, "encode"),
			failedStopped: tel.ExporterFailed.WithLabelValues(id, s, "shutdown"),
		}
	}
	return e
}

// Capabilities implements the consumer interfaces: the exporter only reads.
func (e *exporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start opens the file (creating its directory) and starts the periodic
// flush.
func (e *exporter) Start(context.Context, pipeline.Host) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateCreated {
		return errors.New("file exporter: started twice")
	}
	if err := e.openLocked(); err != nil {
		return err
	}
	e.state = stateRunning
	if e.flushInterval > 0 {
		e.stop, e.done = make(chan struct{}), make(chan struct{})
		go e.flushLoop(e.stop, e.done)
	}
	return nil
}

// Shutdown flushes, syncs and closes the file. It is idempotent; a second
// call, or one without Start, does nothing.
func (e *exporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	if e.state != stateRunning {
		e.state = stateClosed
		e.mu.Unlock()
		return nil
	}
	e.state = stateClosed
	err := e.closeLocked()
	stop, done := e.stop, e.done
	e.mu.Unlock()
	if stop != nil {
		close(stop)
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		}
	}
	return err
}

func (e *exporter) flushLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(e.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			e.mu.Lock()
			if e.state == stateRunning && e.bw.Buffered() > 0 {
				_ = e.flushLocked(e.fsync) // counted and logged by flushLocked
			}
			e.mu.Unlock()
		}
	}
}

func (e *exporter) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	if td.ResourceSpans().Len() == 0 {
		return nil
	}
	n := td.SpanCount()
	line, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return e.encodeFailed(sigTraces, n, err)
	}
	return e.write(sigTraces, append(line, '\n'), n)
}

func (e *exporter) ConsumeMetrics(_ context.Context, md pmetric.Metrics) error {
	if md.ResourceMetrics().Len() == 0 {
		return nil
	}
	n := md.DataPointCount()
	line, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	if err != nil {
		return e.encodeFailed(sigMetrics, n, err)
	}
	return e.write(sigMetrics, append(line, '\n'), n)
}

func (e *exporter) ConsumeLogs(_ context.Context, ld plog.Logs) error {
	if ld.ResourceLogs().Len() == 0 {
		return nil
	}
	n := ld.LogRecordCount()
	line, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return e.encodeFailed(sigLogs, n, err)
	}
	return e.write(sigLogs, append(line, '\n'), n)
}

func (e *exporter) encodeFailed(sig signal, items int, err error) error {
	e.counters[sig].failedEncode.Add(float64(items))
	return consumererror.NewPermanent(fmt.Errorf("encode %s as OTLP JSON: %w", signalNames[sig], err))
}

// write appends one line. The line is accepted once it is in the buffer (or
// in the file, when it bypasses the buffer); it is counted as sent when it
// reaches the file. Errors are retryable: the caller may send the batch
// again.
func (e *exporter) write(sig signal, line []byte, items int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	fail := func(err error) error {
		e.counters[sig].failedWrite.Add(float64(items))
		return err
	}
	if e.state != stateRunning {
		e.counters[sig].failedStopped.Add(float64(items))
		return errNotRunning
	}
	if err := e.openLocked(); err != nil {
		return fail(err)
	}
	n := int64(len(line))
	if r := e.rotation; r != nil && e.size > 0 && e.size+n > int64(r.MaxSize) {
		if err := e.rotateLocked(); err != nil {
			return fail(err)
		}
	}
	if len(line) > e.bw.Available() && e.bw.Buffered() > 0 {
		if err := e.flushLocked(e.fsync); err != nil {
			return fail(err)
		}
	}
	// The buffer is now empty or has room for the line, so Write either
	// copies or writes the line straight through; only the latter can fail.
	if _, err := e.bw.Write(line); err != nil {
		e.discardLocked(err)
		return fail(fmt.Errorf("write %s: %w", e.path, err))
	}
	e.size += n
	e.pending[sig].items += items
	e.pending[sig].bytes += len(line)
	if e.bw.Buffered() == 0 || e.flushInterval == 0 {
		// Written through, or no buffering wanted: settle it now (fsync and
		// count). A failure counts this batch among the failed.
		return e.flushLocked(e.fsync)
	}
	return nil
}

// openLocked opens the file if it is not open.
func (e *exporter) openLocked() error {
	if e.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(e.path), dirMode); err != nil {
		return fmt.Errorf("create directory for %s: %w", e.path, err)
	}
	f, err := os.OpenFile(e.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, fileMode)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat %s: %w", e.path, err)
	}
	size := st.Size()
	if size > 0 {
		// A crash or power cut can leave a partial last line. End it, so
		// that it stays one bad line instead of spoiling the next good one.
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err == nil && last[0] != '\n' {
			if _, err := f.Write([]byte{'\n'}); err == nil {
				size++
			}
		}
	}
	e.f, e.size, e.durable = f, size, size
	e.bw.Reset(f)
	return nil
}

// flushLocked writes the buffer out (and fsyncs when sync is set), then
// counts what was pending as sent. On failure it counts it as failed
// instead: those batches were already accepted and are lost.
func (e *exporter) flushLocked(sync bool) error {
	if e.f == nil {
		return nil // nothing is buffered while the file is closed
	}
	if err := e.bw.Flush(); err != nil {
		e.discardLocked(err)
		return fmt.Errorf("write %s: %w", e.path, err)
	}
	if sync {
		if err := e.f.Sync(); err != nil {
			e.discardLocked(err)
			return fmt.Errorf("fsync %s: %w", e.path, err)
		}
	}
	e.durable = e.size
	for i := range e.pending {
		if p := e.pending[i]; p.items > 0 || p.bytes > 0 {
			e.counters[i].sent.Add(float64(p.items))
			e.counters[i].sentBytes.Add(float64(p.bytes))
			e.pending[i] = pending{}
		}
	}
	if e.failing {
		e.failing = false
		e.logger.Info("file exporter: writing works again", "path", e.path)
	}
	return nil
}

// discardLocked recovers from a failed write: it drops the buffer, counts
// its batches as failed, cuts the file back to its last good length so that
// it holds only whole lines, and closes it so that the next write opens it
// afresh. The first failure of a run is logged.
func (e *exporter) discardLocked(cause error) {
	for i := range e.pending {
		e.counters[i].failedWrite.Add(float64(e.pending[i].items))
		e.pending[i] = pending{}
	}
	e.bw.Reset(nil)
	// Best effort: if this fails too, the next open ends the torn line.
	_ = e.f.Truncate(e.durable)
	// Reopen on the next write: that also recovers from a file that was
	// removed or a handle that went bad.
	_ = e.f.Close()
	e.f = nil
	if !e.failing {
		e.failing = true
		e.logger.Warn("file exporter: write failed; buffered batches dropped, later batches fail until a write succeeds",
			"path", e.path, "err", cause)
	}
}

// rotateLocked closes the full file, shifts the backups and opens a new
// file. If it fails half-way, the next write opens the file again and
// retries the rotation.
func (e *exporter) rotateLocked() error {
	if err := e.flushLocked(e.fsync); err != nil {
		return err
	}
	err := e.f.Close()
	e.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", e.path, err)
	}
	if err := shiftBackups(e.path, e.rotation.MaxBackups); err != nil {
		return fmt.Errorf("rotate %s: %w", e.path, err)
	}
	if e.fsync {
		// Make the renames durable too. Best effort: the data is safe
		// either way, only its file name may revert after a power cut.
		if d, err := os.Open(filepath.Dir(e.path)); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	return e.openLocked()
}

// closeLocked flushes, syncs and closes the file.
func (e *exporter) closeLocked() error {
	if e.f == nil {
		return nil
	}
	err := e.flushLocked(true)
	if cerr := e.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s: %w", e.path, cerr))
	}
	e.f = nil
	return err
}

func backupName(path string, i int) string { return path + "." + strconv.Itoa(i) }

// shiftBackups renames path to path.1, path.1 to path.2 and so on, keeping
// at most n backups. Backups numbered beyond n (left by a larger
// max_backups before) are removed too.
func shiftBackups(path string, n int) error {
	if err := removeBackupsFrom(path, n); err != nil {
		return err
	}
	if n == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	for i := n - 1; i >= 1; i-- {
		if err := os.Rename(backupName(path, i), backupName(path, i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Rename(path, backupName(path, 1))
}

// removeBackupsFrom removes the backups of path numbered n or higher.
func removeBackupsFrom(path string, n int) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		suffix, ok := strings.CutPrefix(ent.Name(), base+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(suffix); err != nil || i < n || i < 1 || strconv.Itoa(i) != suffix {
			continue
		}
		if err := os.Remove(filepath.Join(dir, ent.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
