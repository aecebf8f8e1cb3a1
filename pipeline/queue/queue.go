package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
)

// Lane is a record's priority. Read drains more important lanes first;
// drop_oldest sheds less important lanes first.
type Lane uint8

// The lanes, most important first.
const (
	LaneHigh Lane = iota
	LaneNormal
	LaneLow
)

// NumLanes is the number of lanes.
const NumLanes = 3

var laneNames = [NumLanes]string{"high", "normal", "low"}

// String returns the lane's name as used in configs, metric labels and
// directory names: "high", "normal" or "low".
func (l Lane) String() string {
	if l < NumLanes {
		return laneNames[l]
	}
	return "lane(" + strconv.Itoa(int(l)) + ")"
}

// ParseLane parses a lane name.
func ParseLane(s string) (Lane, error) {
	for i, n := range laneNames {
		if s == n {
			return Lane(i), nil
		}
	}
	return 0, fmt.Errorf("unknown queue lane %q (want high, normal or low)", s)
}

// Kind says where a queue keeps its records.
type Kind string

// The queue kinds.
const (
	KindDisk   Kind = "disk"
	KindMemory Kind = "memory"
)

// FullPolicy says what Append does when the queue has no room.
type FullPolicy string

// The full policies.
const (
	// FullBlock refuses the record with ErrFull (the caller pushes back on
	// its client).
	FullBlock FullPolicy = "block"
	// FullDropOldest drops the oldest records of the least important lane
	// to make room; see Append.
	FullDropOldest FullPolicy = "drop_oldest"
)

// FsyncPolicy says when a disk queue's appends are made durable.
type FsyncPolicy string

// The fsync policies.
const (
	// FsyncAlways: Append returns once the record is fsynced (concurrent
	// Appends share one fsync).
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval: Append returns once the record is written to the OS;
	// a background goroutine fsyncs every FsyncInterval.
	FsyncInterval FsyncPolicy = "interval"
)

// Limits are the settings that may change while the queue is open (on
// config reload).
type Limits struct {
	// MaxBytes (> 0) bounds the queued data: the sum of the segment file
	// sizes, headers included (for memory queues, of the in-memory
	// segments). See doc.go for the exact bound.
	MaxBytes int64
	// MaxAge, if > 0, is the age beyond which Read drops a record instead
	// of returning it (counted with reason "expired").
	MaxAge time.Duration
	// FullPolicy is what Append does when there is no room; "" is block.
	FullPolicy FullPolicy
	// Fsync is the disk queue's fsync policy; "" is always. Ignored by
	// memory queues.
	Fsync FsyncPolicy
	// FsyncInterval (> 0) is the period of the background fsync under
	// FsyncInterval.
	FsyncInterval time.Duration
}

// normalized returns l with defaults applied, or why l is invalid.
func (l Limits) normalized(kind Kind) (Limits, error) {
	if l.MaxBytes <= 0 {
		return l, fmt.Errorf("queue max_bytes must be positive, got %d", l.MaxBytes)
	}
	if l.MaxAge < 0 {
		return l, fmt.Errorf("queue max_age must not be negative, got %s", l.MaxAge)
	}
	switch l.FullPolicy {
	case "":
		l.FullPolicy = FullBlock
	case FullBlock, FullDropOldest:
	default:
		return l, fmt.Errorf("queue full policy %q: want %q or %q", l.FullPolicy, FullBlock, FullDropOldest)
	}
	switch l.Fsync {
	case "":
		l.Fsync = FsyncAlways
	case FsyncAlways:
	case FsyncInterval:
		if kind == KindDisk && l.FsyncInterval <= 0 {
			return l, fmt.Errorf("queue fsync interval must be positive, got %s", l.FsyncInterval)
		}
	default:
		return l, fmt.Errorf("queue fsync policy %q: want %q or %q", l.Fsync, FsyncAlways, FsyncInterval)
	}
	return l, nil
}

// segmentSize is the size at which a lane's active segment is sealed.
func segmentSize(maxBytes int64) int64 {
	return min(max(maxBytes/16, 64<<10), 16<<20)
}

// Options configure Open.
type Options struct {
	// Kind is disk or memory; "" is disk.
	Kind Kind
	// Dir is a disk queue's own directory, created if missing. It holds
	// the lock file and the lane directories high/, normal/ and low/.
	Dir string
	// FS is the file system of a disk queue; nil is the OS's.
	FS FS
	// Limits are the initial limits; see Reconfigure.
	Limits Limits
	// Exporter is the value of the `exporter` label of the queue metrics.
	Exporter string
	// Telemetry holds the metric vectors; nil is a private set (tests).
	Telemetry *selftelemetry.Metrics
	// Logger receives rate-limited warnings about corruption and I/O
	// errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock for MaxAge and the age gauge; nil is time.Now.
	Now func() time.Time
}

// Record is one request body, as its writer chose to store it (see
// WireReady), and what the sender needs to know about it.
type Record struct {
	Lane Lane
	// Created is persisted with nanosecond precision; the zero time means
	// "now" (the time of Append).
	Created time.Time
	// Items is the number of spans, data points or log records in Body
	// (0 to 2^32-1).
	Items int
	// Signal, Encoding and Compression are opaque to the queue, at most
	// 255 bytes each.
	Signal      string
	Encoding    string
	Compression string
	Body        []byte
	// RawSize is the size of Body with Compression undone (0 to 2^32-1),
	// so that a sender can bound a merged request without decompressing;
	// 0 when unknown (records of format version 1).
	RawSize int
	// Mergeable says that Body, decompressed, concatenates with the
	// decompressed Body of any other Mergeable record of the same Signal
	// and Encoding into one valid request (protobuf messages whose fields
	// are all repeated). Opaque to the queue.
	Mergeable bool
	// WireReady says that Body is ready to send as it is, Compression
	// naming its content encoding; otherwise Compression is only how the
	// body is stored. Records of format version 1 read as WireReady.
	WireReady bool
}

// The errors of Append and Read. Test with errors.Is: they may be wrapped
// with details.
var (
	// ErrFull: no room and the full policy is block. Retryable.
	ErrFull = errors.New("queue full")
	// ErrTooLarge: the record alone exceeds MaxBytes. Permanent.
	ErrTooLarge = errors.New("record larger than the queue's max_bytes")
	// ErrClosed: the queue is closed.
	ErrClosed = errors.New("queue closed")
	// ErrSync: an fsync failed, so the record is not known to be durable
	// (Linux may have dropped its pages). Retryable: the queue goes on in a
	// new segment.
	ErrSync = errors.New("queue fsync failed; record not known durable")
)

// Delivery is a record handed to one reader. The reader must call exactly
// one of Ack or Nack on it; until then no other reader gets the record.
type Delivery struct {
	Record Record

	q     *Queue
	lane  Lane
	seq   uint64 // the record's sequence number in its lane's window
	state deliveryState
}

type deliveryState uint8

const (
	deliveryInFlight deliveryState = iota
	deliveryFinished               // acked or nacked
	deliveryDropped                // drop_oldest dropped the record while in flight
)

// LaneStats describe one lane. Records and Items count the records not yet
// acknowledged (waiting or in flight: after a crash all of them are
// delivered again); Bytes is the lane's share of MaxBytes (its segment
// files, including acknowledged records in segments not yet deleted);
// Oldest is the Created time of the lane's first unacknowledged record,
// zero when there is none.
type LaneStats struct {
	Records, Items int
	Bytes          int64
	Oldest         time.Time
}

// Queue is a bounded, priority-laned FIFO of records. Its methods are safe
// for concurrent use.
type Queue struct {
	kind       Kind
	persistent bool // false for memory queues: no fsync, no cursor durability
	dir        string
	fs         FS
	lock       io.Closer
	log        *slog.Logger
	now        func() time.Time

	droppedFull, droppedExpired [NumLanes]prometheus.Counter
	droppedCorrupt              [NumLanes]prometheus.Counter
	corrupt                     prometheus.Counter
	ioErrors                    [numIOOps]prometheus.Counter
	capacity                    prometheus.Gauge

	warnLog rateLimit // for warn

	// syncMu serialises fsync rounds (group commit); it is taken before mu,
	// never after.
	syncMu    sync.Mutex
	syncedSeq uint64 // writeSeq covered by the last round (see syncLocked)

	syncErr     error // the last round's error; nil after a clean one (guarded by mu)
	fsyncErrors prometheus.Counter
	errLog      rateLimit // for fsync errors

	mu       sync.Mutex
	limits   Limits
	segSize  int64
	used     int64 // bytes of all segments, the quantity MaxBytes bounds
	lanes    [NumLanes]laneState
	writeSeq uint64     // appends so far
	dirty    []*segment // segments written since their last fsync
	closed   bool
	scanBuf  []byte        // reused while scanning segments; nil in between
	shut     bool          // files closed by Close
	wake     chan struct{} // closed and replaced when a record becomes readable

	closedCh  chan struct{} // closed by Close: ends Reads
	stop      chan struct{} // ends the background goroutine
	done      chan struct{} // closed when it has ended
	reconf    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

func unixNanos(n int64) time.Time { return time.Unix(0, n) }

// Open opens (creating if needed) the queue described by opts.
//
// A disk queue recovers whatever its directory holds: torn tails are cut,
// corrupt records skipped and counted, unreadable cursors replaced (which
// re-delivers records); segments that cannot be read because of an I/O
// error are kept and read later (see doc.go). Open fails only on I/O
// errors with the directories and cursor files (they cannot be created or
// read, permissions) and when the directory is locked (ErrLocked).
func Open(opts Options) (*Queue, error) {
	if opts.Kind == "" {
		opts.Kind = KindDisk
	}
	if opts.Kind != KindDisk && opts.Kind != KindMemory {
		return nil, fmt.Errorf("queue kind %q: want %q or %q", opts.Kind, KindDisk, KindMemory)
	}
	limits, err := opts.Limits.normalized(opts.Kind)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		kind:     opts.Kind,
		limits:   limits,
		segSize:  segmentSize(limits.MaxBytes),
		now:      opts.Now,
		wake:     make(chan struct{}),
		closedCh: make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		reconf:   make(chan struct{}, 1),
	}
	if q.now == nil {
		q.now = time.Now
	}
	switch q.kind {
	case KindMemory:
		q.fs, q.dir = newMemFS(), "/memory-queue"
	default:
		if opts.Dir == "" {
			return nil, errors.New("disk queue needs a directory")
		}
		q.persistent, q.fs, q.dir = true, opts.FS, opts.Dir
		if q.fs == nil {
			q.fs = OSFS{}
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q.log = logger.With("exporter", opts.Exporter, "queue_kind", string(q.kind), "queue_dir", opts.Dir)
	tel := opts.Telemetry
	if tel == nil {
		tel = selftelemetry.New()
	}
	q.corrupt = tel.QueueCorrupt.WithLabelValues(opts.Exporter)
	q.capacity = tel.QueueCapacity.WithLabelValues(opts.Exporter)
	for op := range q.ioErrors {
		q.ioErrors[op] = tel.QueueIOErrors.WithLabelValues(opts.Exporter, ioOpNames[op])
	}
	q.fsyncErrors = tel.QueueFsyncErrors.WithLabelValues(opts.Exporter)
	for i := range q.lanes {
		lane := Lane(i)
		l := &q.lanes[i]
		l.lane, l.dir = lane, filepath.Join(q.dir, lane.String())
		l.gauges = laneGauges{
			bytes:   tel.QueueBytes.WithLabelValues(opts.Exporter, lane.String()),
			records: tel.QueueRecords.WithLabelValues(opts.Exporter, lane.String()),
			items:   tel.QueueItems.WithLabelValues(opts.Exporter, lane.String()),
			age:     tel.QueueOldestAge.WithLabelValues(opts.Exporter, lane.String()),

			unreadable: tel.QueueUnreadable.WithLabelValues(opts.Exporter, lane.String()),
		}
		q.droppedFull[i] = tel.QueueDropped.WithLabelValues(opts.Exporter, lane.String(), "queue_full")
		q.droppedExpired[i] = tel.QueueDropped.WithLabelValues(opts.Exporter, lane.String(), "expired")
		q.droppedCorrupt[i] = tel.QueueDropped.WithLabelValues(opts.Exporter, lane.String(), "corrupt")
	}

	mkdir := q.fs.MkdirAll
	if q.persistent {
		mkdir = func(name string, _ fs.FileMode) error { return MkdirDurable(q.fs, name) }
	}
	if err := mkdir(q.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create queue directory %s: %w", q.dir, err)
	}
	q.lock, err = q.fs.Lock(filepath.Join(q.dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", q.dir, err)
	}
	if err := q.openLanes(); err != nil {
		q.closeFiles()
		q.lock.Close()
		return nil, err
	}
	q.capacity.Set(float64(limits.MaxBytes))
	for i := range q.lanes {
		q.publishLocked(&q.lanes[i])
	}
	q.publishAges()
	go q.run()
	return q, nil
}

func (q *Queue) openLanes() error {
	for i := range q.lanes {
		if err := q.fs.MkdirAll(q.lanes[i].dir, 0o755); err != nil {
			return fmt.Errorf("create queue lane directory %s: %w", q.lanes[i].dir, err)
		}
	}
	if q.persistent {
		// Make the lane directories durable before any segment in them
		// is; the parent of a new queue directory is best effort (it is
		// not the queue's).
		if err := q.fs.SyncDir(q.dir); err != nil {
			return fmt.Errorf("sync queue directory %s: %w", q.dir, err)
		}
		_ = q.fs.SyncDir(filepath.Dir(q.dir))
	}
	defer func() { q.scanBuf = nil }()
	for i := range q.lanes {
		if err := q.openLane(&q.lanes[i]); err != nil {
			return err
		}
	}
	if q.persistent {
		// Open fsyncs the segments a crashed process may not have; their
		// names (and the deletions, truncations and set-asides of
		// recovery) need the lane directories fsynced too.
		for i := range q.lanes {
			if err := q.fs.SyncDir(q.lanes[i].dir); err != nil {
				return fmt.Errorf("sync queue lane directory %s: %w", q.lanes[i].dir, err)
			}
		}
	}
	return nil
}

// Append stores rec. It returns once rec is written: under FsyncAlways
// fsynced, under FsyncInterval written to the OS (and fsynced within
// FsyncInterval), for memory queues held.
//
// When there is no room, under block it returns ErrFull at once; under
// drop_oldest it drops whole segments (the oldest first) of the least
// important lanes first — low, then normal, then high — counting their
// unread records' items in QueueDropped{reason="queue_full"}; a segment
// not yet scanned after an I/O error is never dropped (its items could not
// be counted; see "Bounds" in doc.go). A record
// never displaces a more important one: if room could only be made by
// dropping records of a lane more important than rec.Lane, rec itself is
// dropped, counted the same way under its own lane, and Append returns nil.
//
// It returns ErrTooLarge when rec alone (in a segment of its own) exceeds
// MaxBytes, ErrClosed after Close, and other errors for invalid records and
// I/O failures (the record may then still be delivered: at-least-once).
// Under FsyncAlways, if an fsync of rec's segment (or of its lane
// directory, for a new segment) fails, Append returns an error wrapping
// ErrSync, even if a later fsync succeeds: see "Durability" in doc.go.
//
// Append is AppendAll of one record.
func (q *Queue) Append(rec Record) error {
	return q.AppendAll([]Record{rec})
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledFrame keeps rare huge records from pinning memory in the pool.
const maxPooledFrame = 1 << 20

// Read blocks until a record is available and returns the oldest unread
// record of the most important non-empty lane; or ctx's error; or
// ErrClosed. Records older than MaxAge are dropped (counted, reason
// "expired") instead of returned. Concurrent Reads get different records.
// The returned Record's Body is the caller's.
func (q *Queue) Read(ctx context.Context) (*Delivery, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		d := q.nextLocked()
		wake := q.wake
		wait := q.retryWaitLocked()
		q.mu.Unlock()
		if d != nil {
			return d, nil
		}
		if err := q.waitRead(ctx, wake, wait); err != nil {
			return nil, err
		}
	}
}

// waitRead waits for wake to be closed, or for retry (if > 0: a lane that
// failed with an I/O error is tried again after its backoff, and no
// append wakes Read for it), or for ctx or Close.
func (q *Queue) waitRead(ctx context.Context, wake <-chan struct{}, retry time.Duration) error {
	var retryC <-chan time.Time
	if retry > 0 {
		t := time.NewTimer(retry)
		defer t.Stop()
		retryC = t.C
	}
	select {
	case <-wake:
	case <-retryC:
	case <-ctx.Done():
		return ctx.Err()
	case <-q.closedCh:
		return ErrClosed
	}
	return nil
}

// Ack marks d done for good: delivered, or dropped by the sender (which
// counts that). The lane's cursor advances over the contiguous prefix of
// acknowledged records and is written to the OS at once, so a kill -9
// re-delivers only records read but not acknowledged. Ack after Close, or a
// second Ack, does nothing.
func (q *Queue) Ack(d *Delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d.q != q || q.closed || d.state != deliveryInFlight {
		return
	}
	d.state = deliveryFinished
	l := &q.lanes[d.lane]
	i := l.windowIndexLocked(d)
	if i < 0 {
		return
	}
	q.doneLocked(l, i)
	q.advanceLocked(l)
	q.publishLocked(l)
}

// Nack returns d to the queue: it is the next record Read returns for its
// lane (records keep their order within a lane). If drop_oldest dropped the
// record while it was in flight, Nack counts its items as dropped
// (queue_full) instead.
func (q *Queue) Nack(d *Delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d.q != q || q.closed {
		return
	}
	switch d.state {
	case deliveryDropped:
		d.state = deliveryFinished
		q.droppedFull[d.lane].Add(float64(d.Record.Items))
		return
	case deliveryFinished:
		return
	}
	d.state = deliveryFinished
	l := &q.lanes[d.lane]
	i := l.windowIndexLocked(d)
	if i < 0 {
		return
	}
	l.window[i].state, l.window[i].d = entryUnread, nil
	q.wakeLocked()
}

// Reconfigure applies new limits. A smaller MaxBytes takes effect on the
// next Append; nothing is dropped eagerly.
func (q *Queue) Reconfigure(lim Limits) error {
	lim, err := lim.normalized(q.kind)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	q.limits = lim
	q.segSize = segmentSize(lim.MaxBytes)
	q.capacity.Set(float64(lim.MaxBytes))
	q.mu.Unlock()
	select {
	case q.reconf <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns the state of each lane.
func (q *Queue) Stats() [NumLanes]LaneStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	var s [NumLanes]LaneStats
	for i := range q.lanes {
		l := &q.lanes[i]
		s[i] = LaneStats{Records: l.records, Items: l.items, Bytes: l.bytes}
		if created, ok := l.oldestLocked(); ok {
			s[i].Oldest = unixNanos(created)
		}
	}
	return s
}

// Close fsyncs what was written, closes the files, releases the directory
// lock, ends every Read with ErrClosed and sets the queue's gauges to 0.
// Records not acknowledged stay on disk and are delivered again by the next
// Open; a memory queue's records are gone. Close is idempotent: later calls
// return the first call's result.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() { q.closeErr = q.close() })
	return q.closeErr
}

func (q *Queue) close() error {
	q.mu.Lock()
	q.closed = true
	close(q.closedCh)
	q.mu.Unlock()
	close(q.stop)
	<-q.done

	var errs []error
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if q.persistent {
		if err := q.syncLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	q.mu.Lock()
	if q.persistent {
		for i := range q.lanes {
			if f := q.lanes[i].cursorF; f != nil {
				// Not needed for correctness (a lost cursor re-delivers),
				// but a clean shutdown should not re-deliver.
				if err := f.Sync(); err != nil {
					errs = append(errs, fmt.Errorf("fsync queue cursor of lane %s: %w", q.lanes[i].lane, err))
				}
			}
		}
	}
	q.closeFiles()
	q.shut = true
	q.capacity.Set(0)
	for i := range q.lanes {
		g := q.lanes[i].gauges
		g.bytes.Set(0)
		g.records.Set(0)
		g.items.Set(0)
		g.age.Set(0)
		g.unreadable.Set(0)
	}
	q.mu.Unlock()
	if err := q.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("unlock queue directory: %w", err))
	}
	return errors.Join(errs...)
}

// closeFiles closes every open file but the lock.
func (q *Queue) closeFiles() {
	for i := range q.lanes {
		l := &q.lanes[i]
		for _, s := range l.segs {
			if s.f != nil {
				s.f.Close()
				s.f = nil
			}
		}
		if l.cursorF != nil {
			l.cursorF.Close()
			l.cursorF = nil
		}
	}
}

// wakeLocked wakes the Reads waiting for a record.
func (q *Queue) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// warn logs at most one line per logInterval; the lines in between are
// counted in the next one.
func (q *Queue) warn(msg string, args ...any) {
	q.warnLog.log(q.log, slog.LevelWarn, msg, args...)
}

const logInterval = 10 * time.Second

// run is the queue's one background goroutine: the age gauges every
// second, and the periodic fsync under FsyncInterval.
func (q *Queue) run() {
	defer close(q.done)
	ages := time.NewTicker(time.Second)
	defer ages.Stop()
	var syncT *time.Ticker
	var syncC <-chan time.Time
	resetSync := func() {
		if syncT != nil {
			syncT.Stop()
			syncT, syncC = nil, nil
		}
		q.mu.Lock()
		on, every := q.persistent && q.limits.Fsync == FsyncInterval, q.limits.FsyncInterval
		q.mu.Unlock()
		if on {
			syncT = time.NewTicker(every)
			syncC = syncT.C
		}
	}
	resetSync()
	defer func() {
		if syncT != nil {
			syncT.Stop()
		}
	}()
	for {
		select {
		case <-q.stop:
			return
		case <-ages.C:
			q.publishAges()
		case <-q.reconf:
			resetSync()
		case <-syncC:
			q.periodicSync()
		}
	}
}

// publishLocked sets l's gauges.
func (q *Queue) publishLocked(l *laneState) {
	l.gauges.bytes.Set(float64(l.bytes))
	l.gauges.records.Set(float64(l.records))
	l.gauges.items.Set(float64(l.items))
	l.gauges.unreadable.Set(float64(l.unknownBytes))
}

// publishAges sets the oldest-age gauges.
func (q *Queue) publishAges() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	now := q.now()
	for i := range q.lanes {
		l := &q.lanes[i]
		age := 0.0
		if created, ok := l.oldestLocked(); ok {
			age = max(0, now.Sub(unixNanos(created)).Seconds())
		}
		l.gauges.age.Set(age)
	}
}

// syncTo returns once the appends up to seq are fsynced, sharing fsyncs
// between concurrent callers (group commit): whoever gets syncMu syncs
// everything written so far, and the callers it covered return at once.
// writes are where the caller's records went: if an fsync of one of their
// segments failed, in this round or any earlier one, or none covered the
// record, the caller's records are not known durable and it gets ErrSync. A later successful fsync
// never vouches for writes made before a failed one (after a writeback
// error Linux marks the pages clean; the next fsync succeeds without
// writing them).
func (q *Queue) syncTo(seq uint64, writes []segWrite) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if q.syncedSeq < seq {
		if err := q.syncLocked(); err != nil && q.syncedSeq < seq {
			return err // no round ran (closed)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, w := range writes {
		s := w.seg
		switch {
		case s.removed && !s.bad:
			// Retired, so every record of it was delivered, or dropped
			// and counted, before or after the fsync: durable or not, the
			// record is accounted for.
		case s.syncErr != nil:
			return fmt.Errorf("%w: %w", ErrSync, s.syncErr)
		case s.removed || s.syncedSize < w.end || s.newEntry:
			// Retired with a record that could not be read (done but not
			// delivered), before an fsync covered this one: nothing
			// proves it durable.
			return fmt.Errorf("%w: segment %d of lane %s was deleted before it was fsynced", ErrSync, s.num, s.lane.lane)
		}
	}
	return nil
}

// segWrite is where an append wrote: its segment, and the end of its
// record in it. The append is durable once a good fsync covered end and
// the segment's name is durable (not newEntry).
type segWrite struct {
	seg *segment
	end int64
}

// syncLocked runs one fsync round: it fsyncs the segments written since
// their last fsync, and the lane directories that got new segments. q.syncMu
// must be held; q.mu must not: the fsyncs run without it so that appends
// and reads go on meanwhile.
//
// A round resolves every append written before it started (syncedSeq):
// their records are durable unless their segment's fsync, or the fsync of
// the directory holding a new segment, failed. Such a segment is marked
// (segment.syncErr, for syncTo), sealed, counted in
// outpost_queue_fsync_errors_total and not fsynced again: appends go on in
// a new segment. The round's error is kept for SyncError until a round
// that fsyncs something succeeds.
func (q *Queue) syncLocked() error {
	q.mu.Lock()
	if q.shut {
		unsynced := q.syncedSeq < q.writeSeq
		q.mu.Unlock()
		if unsynced {
			return fmt.Errorf("fsync queue: %w before the record was synced", ErrClosed)
		}
		return nil
	}
	target := q.writeSeq
	segs := q.dirty
	q.dirty = nil
	files := make([]File, len(segs))
	sizes := make([]int64, len(segs))
	for i, s := range segs {
		sizes[i] = s.size
		s.dirty = false
		if !s.removed && s.f != nil {
			s.syncing++
			files[i] = s.f
		}
	}
	var dirs []*laneState
	var dirSegs [][]*segment // per dirs[i]: the new segments its fsync makes durable
	for i := range q.lanes {
		l := &q.lanes[i]
		if l.dirDirty {
			l.dirDirty = false
			dirs = append(dirs, l)
			var news []*segment
			for _, s := range l.segs {
				if s.newEntry {
					news = append(news, s)
				}
			}
			dirSegs = append(dirSegs, news)
		}
	}
	q.mu.Unlock()

	errs := make([]error, len(segs))
	for i, f := range files {
		if f != nil {
			errs[i] = f.Sync()
		}
	}
	dirErrs := make([]error, len(dirs))
	for i, l := range dirs {
		dirErrs[i] = q.fs.SyncDir(l.dir)
	}

	q.mu.Lock()
	var failed []error
	for i, s := range segs {
		if files[i] == nil {
			continue
		}
		s.syncing--
		switch {
		case errs[i] == nil:
			s.syncedSize = max(s.syncedSize, sizes[i])
		case s.removed && errors.Is(errs[i], os.ErrClosed):
			// Retired meanwhile: retireLocked closed the handle under
			// us. Not a disk error; syncTo decides what the appends it
			// covered get.
		default:
			err := fmt.Errorf("fsync queue segment %d of lane %s: %w", s.num, s.lane.lane, errs[i])
			failed = append(failed, err)
			q.fsyncErrors.Inc()
			q.syncFailedLocked(s, err)
		}
		q.releaseLocked(s)
	}
	for i, l := range dirs {
		if dirErrs[i] == nil {
			for _, s := range dirSegs[i] {
				s.newEntry = false
			}
			continue
		}
		err := fmt.Errorf("fsync queue lane directory %s: %w", l.dir, dirErrs[i])
		failed = append(failed, err)
		q.fsyncErrors.Inc()
		l.dirDirty = true // try again next round, for the segments made since
		for _, s := range dirSegs[i] {
			q.syncFailedLocked(s, err)
		}
	}
	err := errors.Join(failed...)
	q.syncedSeq = target
	if len(segs) > 0 || len(dirs) > 0 {
		// A round with nothing to do proves nothing about the disk.
		q.syncErr = err
	}
	q.mu.Unlock()
	return err
}

// syncFailedLocked marks seg as not known durable after a failed fsync
// (its own or its directory's) and seals it: its records written since its
// last good fsync fail their Appends (syncTo), and appends go on in a new
// segment. Its records stay readable and are delivered (they are intact in
// the page cache: a failed Append's record may so arrive twice, never
// zero times). It is not fsynced again, since a later fsync that succeeds
// proves nothing about the pages the failed one dropped.
func (q *Queue) syncFailedLocked(seg *segment, err error) {
	if seg.syncErr == nil {
		seg.syncErr = err
	}
	if seg.dirty {
		seg.dirty = false
		if i := slices.Index(q.dirty, seg); i >= 0 {
			q.dirty = slices.Delete(q.dirty, i, i+1)
		}
	}
	if l := seg.lane; l.active == seg {
		q.sealLocked(l)
	}
}

// openFlagsNew are the flags of a new segment: it must not exist yet.
const openFlagsNew = os.O_RDWR | os.O_CREATE | os.O_EXCL
