package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
)

// Transport is the connection an exporter sends through, apart from the
// SendFunc that uses it: Start makes it ready (an HTTP client; a gRPC
// client connection, which dials at the first call) and Close releases it.
// A Lifecycle calls Close only after a Start that succeeded, and at most
// once for each.
type Transport interface {
	Start() error
	Close() error
}

// LifecycleSettings are what an exporter gives NewLifecycle besides its
// pipeline.Settings.
type LifecycleSettings struct {
	// Transport is started before the Output (whose senders may send at
	// once) and closed after it (once no sender uses it). Required.
	Transport Transport
	// Priority is the exporter's `priority` section. With a queue, Lanes
	// splits batches by it; without one everything goes in the default
	// lane and Priority is not used (nor checked).
	Priority lanes.Config
	// Output configures the Output. Its fields that pipeline.Settings
	// gives are set from it: Exporter (the ID), Logger, Telemetry, Dir
	// (StorageDir), Registry (Queues), Memory and Uplink. The exporter
	// sets the others: Queue, Retry, Timeout, Send, Split.
	Output OutputSettings
}

// Lifecycle is what every exporter that sends through an Output shares:
// the Output, the lane classifier of its queue, the Transport, and the
// Start/Shutdown state machine over them. An exporter holds one and
// implements pipeline.Component's Start and Shutdown with it.
//
// States: new -> started -> stopped, or new -> stopped. Start in state new
// starts the Transport, then the Output; if the Output fails to start the
// Transport is closed again and the Lifecycle stays new, so that Start may
// be tried again. Start when started does nothing; Start when stopped is an
// error. Shutdown is idempotent: the first call shuts the Output down
// (started or not: it also releases the uplink budget's client), then
// closes the Transport if Start had succeeded. Errors from Start and
// Shutdown are wrapped with "exporter <ID>: ".
type Lifecycle struct {
	id    string
	tr    Transport
	out   *Output
	lanes *lanes.Classifier // nil without a queue

	mu    sync.Mutex // guards state, and orders Start and Shutdown
	state lifecycleState
}

type lifecycleState int

const (
	lifecycleNew lifecycleState = iota
	lifecycleStarted
	lifecycleStopped
)

// NewLifecycle checks ls and makes the Output and the lane classifier. It
// starts nothing; errors are the Output's (NewOutput) or the priority
// section's, prefixed "priority: ".
func NewLifecycle(set pipeline.Settings, ls LifecycleSettings) (*Lifecycle, error) {
	if ls.Transport == nil {
		return nil, errors.New("exporter lifecycle: no transport")
	}
	l := &Lifecycle{id: set.ID.String(), tr: ls.Transport}
	if ls.Output.Queue.Enabled {
		cl, err := lanes.New(ls.Priority)
		if err != nil {
			return nil, fmt.Errorf("priority: %w", err)
		}
		l.lanes = cl
	}
	oset := ls.Output
	oset.Exporter = l.id
	oset.Logger = set.Logger
	oset.Telemetry = set.Telemetry
	oset.Dir = set.StorageDir
	oset.Registry = set.Queues
	oset.Memory = set.Memory
	oset.Uplink = set.Uplink
	out, err := NewOutput(oset)
	if err != nil {
		return nil, err
	}
	l.out = out
	return l, nil
}

// Output is where the exporter puts its Requests.
func (l *Lifecycle) Output() *Output { return l.out }

// Lanes is the classifier that splits a batch by priority lane, or nil
// without a queue (everything then goes in queue.LaneNormal).
func (l *Lifecycle) Lanes() *lanes.Classifier { return l.lanes }

// Start starts the Transport, then the Output (which opens the queue and
// starts the senders). See Lifecycle for the states.
func (l *Lifecycle) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case lifecycleStarted:
		return nil
	case lifecycleStopped:
		return fmt.Errorf("exporter %s: start after shutdown", l.id)
	}
	if err := l.tr.Start(); err != nil {
		return fmt.Errorf("exporter %s: %w", l.id, err)
	}
	if err := l.out.Start(); err != nil {
		return fmt.Errorf("exporter %s: %w", l.id, errors.Join(err, l.tr.Close()))
	}
	l.state = lifecycleStarted
	return nil
}

// Shutdown shuts the Output down (see Output.Shutdown: what ctx's deadline
// bounds, and what becomes of queued records), then closes the Transport
// if it was started. See Lifecycle for the states.
func (l *Lifecycle) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == lifecycleStopped {
		return nil
	}
	started := l.state == lifecycleStarted
	l.state = lifecycleStopped
	err := l.out.Shutdown(ctx)
	if started {
		err = errors.Join(err, l.tr.Close())
	}
	if err != nil {
		return fmt.Errorf("exporter %s: %w", l.id, err)
	}
	return nil
}
