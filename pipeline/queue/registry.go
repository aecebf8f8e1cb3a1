package queue

import (
	"errors"
	"path/filepath"
	"sync"
)

// Registry shares open disk queues by directory within one process. During
// a config reload the new exporter instance and the old one are alive at
// the same time; through a Registry they use the same *Queue, so records are
// neither locked out (flock) nor delivered twice.
//
// The zero Registry is ready to use. It is safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	queues map[string]*sharedQueue
}

type sharedQueue struct {
	q    *Queue
	refs int
}

// Acquire opens the queue opts describes or, if a queue for opts.Dir is
// already open, applies opts.Limits to it (Reconfigure) and returns it; the
// other options of the first Acquire stay in force. release drops the
// reference; the last release closes the queue and returns Close's error.
// Calling release more than once has no further effect.
//
// Memory queues are never shared: each Acquire opens a new one.
func (r *Registry) Acquire(opts Options) (q *Queue, release func() error, err error) {
	if opts.Kind == KindMemory {
		q, err := Open(opts)
		if err != nil {
			return nil, nil, err
		}
		return q, onceFunc(q.Close), nil
	}
	key := filepath.Clean(opts.Dir)
	if abs, err := filepath.Abs(key); err == nil {
		key = abs
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.queues[key]; s != nil {
		if err := s.q.Reconfigure(opts.Limits); err != nil {
			return nil, nil, err
		}
		s.refs++
		return s.q, onceFunc(func() error { return r.release(key, s) }), nil
	}
	q, err = Open(opts)
	if err != nil {
		return nil, nil, err
	}
	if r.queues == nil {
		r.queues = make(map[string]*sharedQueue)
	}
	s := &sharedQueue{q: q, refs: 1}
	r.queues[key] = s
	return q, onceFunc(func() error { return r.release(key, s) }), nil
}

func (r *Registry) release(key string, s *sharedQueue) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.refs--
	if s.refs > 0 {
		return nil
	}
	delete(r.queues, key)
	// Closed under r.mu, so that an Acquire of the same directory waits
	// for the lock to be free instead of failing on it.
	return s.q.Close()
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

// onceFunc returns a function that calls f the first time only.
func onceFunc(f func() error) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = f() })
		return err
	}
}
