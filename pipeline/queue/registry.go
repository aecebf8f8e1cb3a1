package queue

import (
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Registry shares open queues within one process. During a config reload
// the new exporter instance and the old one are alive at the same time;
// through a Registry they use the same *Queue, so records are neither
// locked out (flock) nor delivered twice, and a memory queue's records and
// its memory reservation pass to the new instance instead of dying with
// the old one.
//
// Disk queues are shared by directory. Memory queues are shared by
// exporter ID (Options.Exporter): only an exporter of the same ID with a
// memory queue takes one over; a memory queue of an empty exporter ID is
// never shared.
//
// Limits change in two steps, so that a reload whose new graph fails to
// start leaves the running queues exactly as they were: an Acquire of a
// queue that is already open only stages its Options.Limits (and grows a
// memory queue's reservation, if they need more); Commit applies what is
// staged, Discard drops it. Releasing the Lease that staged limits
// discards them too.
//
// The zero Registry is ready to use. It is safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	queues map[string]*sharedQueue
}

type sharedQueue struct {
	q      *Queue
	refs   int
	limits Limits        // in force, normalized
	staged *stagedLimits // applied by Commit
	hold   Reservation   // memory queues: their share of memory_limit; may be nil
	// exporter is Options.Exporter of the first Lease (see Backlog).
	exporter string
}

type stagedLimits struct {
	limits Limits
	by     *Lease // the lease whose Acquire staged them
	grown  bool   // hold was resized for them (Discard shrinks it back)
}

// Reservation is memory set aside, outside the queue, for as long as a
// memory queue is open: its max_bytes out of memory_limit
// (*memlimit.Reservation implements it).
type Reservation interface {
	// Resize makes the reservation n bytes; growing may fail.
	Resize(n int64) error
	// Bytes returns the bytes reserved.
	Bytes() int64
	// Release gives the bytes back.
	Release()
}

// ReserveFunc reserves n bytes for a memory queue, or says why it cannot.
type ReserveFunc func(n int64) (Reservation, error)

// Lease is one holder's reference to a queue of a Registry.
type Lease struct {
	r    *Registry
	key  string // "" for a private queue
	s    *sharedQueue
	once sync.Once
	err  error
}

// Acquire is Lease without a memory reservation: it returns the queue and
// a function that releases the lease.
func (r *Registry) Acquire(opts Options) (q *Queue, release func() error, err error) {
	l, err := r.Lease(opts, nil)
	if err != nil {
		return nil, nil, err
	}
	return l.Queue(), l.Release, nil
}

// Lease opens the queue opts describes or, if one for the same directory
// (disk) or exporter ID (memory) is open, returns a new lease on it and
// stages opts.Limits for Commit, in place of limits an earlier Lease staged;
// the other options of the first Lease stay in force. For a memory queue,
// reserve (nil: no reservation) sets its MaxBytes aside when the queue is
// opened, and grows that reservation when staged limits need more; an
// error from it fails the Lease, and the limits in force and the queue's
// reservation stay as they were. The last Release closes the queue and
// releases its reservation.
func (r *Registry) Lease(opts Options, reserve ReserveFunc) (*Lease, error) {
	key, shared := registryKey(opts)
	if !shared {
		s, err := openShared(opts, reserve)
		if err != nil {
			return nil, err
		}
		return &Lease{r: r, s: s}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.queues[key]; s != nil {
		lim, err := opts.Limits.normalized(s.q.kind)
		if err != nil {
			return nil, err
		}
		l := &Lease{r: r, key: key, s: s}
		s.discardLocked()
		if lim != s.limits {
			st := &stagedLimits{limits: lim, by: l}
			if s.hold != nil && lim.MaxBytes > s.hold.Bytes() {
				if err := s.hold.Resize(lim.MaxBytes); err != nil {
					return nil, err
				}
				st.grown = true
			}
			s.staged = st
		}
		s.refs++
		return l, nil
	}
	s, err := openShared(opts, reserve)
	if err != nil {
		return nil, err
	}
	if r.queues == nil {
		r.queues = make(map[string]*sharedQueue)
	}
	r.queues[key] = s
	return &Lease{r: r, key: key, s: s}, nil
}

// The prefixes of registry keys: a directory and an exporter ID never
// collide.
const (
	diskKeyPrefix   = "disk\x00"
	memoryKeyPrefix = "memory\x00"
)

// registryKey is the key a queue is shared under, and whether it is shared.
func registryKey(opts Options) (string, bool) {
	if opts.Kind == KindMemory {
		if opts.Exporter == "" {
			return "", false
		}
		return memoryKeyPrefix + opts.Exporter, true
	}
	key := filepath.Clean(opts.Dir)
	if abs, err := filepath.Abs(key); err == nil {
		key = abs
	}
	return diskKeyPrefix + key, true
}

func openShared(opts Options, reserve ReserveFunc) (*sharedQueue, error) {
	kind := opts.Kind
	if kind == "" {
		kind = KindDisk
	}
	lim, err := opts.Limits.normalized(kind)
	if err != nil {
		return nil, err
	}
	var hold Reservation
	if kind == KindMemory && reserve != nil {
		if hold, err = reserve(lim.MaxBytes); err != nil {
			return nil, err
		}
	}
	q, err := Open(opts)
	if err != nil {
		if hold != nil {
			hold.Release()
		}
		return nil, err
	}
	return &sharedQueue{q: q, refs: 1, limits: lim, hold: hold, exporter: opts.Exporter}, nil
}

// Queue returns the leased queue.
func (l *Lease) Queue() *Queue { return l.s.q }

// Shared reports whether another lease holds the queue too: a memory
// queue that is shared is handed over, not drained, when this holder
// stops.
func (l *Lease) Shared() bool {
	if l.key == "" {
		return false
	}
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	return l.s.refs > 1
}

// Release drops the lease, and the limits it staged; the last release
// closes the queue, releases its reservation and returns Close's error.
// Calling Release more than once has no further effect.
func (l *Lease) Release() error {
	l.once.Do(func() { l.err = l.release() })
	return l.err
}

func (l *Lease) release() error {
	s := l.s
	if l.key == "" {
		return s.close()
	}
	r := l.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.staged != nil && s.staged.by == l {
		s.discardLocked()
	}
	s.refs--
	if s.refs > 0 {
		return nil
	}
	delete(r.queues, l.key)
	// Closed under r.mu, so that an Acquire of the same directory waits
	// for the lock to be free instead of failing on it.
	return s.close()
}

func (s *sharedQueue) close() error {
	err := s.q.Close()
	if s.hold != nil {
		s.hold.Release()
	}
	return err
}

// discardLocked drops s's staged limits and gives back what they grew.
func (s *sharedQueue) discardLocked() {
	if s.staged == nil {
		return
	}
	if s.staged.grown {
		_ = s.hold.Resize(s.limits.MaxBytes) // shrinking cannot fail
	}
	s.staged = nil
}

// Commit applies the staged limits of every open queue: a reload calls it
// once its new graph has fully started. A memory queue's reservation
// shrinks with a smaller MaxBytes.
func (r *Registry) Commit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, s := range r.queues {
		st := s.staged
		if st == nil {
			continue
		}
		s.staged = nil
		if err := s.q.Reconfigure(st.limits); err != nil {
			if st.grown {
				_ = s.hold.Resize(s.limits.MaxBytes)
			}
			errs = append(errs, err)
			continue
		}
		s.limits = st.limits
		if s.hold != nil && s.hold.Bytes() > st.limits.MaxBytes {
			_ = s.hold.Resize(st.limits.MaxBytes)
		}
	}
	return errors.Join(errs...)
}

// Discard drops the staged limits of every open queue: a reload calls it
// when its new graph fails to start.
func (r *Registry) Discard() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.queues {
		s.discardLocked()
	}
}

// Dirs returns the directories of the open disk queues, absolute.
func (r *Registry) Dirs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dirs []string
	for key := range r.queues {
		if dir, ok := strings.CutPrefix(key, diskKeyPrefix); ok {
			dirs = append(dirs, dir)
		}
	}
	sort.Strings(dirs)
	return dirs
}

// Limits returns the limits in force.
func (q *Queue) Limits() Limits {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limits
}

// DiskQueue returns the open disk queue of dir, or nil if there is none.
func (r *Registry) DiskQueue(dir string) *Queue {
	key, _ := registryKey(Options{Dir: dir})
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.queues[key]; s != nil {
		return s.q
	}
	return nil
}

// SyncError returns the fsync errors of the queues the registry holds
// open (see Queue.SyncError), joined, or nil. The telemetry server's
// /readyz answers 503 while it is not nil.
func (r *Registry) SyncError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, s := range r.queues {
		if err := s.q.SyncError(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
