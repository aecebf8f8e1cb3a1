package filelogreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/flush"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/memlimit"
)

// transport is the transport label of the receiver metrics.
const transport = "file"

// Values of the reason label of outpost_receiver_refused_items_total, as
// the OTLP receiver's: the pipeline asked to slow down (a full queue),
// failed otherwise but retryably, or refused for good.
const (
	reasonRefusedThrottled   = "throttled"
	reasonRefusedUnavailable = "unavailable"
	reasonRefusedPermanent   = "permanent"
)

// Values of the reason label of outpost_receiver_filelog_altered_lines_total
// that reading yields (parsing adds its own).
const (
	reasonSplit           = "split"
	reasonInvalidEncoding = "invalid_encoding"
)

// forgetAfter is how many polls a record is kept after its file was last
// seen: a file renamed out of sight and back (or missed between a rename
// and a create) is then still recognised.
const forgetAfter = 3

// Back-off between two attempts to hand a refused batch to the pipeline
// (a retry hint of the pipeline is followed up to retryMax).
const (
	retryInitial = 50 * time.Millisecond
	retryMax     = 2 * time.Second
)

// maxBatchBytes caps the line bytes of one batch (besides max_batch_size
// lines); memory_limit may lower it.
const maxBatchBytes = 4 << 20

// logEvery is the shortest interval between two log lines of one kind.
const logEvery = 10 * time.Second

// fileRecord is what the receiver knows of one file: its identity (the
// hash of its first fpLen bytes) and the offset up to which the pipeline
// accepted its lines.
type fileRecord struct {
	fpLen  int
	fpHash uint64
	offset int64
	path   string
	done   bool // a compressed file read to its end
	// unseen counts the polls since a file last matched the record.
	unseen int
	// size is the file's size at the last poll, for the backlog gauge.
	size int64
	// flush times the unterminated data at offset, for force_flush_period.
	flush flush.State
}

func (r *fileRecord) entry() checkpointEntry {
	return checkpointEntry{FPLen: r.fpLen, FPHash: r.fpHash, Offset: r.offset, Path: r.path, Done: r.done}
}

// receiver tails files. One goroutine (run) owns every fileRecord and the
// checkpoint; Shutdown cancels it and waits.
type receiver struct {
	id       pipeline.ID
	cfg      *Config
	logger   *slog.Logger
	next     consumer.Logs
	memory   *memlimit.Limiter
	enc      fileEncoding
	parser   *parser
	dir      string
	maxBatch int // bytes

	accepted  prometheus.Counter
	refused   *prometheus.CounterVec // reason
	altered   *prometheus.CounterVec // reason
	unread    prometheus.Gauge
	filesG    prometheus.Gauge
	lastWarns map[string]time.Time

	records []*fileRecord
	// startAtEnd is true until the first poll when no checkpoint existed
	// and start_at is end.
	startAtEnd bool

	// polls counts completed polls (for tests).
	polls atomic.Int64
	// pollMu is held during each poll, so that a test can change files
	// between two polls.
	pollMu sync.Mutex

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newReceiver(set pipeline.Settings, cfg *Config, next consumer.Logs) (*receiver, error) {
	logger := set.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tel := set.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	enc, err := lookupEncoding(cfg.Encoding)
	if err != nil {
		return nil, err
	}
	r := &receiver{
		id:        set.ID,
		cfg:       cfg,
		logger:    logger,
		next:      next,
		memory:    set.Memory,
		enc:       enc,
		dir:       set.StorageDir,
		maxBatch:  int(set.Memory.MaxRequestSize(maxBatchBytes)),
		accepted:  tel.ReceiverAccepted.WithLabelValues(set.ID.String(), string(pipeline.SignalLogs), transport),
		refused:   tel.ReceiverRefused.MustCurryWith(prometheus.Labels{"receiver": set.ID.String(), "signal": string(pipeline.SignalLogs), "transport": transport}),
		altered:   tel.Filelog.AlteredLines.MustCurryWith(prometheus.Labels{"receiver": set.ID.String()}),
		unread:    tel.Filelog.UnreadBytes.WithLabelValues(set.ID.String()),
		filesG:    tel.Filelog.Files.WithLabelValues(set.ID.String()),
		lastWarns: map[string]time.Time{},
	}
	if cfg.Parser != nil {
		if r.parser, err = newParser(cfg.Parser); err != nil {
			return nil, err
		}
	}
	if r.dir == "" {
		return nil, errors.New("filelog receiver: no storage directory (storage.directory) for its checkpoint")
	}
	return r, nil
}

// Start loads the checkpoint and starts polling in the background.
func (r *receiver) Start(_ context.Context, _ pipeline.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("filelog receiver %s: already started", r.id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan struct{})
	r.started = true
	go r.run(ctx)
	return nil
}

// Shutdown stops reading; a batch being handed to the pipeline is
// finished or abandoned (its lines are read again at the next start).
func (r *receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || r.cancel == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
		r.cancel = nil
		return nil
	case <-ctx.Done():
		return fmt.Errorf("filelog receiver %s: shutdown: %w", r.id, ctx.Err())
	}
}

func (r *receiver) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	// The checkpoint is read once the storage directory is ours: across a
	// reload the old receiver holds it until it has stopped.
	var lock *os.File
	for {
		var err error
		if lock, err = lockDir(r.dir); err == nil {
			break
		}
		if !errors.Is(err, errLocked) {
			r.warn("lock", "filelog cannot lock its storage directory; retrying", "dir", r.dir, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	defer lock.Close()
	r.load()
	for {
		r.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// load reads the checkpoint into the records.
func (r *receiver) load() {
	entries, found, err := loadCheckpoint(r.dir)
	if err != nil {
		r.logger.Error("filelog checkpoint unusable", "err", err)
	}
	for _, e := range entries {
		r.records = append(r.records, &fileRecord{fpLen: e.FPLen, fpHash: e.FPHash, offset: e.Offset, path: e.Path, done: e.Done})
	}
	r.startAtEnd = !found && r.cfg.StartAt == StartAtEnd
}

// warn logs at most once per logEvery for each kind.
func (r *receiver) warn(kind, msg string, args ...any) {
	now := time.Now()
	if last, ok := r.lastWarns[kind]; ok && now.Sub(last) < logEvery {
		return
	}
	r.lastWarns[kind] = now
	r.logger.Warn(msg, args...)
}

// matchPaths lists the regular files the include globs match and the
// exclude globs do not, sorted.
func (r *receiver) matchPaths() []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range r.cfg.Include {
		matches, err := doublestar.FilepathGlob(g, doublestar.WithFilesOnly(), doublestar.WithFailOnIOErrors())
		if err != nil {
			r.warn("glob", "filelog glob failed", "glob", g, "err", err)
		}
	next:
		for _, m := range matches {
			if seen[m] {
				continue
			}
			for _, x := range r.cfg.Exclude {
				if ok, _ := doublestar.PathMatch(x, m); ok {
					continue next
				}
			}
			seen[m] = true
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// candidate is a file found by a poll.
type candidate struct {
	path   string
	f      *os.File
	size   int64
	prefix []byte // the first min(size, fingerprint_size) bytes
	rec    *fileRecord
	gzip   bool
}

// poll scans the globs once and reads every file with unread lines, in
// groups of max_concurrent_files open files.
func (r *receiver) poll(ctx context.Context) {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	paths := r.matchPaths()
	// Paths a record was last read at come first: when the files are
	// taken in several groups, a file still at its path claims its
	// record before a copy of it elsewhere could.
	known := make(map[string]bool, len(r.records))
	for _, rec := range r.records {
		known[rec.path] = true
	}
	slices.SortStableFunc(paths, func(a, b string) int {
		switch {
		case known[a] == known[b]:
			return 0
		case known[a]:
			return -1
		}
		return 1
	})
	// claimed maps each record a file took in this poll to that file's prefix.
	claimed := map[*fileRecord][]byte{}
	for len(paths) > 0 && ctx.Err() == nil {
		n := min(len(paths), r.cfg.MaxConcurrentFiles)
		group := r.open(paths[:n])
		paths = paths[n:]
		r.assign(group, claimed)
		for _, c := range group {
			if c.rec != nil && ctx.Err() == nil {
				r.read(ctx, c)
			}
			c.f.Close()
		}
	}
	if ctx.Err() != nil {
		return
	}
	// Records not matched by any file this poll age; old ones are dropped.
	kept := r.records[:0]
	for _, rec := range r.records {
		if _, ok := claimed[rec]; !ok {
			rec.unseen++
			if rec.unseen > forgetAfter {
				continue
			}
		} else {
			rec.unseen = 0
		}
		kept = append(kept, rec)
	}
	clear(r.records[len(kept):])
	r.records = kept
	r.updateGauges()
	r.polls.Add(1)
	if r.startAtEnd {
		// The offsets at the end of the files found at the first poll must
		// survive a crash: else lines written meanwhile are skipped again.
		r.startAtEnd = false
		r.saveCheckpoint()
	}
}

// updateGauges sets the backlog and file gauges from the records: the
// bytes between each file's checkpoint and its size at its last poll
// (compressed files count their compressed size until read).
func (r *receiver) updateGauges() {
	var unread int64
	for _, rec := range r.records {
		if rec.unseen == 0 && !rec.done && rec.size > rec.offset {
			unread += rec.size - rec.offset
		}
	}
	r.unread.Set(float64(unread))
	r.filesG.Set(float64(len(r.records)))
}

// pauseForTest runs f between two polls.
func (r *receiver) pauseForTest(f func()) {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	f()
}

// open opens the files and reads their fingerprints; files that cannot be
// opened and empty files are left out (an empty file has no identity yet).
func (r *receiver) open(paths []string) []*candidate {
	var out []*candidate
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				r.warn("open", "filelog cannot open file", "path", p, "err", err)
			}
			continue
		}
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			f.Close()
			continue
		}
		prefix := make([]byte, min(st.Size(), int64(r.cfg.FingerprintSize)))
		n, err := f.ReadAt(prefix, 0)
		if n == 0 {
			if err != nil {
				r.warn("read", "filelog cannot read file", "path", p, "err", err)
			}
			f.Close()
			continue
		}
		out = append(out, &candidate{
			path:   p,
			f:      f,
			size:   st.Size(),
			prefix: prefix[:n],
			gzip:   r.cfg.Compression == "gzip" || (r.cfg.Compression == "auto" && filepath.Ext(p) == ".gz"),
		})
	}
	return out
}

// matches reports whether the file with prefix is the one rec describes.
func (rec *fileRecord) matches(prefix []byte) bool {
	return rec.fpLen <= len(prefix) && fingerprint(prefix[:rec.fpLen]) == rec.fpHash
}

// assign gives each candidate its record: the record of the same path
// first, then the one with the longest matching fingerprint. A file that
// matches only records already taken in this poll, and whose first bytes
// are a beginning of the taker's, is a copy of a file being read and is
// skipped (never read twice); a file that matches no record, or only
// taken records whose files it goes on past (two files that merely start
// alike while short), is new.
func (r *receiver) assign(group []*candidate, claimed map[*fileRecord][]byte) {
	for _, c := range group {
		for _, rec := range r.records {
			if _, taken := claimed[rec]; !taken && rec.path == c.path && rec.matches(c.prefix) {
				c.rec = rec
				claimed[rec] = c.prefix
				break
			}
		}
	}
	for _, c := range group {
		if c.rec != nil {
			continue
		}
		var best *fileRecord
		copyOf := false
		for _, rec := range r.records {
			if !rec.matches(c.prefix) {
				continue
			}
			if by, taken := claimed[rec]; taken {
				// A copy holds no more than the file it copies (a file
				// that goes on past a shorter one is not its copy).
				copyOf = copyOf || len(c.prefix) <= len(by) && bytes.Equal(by[:len(c.prefix)], c.prefix)
				continue
			}
			if best == nil || rec.fpLen > best.fpLen {
				best = rec
			}
		}
		switch {
		case best != nil:
			c.rec = best
			claimed[best] = c.prefix
		case copyOf:
			// A copy of a file read in this poll (or the moment of a
			// copytruncate before the truncation): leave it.
		default:
			rec := &fileRecord{fpLen: len(c.prefix), fpHash: fingerprint(c.prefix), path: c.path}
			if r.startAtEnd && !c.gzip {
				rec.offset = c.size
			}
			r.records = append(r.records, rec)
			c.rec = rec
			claimed[rec] = c.prefix
		}
	}
}

// read delivers the file's unread lines. A refused batch is read again
// from the file after a back-off, until it is accepted or ctx ends: the
// file is the buffer, and the checkpoint never passes a line the
// pipeline has not accepted.
func (r *receiver) read(ctx context.Context, c *candidate) {
	rec := c.rec
	rec.size = c.size
	if rec.done {
		return
	}
	if !c.gzip {
		if c.size < rec.offset {
			if rec.path == c.path {
				// Truncated in place (its first bytes unchanged): start over.
				rec.offset = 0
			} else {
				// A shorter copy of a file read further already.
				return
			}
		}
		if c.size == rec.offset {
			return
		}
	}
	rec.path = c.path
	// Grow a short fingerprint as the file grows, so it tells the file
	// apart from later ones that start the same way.
	if len(c.prefix) > rec.fpLen {
		rec.fpLen, rec.fpHash = len(c.prefix), fingerprint(c.prefix)
	}
	wait := retryInitial
	for ctx.Err() == nil {
		err := r.readFrom(ctx, c)
		if err == nil || ctx.Err() != nil {
			return
		}
		var ioErr *readError
		if errors.As(err, &ioErr) {
			r.warn("read", "filelog cannot read file", "path", c.path, "err", err)
			return
		}
		r.updateGauges()
		r.warn("refused", "pipeline refused a batch of file lines; reading pauses and retries from the checkpoint", "path", c.path, "err", err)
		if hint, ok := pipeline.IsThrottle(err); ok && hint > wait {
			wait = min(hint, retryMax)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// deliver hands a batch to the pipeline; it returns nil when the pipeline
// accepted it (or refused it for good: those lines are counted and
// skipped, as they can never be accepted).
func (r *receiver) deliver(ctx context.Context, b *batch) error {
	charge := int64(b.bytes) * memlimit.Expansion
	if capacity := r.memory.Capacity(); capacity > 0 {
		charge = min(charge, capacity)
	}
	held, err := r.memory.AdmitWait(ctx, charge)
	if err != nil {
		return fmt.Errorf("memory_limit: %w", err)
	}
	defer held.Release()
	n := b.logs.LogRecordCount()
	err = r.next.ConsumeLogs(ctx, b.logs)
	switch {
	case err == nil:
		r.accepted.Add(float64(n))
		return nil
	case consumererror.IsPermanent(err):
		r.refused.WithLabelValues(reasonRefusedPermanent).Add(float64(n))
		r.warn("permanent", "pipeline refused a batch of file lines for good; they are skipped", "err", err)
		return nil
	default:
		reason := reasonRefusedUnavailable
		if _, ok := pipeline.IsThrottle(err); ok {
			reason = reasonRefusedThrottled
		}
		r.refused.WithLabelValues(reason).Add(float64(n))
		return err
	}
}

// saveCheckpoint persists every record; a failure is logged (the next
// accepted batch tries again; a crash meanwhile delivers lines twice).
func (r *receiver) saveCheckpoint() {
	entries := make([]checkpointEntry, 0, len(r.records))
	for _, rec := range r.records {
		entries = append(entries, rec.entry())
	}
	if err := saveCheckpoint(r.dir, entries); err != nil {
		r.warn("checkpoint", "filelog checkpoint not saved", "err", err)
	}
}
