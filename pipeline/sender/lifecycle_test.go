package sender

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-edge/outpost/internal/selftelemetry"
	"github.com/outpost-edge/outpost/pipeline"
	"github.com/outpost-edge/outpost/pipeline/lanes"
	"github.com/outpost-edge/outpost/pipeline/queue"
)

// fakeTransport records its calls, and in what state the Output was at
// each: the Transport must be ready before the Output's senders start, and
// closed only once they are done.
type fakeTransport struct {
	mu        sync.Mutex
	out       *Output // set once the Lifecycle is made
	startErrs []error // returned by successive Starts; nil once used up
	closeErr  error
	events    []string
}

func (f *fakeTransport) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "start:"+outputState(f.out))
	if len(f.startErrs) == 0 {
		return nil
	}
	err := f.startErrs[0]
	f.startErrs = f.startErrs[1:]
	return err
}

func (f *fakeTransport) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, "close:"+outputState(f.out))
	return f.closeErr
}

func (f *fakeTransport) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

// outputState is "stopped", "started" or "idle" (neither).
func outputState(o *Output) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.stopped:
		return "stopped"
	case o.started:
		return "started"
	}
	return "idle"
}

// exporterOutput is the part of OutputSettings an exporter sets, with q
// and a SendFunc that delivers everything.
func exporterOutput(q QueueConfig) OutputSettings {
	return OutputSettings{Queue: q, Retry: DefaultRetryConfig(), Send: func(context.Context, Request) error { return nil }}
}

func lifecycleSettings(t *testing.T) pipeline.Settings {
	return pipeline.Settings{
		ID:         pipeline.MustID("otlp/edge"),
		Telemetry:  selftelemetry.New(),
		StorageDir: t.TempDir(),
		Queues:     &queue.Registry{},
	}
}

func TestLifecycleStates(t *testing.T) {
	errDial := errors.New("dial refused")
	errClose := errors.New("close failed")
	type step struct {
		op      string // start or shutdown
		wantErr string // a part of the error text; "" for none
		wantIs  error  // an error it must wrap, if set
	}
	cases := []struct {
		name       string
		startErrs  []error
		closeErr   error
		outputFail bool // the Output cannot open its queue
		steps      []step
		wantEvents []string
	}{
		{
			name:       "start then shutdown",
			steps:      []step{{op: "start"}, {op: "shutdown"}},
			wantEvents: []string{"start:idle", "close:stopped"},
		},
		{
			name:       "start twice",
			steps:      []step{{op: "start"}, {op: "start"}, {op: "shutdown"}},
			wantEvents: []string{"start:idle", "close:stopped"},
		},
		{
			name:       "shutdown twice",
			steps:      []step{{op: "start"}, {op: "shutdown"}, {op: "shutdown"}},
			wantEvents: []string{"start:idle", "close:stopped"},
		},
		{
			name: "start after shutdown",
			steps: []step{{op: "start"}, {op: "shutdown"},
				{op: "start", wantErr: "exporter otlp/edge: start after shutdown"}},
			wantEvents: []string{"start:idle", "close:stopped"},
		},
		{
			name: "shutdown before start",
			steps: []step{{op: "shutdown"}, {op: "shutdown"},
				{op: "start", wantErr: "exporter otlp/edge: start after shutdown"}},
			wantEvents: nil,
		},
		{
			name:      "transport start fails",
			startErrs: []error{errDial},
			steps: []step{{op: "start", wantErr: "exporter otlp/edge: dial refused", wantIs: errDial},
				{op: "shutdown"}},
			wantEvents: []string{"start:idle"},
		},
		{
			name:      "transport start fails, then a retry starts",
			startErrs: []error{errDial},
			steps: []step{{op: "start", wantIs: errDial}, {op: "start"},
				{op: "shutdown"}},
			wantEvents: []string{"start:idle", "start:idle", "close:stopped"},
		},
		{
			name:       "output start fails closes the transport",
			outputFail: true,
			steps: []step{{op: "start", wantErr: "exporter otlp/edge: queue: "},
				{op: "shutdown"}, {op: "start", wantErr: "start after shutdown"}},
			wantEvents: []string{"start:idle", "close:idle"},
		},
		{
			name:       "output start fails and so does the close",
			outputFail: true,
			closeErr:   errClose,
			steps: []step{{op: "start", wantErr: "exporter otlp/edge: queue: ", wantIs: errClose},
				{op: "shutdown"}},
			wantEvents: []string{"start:idle", "close:idle"},
		},
		{
			name:       "transport close fails at shutdown",
			closeErr:   errClose,
			steps:      []step{{op: "start"}, {op: "shutdown", wantErr: "exporter otlp/edge: close failed", wantIs: errClose}, {op: "shutdown"}},
			wantEvents: []string{"start:idle", "close:stopped"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := lifecycleSettings(t)
			if c.outputFail {
				// A file where the queue's directory should be.
				file := filepath.Join(set.StorageDir, "file")
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				set.StorageDir = filepath.Join(file, "queue")
			}
			tr := &fakeTransport{startErrs: c.startErrs, closeErr: c.closeErr}
			l, err := NewLifecycle(set, LifecycleSettings{
				Transport: tr,
				Output:    exporterOutput(DefaultQueueConfig()),
			})
			if err != nil {
				t.Fatal(err)
			}
			tr.out = l.Output()
			for i, s := range c.steps {
				switch s.op {
				case "start":
					err = l.Start()
				case "shutdown":
					err = l.Shutdown(context.Background())
				default:
					t.Fatalf("unknown op %q", s.op)
				}
				switch {
				case s.wantErr == "" && s.wantIs == nil && err != nil:
					t.Errorf("step %d (%s): %v", i, s.op, err)
				case (s.wantErr != "" || s.wantIs != nil) && err == nil:
					t.Errorf("step %d (%s): no error; want %q", i, s.op, s.wantErr)
				case err != nil && !strings.Contains(err.Error(), s.wantErr):
					t.Errorf("step %d (%s): %v; want an error with %q", i, s.op, err, s.wantErr)
				case s.wantIs != nil && !errors.Is(err, s.wantIs):
					t.Errorf("step %d (%s): %v does not wrap %v", i, s.op, err, s.wantIs)
				}
			}
			if got := tr.recorded(); strings.Join(got, " ") != strings.Join(c.wantEvents, " ") {
				t.Errorf("transport calls %q; want %q", got, c.wantEvents)
			}
			// Whatever happened, the queue is let go: another Output
			// may open it.
			l.Shutdown(context.Background())
			if !c.outputFail {
				assertQueueFree(t, set)
			}
		})
	}
}

// assertQueueFree opens and closes the disk queue of set again.
func assertQueueFree(t *testing.T, set pipeline.Settings) {
	t.Helper()
	oset := exporterOutput(DefaultQueueConfig())
	oset.Exporter, oset.Dir = set.ID.String(), set.StorageDir
	o, err := NewOutput(oset)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Errorf("the queue is still held after Shutdown: %v", err)
	}
	if err := o.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestLifecycleStartShutdownRace runs Start and Shutdown at once: whichever
// wins, the transport is closed if and only if it was started.
func TestLifecycleStartShutdownRace(t *testing.T) {
	for range 20 {
		tr := &fakeTransport{}
		l, err := NewLifecycle(lifecycleSettings(t), LifecycleSettings{
			Transport: tr,
			Output:    exporterOutput(DefaultQueueConfig()),
		})
		if err != nil {
			t.Fatal(err)
		}
		tr.out = l.Output()
		var wg sync.WaitGroup
		var startErr error
		wg.Go(func() { startErr = l.Start() })
		wg.Go(func() {
			if err := l.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		want := "start:idle close:stopped"
		if startErr != nil {
			want = "" // Shutdown came first
		}
		if got := strings.Join(tr.recorded(), " "); got != want {
			t.Fatalf("start error %v; transport calls %q, want %q", startErr, got, want)
		}
	}
}

func TestNewLifecycle(t *testing.T) {
	badPriority := lanes.Config{Default: "urgent"}
	noQueue := DefaultQueueConfig()
	noQueue.Enabled = false
	badQueue := DefaultQueueConfig()
	badQueue.Consumers = 0
	cases := []struct {
		name      string
		ls        LifecycleSettings
		wantErr   string
		wantLanes bool
	}{
		{name: "queue", ls: LifecycleSettings{Transport: &fakeTransport{}, Output: exporterOutput(DefaultQueueConfig())}, wantLanes: true},
		{name: "no queue", ls: LifecycleSettings{Transport: &fakeTransport{}, Output: exporterOutput(noQueue)}},
		{name: "priority unused without a queue", ls: LifecycleSettings{Transport: &fakeTransport{}, Priority: badPriority, Output: exporterOutput(noQueue)}},
		{name: "bad priority", ls: LifecycleSettings{Transport: &fakeTransport{}, Priority: badPriority, Output: exporterOutput(DefaultQueueConfig())}, wantErr: "priority: "},
		{name: "bad queue", ls: LifecycleSettings{Transport: &fakeTransport{}, Output: exporterOutput(badQueue)}, wantErr: "queue: consumers: must be between 1 and 64"},
		{name: "no transport", ls: LifecycleSettings{Output: exporterOutput(DefaultQueueConfig())}, wantErr: "no transport"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := lifecycleSettings(t)
			l, err := NewLifecycle(set, c.ls)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v; want one with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Shutdown(context.Background())
			if (l.Lanes() != nil) != c.wantLanes {
				t.Errorf("Lanes() = %v; want one: %v", l.Lanes(), c.wantLanes)
			}
			// The Output takes what pipeline.Settings gives.
			got := l.Output().set
			if got.Exporter != "otlp/edge" || got.Telemetry != set.Telemetry || got.Dir != set.StorageDir || got.Registry != set.Queues {
				t.Errorf("output settings %+v; want exporter otlp/edge and the pipeline settings' telemetry, directory and registry", got)
			}
			if got.Queue.Enabled != c.ls.Output.Queue.Enabled || got.Send == nil {
				t.Errorf("output settings %+v; want the exporter's queue and send", got)
			}
		})
	}
}
