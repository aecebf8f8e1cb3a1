package journaldreceiver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

const (
	transport  = "journalctl"
	signalLogs = string(pipeline.SignalLogs)

	// cursorFile, under Settings.StorageDir, holds the __CURSOR of the
	// last acknowledged entry and a newline.
	cursorFile = "cursor"

	// maxBatchEntries and maxBatchBytes bound one batch handed to the
	// pipeline (and so what a kill -9 can make the receiver read twice);
	// flushAfter is how long a batch that is not full waits for more.
	maxBatchEntries = 512
	maxBatchBytes   = 1 << 20
	flushAfter      = 200 * time.Millisecond
	// maxEntryBytes caps one JSON line; a longer entry is skipped and
	// counted (bad_requests reason too_large).
	maxEntryBytes = 4 << 20
	// linesBuffered is how many read lines wait for the batcher; when it
	// is full the reader stops reading journalctl's stdout.
	linesBuffered = 64

	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
	// stableRun resets the restart backoff: journalctl that ran this long
	// was not failing at once.
	stableRun  = time.Minute
	stderrKeep = 4 << 10
	logEvery   = 10 * time.Second
)

// receiver runs journalctl and hands what it prints to the logs pipeline.
type receiver struct {
	id     pipeline.ID
	cfg    *Config
	logger *slog.Logger
	next   consumer.Logs
	memory *memlimit.Limiter
	dir    string
	now    func() time.Time

	accepted           prometheus.Counter
	refusedPermanent   prometheus.Counter
	refusedRejected    prometheus.Counter
	refusedUnavailable prometheus.Counter
	badDecode          prometheus.Counter
	badTooLarge        prometheus.Counter

	logMu   sync.Mutex
	lastLog map[string]time.Time

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	stopped sync.Once
	stopErr error

	cursor string // of the last acknowledged entry; run goroutine only
}

func newReceiver(set pipeline.Settings, cfg *Config, next consumer.Logs) *receiver {
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	id := set.ID.String()
	refused := func(reason string) prometheus.Counter {
		return tel.ReceiverRefused.WithLabelValues(id, signalLogs, transport, reason)
	}
	bad := func(reason string) prometheus.Counter {
		return tel.ReceiverBadRequests.WithLabelValues(id, signalLogs, transport, reason)
	}
	return &receiver{
		id: set.ID, cfg: cfg, logger: logger, next: next, memory: set.Memory, dir: set.StorageDir, now: time.Now,
		accepted:           tel.ReceiverAccepted.WithLabelValues(id, signalLogs, transport),
		refusedPermanent:   refused("permanent"),
		refusedRejected:    refused("rejected"),
		refusedUnavailable: refused("unavailable"),
		badDecode:          bad("decode"),
		badTooLarge:        bad("too_large"),
		lastLog:            map[string]time.Time{},
	}
}

// Start reads the stored cursor and starts journalctl in the background.
func (r *receiver) Start(_ context.Context, _ pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("journald receiver %s: already started", r.id)
	}
	cursor, err := readCursor(r.dir)
	if err != nil {
		return fmt.Errorf("journald receiver %s: %w", r.id, err)
	}
	if _, err := r.cfg.args(cursor); err != nil {
		return fmt.Errorf("journald receiver %s: %w", r.id, err)
	}
	r.cursor = cursor
	ctx, cancel := context.WithCancel(context.Background())
	r.started, r.cancel, r.done = true, cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.run(ctx)
	}()
	return nil
}

// Shutdown stops journalctl and waits for the receiver to stop, until ctx
// ends. A batch the pipeline has not acknowledged is read again at the
// next start. Shutdown is idempotent.
func (r *receiver) Shutdown(ctx context.Context) error {
	r.stopped.Do(func() {
		r.mu.Lock()
		cancel, done := r.cancel, r.done
		r.started = true // a Start after Shutdown fails
		r.mu.Unlock()
		if cancel == nil {
			return
		}
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			r.stopErr = fmt.Errorf("journald receiver %s: shutdown: %w", r.id, ctx.Err())
		}
	})
	return r.stopErr
}

// run runs journalctl until ctx ends, again with backoff whenever it
// exits.
func (r *receiver) run(ctx context.Context) {
	backoff := minBackoff
	for {
		began := r.now()
		err := r.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if r.now().Sub(began) > stableRun {
			backoff = minBackoff
		}
		r.logger.Warn("journalctl exited; restarting it after the last acknowledged entry",
			"receiver", r.id.String(), "error", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// session runs journalctl once, after the stored cursor, and hands its
// entries to the pipeline batch by batch until it exits or ctx ends.
func (r *receiver) session(ctx context.Context) error {
	args, err := r.cfg.args(r.cursor)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(sctx, r.cfg.JournalctlPath, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	stderr := &tailBuffer{max: stderrKeep}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.cfg.JournalctlPath, err)
	}
	lines := make(chan []byte, linesBuffered)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		readErr <- r.read(sctx, stdout, lines)
	}()
	r.batch(sctx, lines)
	// The batcher returns when ctx ends or the lines end: stop journalctl
	// (a no-op once it has exited) and let the reader finish.
	cancel()
	for range lines {
	}
	rerr := <-readErr
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := strings.TrimSpace(stderr.String())
	switch {
	case werr != nil && msg != "":
		return fmt.Errorf("%w: %s", werr, msg)
	case werr != nil:
		return werr
	case rerr != nil:
		return rerr
	}
	return errors.New("journalctl exited")
}

// read sends each line of journalctl's output to lines. It blocks while
// lines is full: journalctl then blocks on its pipe, and the journal is
// the buffer.
func (r *receiver) read(ctx context.Context, stdout io.Reader, lines chan<- []byte) error {
	br := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, tooLong, err := readLine(br, maxEntryBytes)
		if tooLong {
			r.badTooLarge.Inc()
			r.warn("too_large", "skipped a journal entry longer than the limit", "limit_bytes", maxEntryBytes)
		} else if len(bytes.TrimSpace(line)) > 0 {
			select {
			case lines <- line:
			case <-ctx.Done():
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads up to a newline; a line of more than most bytes is read
// to its end and dropped (tooLong).
func readLine(br *bufio.Reader, most int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > most+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, tooLong, err
	}
}

// batch gathers lines into batches and hands each to the pipeline; it
// returns when lines is closed (after handing what it holds) or ctx ends.
func (r *receiver) batch(ctx context.Context, lines <-chan []byte) {
	var (
		pending [][]byte
		size    int
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	maxBytes := int(r.memory.MaxRequestSize(maxBatchBytes))
	flush := func() bool {
		if len(pending) == 0 {
			return true
		}
		ok := r.deliver(ctx, pending, size)
		pending, size = nil, 0
		return ok
	}
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				flush()
				return
			}
			if len(pending) > 0 && size+len(line) > maxBytes {
				if !flush() {
					return
				}
			}
			if len(pending) == 0 {
				timer.Reset(flushAfter)
			}
			pending = append(pending, line)
			size += len(line)
			if len(pending) >= maxBatchEntries || size >= maxBytes {
				timer.Stop()
				if !flush() {
					return
				}
			}
		case <-timer.C:
			if !flush() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// deliver hands one batch to the pipeline, again and again with backoff
// while the pipeline answers a retryable error (a full queue under
// `block`): reading stops meanwhile. Once the pipeline has taken it (or
// refused it for good), the cursor of its last entry is stored. It
// returns false when ctx ended first.
func (r *receiver) deliver(ctx context.Context, lines [][]byte, size int) bool {
	backoff := minBackoff
	for {
		charge, err := r.admit(ctx, int64(size)*memlimit.Expansion)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			// Larger than memory_limit lets anything hold: hand it on
			// uncharged rather than lose it.
			charge = nil
		}
		// Decoded afresh for each attempt: the pipeline owns what it was
		// given, even when it refused it.
		ld, n, cursor := r.decode(lines)
		if n == 0 {
			charge.Release()
			return r.store(cursor)
		}
		err = r.next.ConsumeLogs(ctx, ld)
		charge.Release()
		if err == nil {
			r.accepted.Add(float64(n))
			return r.store(cursor)
		}
		if pe, ok := errors.AsType[*pipeline.PartialError](err); ok && !isRetryable(err) {
			rej := min(max(pe.Rejected, 0), int64(n))
			r.accepted.Add(float64(int64(n) - rej))
			r.refusedRejected.Add(float64(rej))
			r.warn("rejected", "the pipeline refused journal entries for good", "rejected", rej, "error", err)
			return r.store(cursor)
		}
		if !isRetryable(err) {
			r.refusedPermanent.Add(float64(n))
			r.warn("permanent", "the pipeline refused journal entries for good", "entries", n, "error", err)
			return r.store(cursor)
		}
		r.refusedUnavailable.Add(float64(n))
		r.warn("retry", "the pipeline refused journal entries for now; reading paused, retrying", "entries", n, "error", err, "retry_in", backoff)
		wait := backoff
		if d, ok := pipeline.IsThrottle(err); ok && d > 0 {
			wait = d
		}
		if !sleep(ctx, wait) {
			return false
		}
		backoff = min(backoff*2, maxBackoff/6)
	}
}

// isRetryable reports whether err (or any error a fan-out joined into it)
// asks for the batch again: the whole batch is then retried, at least once
// (at-least-once: a pipeline that took it may get it twice).
func isRetryable(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if isRetryable(e) {
				return true
			}
		}
		return false
	}
	if _, ok := errors.AsType[*pipeline.PartialError](err); ok {
		return false
	}
	return !consumererror.IsPermanent(err)
}

// admit charges n bytes to memory_limit, waiting while the limit is taken
// (reading stays paused meanwhile).
func (r *receiver) admit(ctx context.Context, n int64) (*memlimit.Charge, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := r.memory.AdmitWait(wctx, n)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, memlimit.ErrLimit) {
			return c, err
		}
	}
}

// decode turns a batch of lines into logs; undecodable lines are counted
// and skipped. cursor is the last decoded entry's.
func (r *receiver) decode(lines [][]byte) (ld plog.Logs, n int, cursor string) {
	ld = plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	recs.EnsureCapacity(len(lines))
	observed := pcommon.NewTimestampFromTime(r.now())
	for _, line := range lines {
		lr := recs.AppendEmpty()
		c, err := decodeEntry(line, lr)
		if err != nil {
			recs.RemoveIf(func(x plog.LogRecord) bool { return x == lr })
			r.badDecode.Inc()
			r.warn("decode", "skipped a journal entry that does not decode", "error", err)
			continue
		}
		lr.SetObservedTimestamp(observed)
		cursor = c
		n++
	}
	return ld, n, cursor
}

// store persists cursor (when not empty) as the last acknowledged entry:
// written to a temporary file, synced, renamed over the cursor file, and
// the directory synced, so that a crash leaves the old or the new cursor.
// A failed write is logged; the receiver goes on (the next batch writes
// it again), at the cost of reading those entries twice after a crash.
func (r *receiver) store(cursor string) bool {
	if cursor == "" {
		return true
	}
	r.cursor = cursor
	if err := writeCursor(r.dir, cursor); err != nil {
		r.warn("cursor", "cannot store the journal cursor", "error", err)
	}
	return true
}

func readCursor(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, cursorFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cursor: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func writeCursor(dir, cursor string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, cursorFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(cursor + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, cursorFile)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// warn logs at most one line per key and logEvery.
func (r *receiver) warn(key, msg string, args ...any) {
	r.logMu.Lock()
	now := r.now()
	if t, ok := r.lastLog[key]; ok && now.Sub(t) < logEvery {
		r.logMu.Unlock()
		return
	}
	r.lastLog[key] = now
	r.logMu.Unlock()
	r.logger.Warn(msg, append(args, "receiver", r.id.String())...)
}

// tailBuffer keeps the last max bytes written to it (journalctl's stderr,
// for the log line when it exits).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
